"""`python -m indexer`: the indexer's command line."""

import sys

from indexer.cli import main

if __name__ == "__main__":  # worker processes re-import this module under another name
    sys.exit(main())
