"""`python -m indexer`: the indexer's command line."""

import sys

from indexer.cli import main

sys.exit(main())
