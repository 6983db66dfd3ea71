"""Where the index lives: generations on disk, the atomic swap, the status file, the writer."""

from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3PerDocReader
from whoosh.index import LockError

from indexer.config import Settings
from indexer.errors import IndexUnavailable
from indexer.schema import SCHEMA_VERSION, build_schema

INDEX_NAME = "reports"
MARKER_FILE = "archive-index.json"
WRITE_LOCK_WAIT = 30.0
STALE_BUILD_SECONDS = 6 * 3600


def _cache_missing_columns() -> None:
    """Whoosh 2.7.4 stats the disk for every posting of a field without lengths (our n-grams)
    while flushing a segment, because it caches only the columns it found: cache misses too.
    Measured: commit of 150 reports 5.66 s -> 4.83 s."""
    original = W3PerDocReader._cached_reader

    def cached_reader(self, fieldname, column):
        if fieldname not in self._readers:
            self._readers[fieldname] = original(self, fieldname, column)
        return self._readers[fieldname]

    W3PerDocReader._cached_reader = cached_reader


_cache_missing_columns()


def now_iso() -> str:
    """The current UTC time as an ISO 8601 string."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON through a temp file and a rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class IndexStore:
    """The index folder: `live` points at the current build; builds/ holds the generations."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = settings.index.dir
        self.live = self.root / "live"
        self.builds = self.root / "builds"
        self.status_path = self.root / "status.json"

    def exists(self) -> bool:
        return (self.live / MARKER_FILE).exists()

    def live_build(self) -> Path:
        """The resolved folder of the live generation."""
        return self.live.resolve()

    def open(self) -> whoosh_index.Index:
        """Open the live index for reading or writing; a clear error if missing or outdated."""
        if not self.live.exists():
            raise IndexUnavailable(
                f"no index at {self.root}: run `python -m indexer build` (or start the service, which builds it)")
        marker = self.live / MARKER_FILE
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise IndexUnavailable(f"index at {self.live_build()} is incomplete or damaged: run `python -m indexer build`") from None
        if info.get("schema_version") != SCHEMA_VERSION:
            raise IndexUnavailable(
                f"index at {self.live_build()} has schema version {info.get('schema_version')}, this program "
                f"needs {SCHEMA_VERSION}: run `python -m indexer build`")
        try:
            ix = whoosh_index.open_dir(str(self.live), indexname=INDEX_NAME)
            ix.reader().close()     # reads every segment's header: damage shows here, not later
            return ix
        except Exception as exc:  # whoosh raises many kinds for a damaged folder
            raise IndexUnavailable(f"index at {self.live_build()} cannot be opened ({exc}): run `python -m indexer build`") from None

    def open_build(self, build: Path) -> whoosh_index.Index:
        """Open a generation folder that is not (yet) live."""
        return whoosh_index.open_dir(str(build), indexname=INDEX_NAME)

    def create_build(self) -> tuple[Path, whoosh_index.Index]:
        """A new, empty generation folder (not live until `swap_in`)."""
        self.builds.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        path = self.builds / f"{stamp}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
        path.mkdir()
        ix = whoosh_index.create_in(str(path), build_schema(), indexname=INDEX_NAME)
        return path, ix

    def swap_in(self, build: Path) -> None:
        """Make `build` the live generation atomically, then drop all but the previous one."""
        write_json_atomic(build / MARKER_FILE, {"schema_version": SCHEMA_VERSION, "created": now_iso()})
        previous = self.live.resolve() if self.live.exists() else None
        tmp = self.root / f".live.{os.getpid()}.tmp"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(os.path.relpath(build, self.root), tmp)
        os.replace(tmp, self.live)
        # Readers that opened the previous generation may still be reading it: keep that one.
        # A folder without a marker is another build still running (or one that crashed
        # long ago): leave it unless it is stale.
        for old in self.builds.iterdir():
            if old.resolve() in (build.resolve(), previous):
                continue
            finished = (old / MARKER_FILE).exists()
            if finished or time.time() - old.stat().st_mtime > STALE_BUILD_SECONDS:
                shutil.rmtree(old, ignore_errors=True)

    def read_status(self) -> dict:
        """The writer's status record (last sync, failed files, recent receipts)."""
        try:
            return json.loads(self.status_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"last_sync": None, "failed": {}, "recent": []}

    def write_status(self, status: dict) -> None:
        write_json_atomic(self.status_path, status)


@contextmanager
def writing(ix: whoosh_index.Index, merge: bool = True, **writer_options) -> Iterator:
    """A Whoosh writer that commits when the block ends and cancels on any error.

    merge=False leaves small segments unmerged: a commit then costs only the new
    documents (the watcher merges later, when the folder is quiet).
    """
    deadline = time.monotonic() + WRITE_LOCK_WAIT
    while True:
        try:
            writer = ix.writer(**writer_options)
            break
        except LockError:
            if time.monotonic() > deadline:
                raise IndexUnavailable(f"the index is locked by another writer for over {WRITE_LOCK_WAIT:.0f} s") from None
            time.sleep(0.1)
    try:
        yield writer
    except BaseException:
        writer.cancel()
        raise
    else:
        writer.commit(merge=merge)
