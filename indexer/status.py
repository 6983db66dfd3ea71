"""The indexer's state as the server and the CLI show it: documents, generation, failed files, receipts."""

from __future__ import annotations

from datetime import datetime

from indexer.errors import ArchiveError, IndexUnavailable
from indexer.store import IndexStore

RECEIPT_KEYS = ("path", "status", "reason", "id", "at", "code", "params")


def status_report(settings, full_paths: bool = True) -> dict:
    """The status record shared by `indexer status --json` and GET /api/status.

    full_paths=False (the web surfaces) names the archive and index folders without the server's
    absolute paths, which visitors have no use for.
    """
    store = IndexStore(settings)
    status = store.read_status()
    failed = [{"path": p, "reason": f["reason"], "code": f.get("code", ""), "params": f.get("params", {})}
              for p, f in sorted(status.get("failed", {}).items())]
    report = {
        "ok": True,
        "documents": 0,
        "generation": None,
        "build": None,
        "last_sync": status.get("last_sync"),
        "queue": status.get("queue", 0),
        "failed": failed,
        "recent": status.get("recent", [])[:20],
        # deletions held because most of the archive vanished at once: {"missing", "documents", "since"}
        "held": status.get("held"),
        # why the watcher could not start (its first sync or build failed), until a sync succeeds
        "start_error": status.get("start_error"),
        "archive": str(settings.archive.root) if full_paths else settings.archive.root.name,
        "index": str(settings.index.dir) if full_paths else settings.index.dir.name,
    }
    try:
        ix = store.open()
    except IndexUnavailable as exc:
        # code and params: index_damaged names the damaged file, for the pages to word
        report.update(ok=False, error=str(exc), code=exc.message.code, params=exc.message.params)
        return report
    except ArchiveError as exc:
        report.update(ok=False, error=str(exc))
        return report
    try:
        report["documents"] = ix.doc_count()
        report["generation"] = ix.latest_generation()
        report["build"] = store.live_build().name
    finally:
        ix.close()
    return report



def receipt_since(settings, relpath: str, since: float) -> dict | None:
    """The newest receipt for `relpath` if it was written at or after `since` (epoch seconds)."""
    for receipt in IndexStore(settings).read_status().get("recent", []):
        if receipt.get("path") != relpath:
            continue
        try:
            at = datetime.fromisoformat(receipt.get("at") or "").timestamp()
        except (TypeError, ValueError):
            continue
        # newest first: when the newest receipt for this path is older than `since`, there is none yet
        return ({key: receipt.get(key, {} if key == "params" else "") for key in RECEIPT_KEYS}
                if at >= since else None)
    return None
