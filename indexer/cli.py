"""The command line: build, sync, watch, search and status (python -m indexer ...)."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import sys

from indexer.config import load_settings
from indexer.errors import ArchiveError
from indexer.status import status_report


def describe_os_error(exc: OSError, settings) -> str:
    """One line for an operating-system error met while indexing (a full disk, a read-only folder)."""
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        index = f" for the index in {settings.index.dir}" if settings is not None else ""
        return (f"no space left on the device{index}{where}: free some space and run the command again "
                f"(documents indexed before are kept and still searchable)")
    return f"{exc.strerror or exc}{where}"


def _print_result(result, as_json: bool) -> None:
    counts = {s: result.count(s) for s in ("indexed", "duplicate", "unchanged", "deleted", "failed")}
    if as_json:
        print(json.dumps({"ok": True, "documents": result.documents, "seconds": round(result.seconds, 3),
                          "committed": result.committed, **counts}, ensure_ascii=False))
        return
    print(f"{result.documents} documents in the index; " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
          + f" ({result.seconds:.1f} s)" + ("" if result.committed else "; nothing changed"))
    for receipt in result.receipts:
        if receipt.status == "failed":
            print(f"  failed: {receipt.path}: {receipt.reason}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m indexer`."""
    parser = argparse.ArgumentParser(prog="python -m indexer", description="Report Archive indexer")
    parser.add_argument("--config", help="config file (default: $ARCHIVE_CONFIG or config.toml)")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="rebuild the whole index into a new generation and swap it in")
    sync = commands.add_parser("sync", help="add new, re-index changed and drop deleted files")
    for sub in (build, sync):
        sub.add_argument("--json", action="store_true", help="print a JSON summary")
    sync.add_argument("--allow-deletions", action="store_true",
                      help="delete the documents of files that vanished even when most of the archive did")
    commands.add_parser("watch", help="sync, then keep the index in line with the folder until interrupted")
    search = commands.add_parser("search", help="search the index (the same search as the API)")
    search.add_argument("query")
    search.add_argument("--json", action="store_true", help="print the API's JSON")
    search.add_argument("--size", type=int, default=None)
    search.add_argument("--page", type=int, default=None)
    search.add_argument("--sort", default=None)
    status = commands.add_parser("status", help="documents, generation, last sync and failed files")
    status.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = None
    try:
        settings = load_settings(args.config)
        if args.command in ("build", "sync"):
            from indexer.indexing import Indexer

            indexer = Indexer(settings)
            indexer.allow_deletions = getattr(args, "allow_deletions", False)
            result = indexer.build(progress=True) if args.command == "build" else indexer.sync(progress=True)
            _print_result(result, args.json)
        elif args.command == "watch":
            from indexer.watcher import run_watcher

            run_watcher(settings)
        elif args.command == "search":
            from indexer.query import parse_request
            from indexer.search import ArchiveSearcher

            params = {"q": args.query, "size": args.size, "page": args.page, "sort": args.sort}
            answer = ArchiveSearcher(settings).search(parse_request(params, settings))
            if args.json:
                print(json.dumps(answer, ensure_ascii=False, indent=1))
            else:
                print(f"{answer['total']} results ({answer['took_ms']} ms); understood as: "
                      f"{answer['parsed']['segmentation'] or args.query}")
                for hit in answer["hits"]:
                    print(f"- {hit['title']}  [{hit['broker'] or '?'} {hit['date'] or ''}]  {hit['path']}  id={hit['id']}")
                    for snippet in hit["snippets"]:
                        print("    " + snippet.replace("<mark>", "【").replace("</mark>", "】"))
        elif args.command == "status":
            report = status_report(settings)
            if args.json:
                print(json.dumps(report, ensure_ascii=False, indent=1))
            else:
                print(f"documents: {report['documents']}  generation: {report['generation']}  "
                      f"last sync: {report['last_sync']}  failed: {len(report['failed'])}")
                if not report["ok"]:
                    print(f"index: {report['error']}")
                if report.get("held"):
                    held = report["held"]
                    print(f"held: {held['missing']} of {held['documents']} documents vanished at once (since "
                          f"{held['since']}); kept until the files return or `sync --allow-deletions`")
                for item in report["failed"]:
                    print(f"  failed: {item['path']}: {item['reason']}")
            return 0 if report["ok"] else 1
    except ArchiveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # A full disk or an unwritable folder is the machine's state, not a bug: one line, no traceback.
        print(f"error: {describe_os_error(exc, settings)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
