"""The folder watcher: file events in the archive folder become batched incremental syncs.

Events only enqueue relative paths; one worker thread indexes a file once its size and
mtime have been stable for `settle_seconds` (and a writer that modified it has closed it),
commits everything that became ready within `batch_seconds` in one `Indexer.sync` (a lone
file at once, without waiting for the window), and rescans the whole folder every `rescan_seconds` so that a missed event loses nothing.
The worker is the only thread that writes the index and its status file.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import signal
import stat
import threading
import time
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from indexer.analysis import init_jieba
from indexer.config import Settings
from indexer.documents import SourceFile, is_ignored, list_archive
from indexer.errors import ArchiveError, IndexUnavailable
from indexer.indexing import Indexer, Receipt, SyncResult
from indexer.merging import MergeJob
from indexer.schedule import MERGE_POLL, MergeSchedule, PendingFile, PendingQueue
from indexer.schedule import MERGE_AFTER_COMMITS, MERGE_QUIET_SECONDS  # noqa: F401 (the soak bench reads them here)
from indexer.store import IndexStore, now_iso

log = logging.getLogger(__name__)

# Opened/closed-without-write events are left out: the indexer's own reads would cause them.
EVENT_TYPES = [FileCreatedEvent, FileModifiedEvent, FileAttribEvent, FileClosedEvent, FileDeletedEvent,
               FileMovedEvent, DirCreatedEvent, DirDeletedEvent, DirMovedEvent]
# Files per commit at most: a folder of thousands of reports dropped at once is committed
# progressively, so its first reports (and a file dropped meanwhile) are searchable in
# seconds rather than after the whole folder.
MAX_BATCH = 100


def archive_relpath(root: str, path: str | bytes) -> str | None:
    """The POSIX path of `path` relative to root, or None when it lies outside root."""
    path = os.fsdecode(path)
    if not path:
        return None
    rel = os.path.relpath(path, root)
    if rel == "." or rel == ".." or rel.startswith(".." + os.sep):
        return None
    return rel.replace(os.sep, "/")


def is_watched_dir(relpath: str) -> bool:
    """True when no part of a relative folder path is hidden (hidden folders are not archive)."""
    return not any(part.startswith(".") for part in relpath.split("/"))


def is_watched_file(relpath: str) -> bool:
    """True for a report file the index should hold: a supported, non-temporary, visible name."""
    folder, _, name = relpath.rpartition("/")
    return not is_ignored(name) and (not folder or is_watched_dir(folder))


class _EventRelay(FileSystemEventHandler):
    """Passes watchdog's events (on the observer thread) to the watcher's queue."""

    def __init__(self, watcher: "ArchiveWatcher"):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            self.watcher.enqueue_event(event)
        except Exception:  # an exception here would kill the observer thread
            log.exception("could not queue %s", event)


class ArchiveWatcher:
    """Keeps the index in line with the archive folder while running (the only writer)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.indexer = Indexer(settings)    # one per process: jieba loads once
        self.store = self.indexer.store
        self.root = Path(settings.archive.root)
        self._root = str(self.root)
        self.settle = settings.watcher.settle_seconds
        self.batch_window = settings.watcher.batch_seconds
        self.rescan_interval = settings.watcher.rescan_seconds
        self.poll = min(0.05, max(0.01, self.settle / 5))
        self.observer: Observer | None = None
        self.commits = 0        # committed syncs since start (the initial sync included)
        self._pending = PendingQueue(self.settle)
        self._in_flight: dict[str, PendingFile] = {}
        self._known: set[str] = set()     # paths the index holds or lists as failed
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._published_queue: int | None = None
        self._lister: threading.Thread | None = None
        self._listing: dict[str, SourceFile] | None = None   # the lister's latest listing, not yet synced
        self._listed_changes: set[str] | None = None        # what differs in it from the index (None: all of it)
        self._merges = MergeSchedule()
        self._merge_job: MergeJob | None = None     # a merge whose child is writing (worker thread only)
        self._commits_at_merge = 0

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> SyncResult:
        """Watch the folder, catch up with what changed while nobody watched, start the worker."""
        if not self.root.is_dir():
            # A mistyped root or an unmounted share: creating it would index an empty folder (and,
            # with a share mounted later, hide it). Stop and say so.
            raise ArchiveError(f"the archive folder {self.root} does not exist or is not a folder: "
                               f"create it or correct [archive].root")
        self._stopping.clear()
        # Watch first, then sync: a file dropped during the initial sync is queued, not missed.
        self.observer = Observer()
        self.observer.schedule(_EventRelay(self), self._root, recursive=True, event_filter=EVENT_TYPES)
        self.observer.start()
        try:
            result = self._initial_sync()
        except BaseException:
            self.observer.stop()
            self.observer.join()
            raise
        # Load jieba now (about 0.5 s) rather than on the first drop: a build ran in worker
        # processes, and an initial sync with nothing to read never loaded it here.
        init_jieba(self.indexer.jieba_cache, self.settings.index.user_dict)
        self._worker = threading.Thread(target=self._work, name="archive-watcher", daemon=True)
        self._worker.start()
        self._lister = threading.Thread(target=self._list_periodically, name="archive-lister", daemon=True)
        self._lister.start()
        return result

    def stop(self) -> None:
        """Stop watching; a batch being indexed is finished, files still settling are left
        to the next start's initial sync."""
        self._stopping.set()
        self._wake.set()
        if self.observer is not None:
            self.observer.stop()
            self.observer.join()
        if self._lister is not None:
            self._lister.join()
            self._lister = None
        if self._worker is not None:
            self._worker.join()
            self._worker = None
            self._publish_queue(0)
        if self._merge_job is not None:
            self._merge_job.cancel()        # nothing of it is committed; the next start merges again
            self._merge_job = None

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is pending or being indexed (and stayed so briefly), False on timeout."""
        quiet = max(0.1, 2 * self.poll)
        deadline = time.monotonic() + timeout
        idle_since = None
        while True:
            now = time.monotonic()
            with self._lock:
                idle = not self._pending and not self._in_flight
            if not idle:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since >= quiet:
                return True
            if now >= deadline:
                return False
            time.sleep(0.01)

    # -- events (observer thread) ---------------------------------------------------------
    def enqueue_event(self, event: FileSystemEvent) -> None:
        """Turn one watchdog event into pending relative paths."""
        src = archive_relpath(self._root, event.src_path)
        dest = archive_relpath(self._root, event.dest_path) if event.dest_path else None
        if isinstance(event, FileMovedEvent):
            watched_dest = dest if dest and is_watched_file(dest) else None
            if watched_dest:
                self._enqueue(watched_dest, writing=False)
            if src and (is_watched_file(src) or self._is_known(src)):
                self._enqueue(src, follows=watched_dest)
        elif isinstance(event, DirMovedEvent):
            dest_watched = dest is not None and is_watched_dir(dest)
            if src is not None:
                for old in self._known_under(src):
                    new = dest + old[len(src):] if dest_watched else None
                    if new and is_watched_file(new):
                        self._enqueue(new, writing=False)
                    else:
                        new = None
                    self._enqueue(old, follows=new)
            if dest_watched:
                self._enqueue_tree(dest)
        elif isinstance(event, DirCreatedEvent):
            if src is not None and is_watched_dir(src):
                self._enqueue_tree(src)
        elif isinstance(event, DirDeletedEvent):
            if src is not None:
                for old in self._known_under(src):
                    self._enqueue(old)
        elif src is not None and (is_watched_file(src) or self._is_known(src)):
            if isinstance(event, FileModifiedEvent):
                self._enqueue(src, writing=True)
            elif isinstance(event, FileClosedEvent):
                self._enqueue(src, writing=False)
            else:   # created (or moved in from outside), attributes changed, deleted
                self._enqueue(src)

    def _enqueue(self, relpath: str, writing: bool | None = None, follows: str | None = None) -> None:
        stamp = self._stamp(relpath)
        now = time.monotonic()
        with self._lock:
            self._pending.note(relpath, stamp, now, writing, follows)
        self._wake.set()

    def _enqueue_tree(self, relfolder: str) -> None:
        """Queue every report file under a folder (created, or moved in whole)."""
        folder = self.root / relfolder
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                relpath = archive_relpath(self._root, os.path.join(dirpath, name))
                if relpath and is_watched_file(relpath):
                    self._enqueue(relpath)

    def _is_known(self, relpath: str) -> bool:
        with self._lock:
            return relpath in self._known

    def _known_under(self, relfolder: str) -> list[str]:
        """Indexed (or failed) paths inside a folder, and pending ones: what its removal removes."""
        prefix = relfolder.rstrip("/") + "/"
        with self._lock:
            paths = {p for p in self._known if p.startswith(prefix)}
            paths.update(p for p in self._pending.paths() if p.startswith(prefix))
        return sorted(paths)

    def _stamp(self, relpath: str) -> tuple[int, int] | None:
        try:
            st = os.stat(os.path.join(self._root, relpath))
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return st.st_size, st.st_mtime_ns

    # -- the worker -----------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = self._next_batch()
                if batch:
                    self._index_batch(batch)
                elif batch is not None:
                    self._rescan()
            except Exception:
                log.exception("watcher: unexpected error; continuing")
                self._stopping.wait(max(self.poll, 0.5))

    def _next_batch(self) -> dict[str, PendingFile] | None:
        """Wait for files that are ready, collecting more for batch_seconds; {}: rescan due;
        None: stopping."""
        batch: dict[str, PendingFile] = {}
        first_ready = None
        while not self._stopping.is_set():
            self._wake.clear()
            self._land_merge()
            now = time.monotonic()
            with self._lock:
                ready = self._pending.take_ready(now, MAX_BATCH - len(batch), self._stamp)
                batch.update(ready)
                self._in_flight = batch   # counted in the queue and by wait_idle meanwhile
                queue = len(self._pending) + len(batch)
                waiting = bool(self._pending)
            self._publish_queue(queue)
            if ready and first_ready is None:
                first_ready = now
            if first_ready is not None:
                # A lone drop goes at once; while other files are still settling, wait up to
                # batch_seconds for them so that a burst becomes one commit.
                if not waiting or now - first_ready >= self.batch_window or len(batch) >= MAX_BATCH:
                    return batch
                timeout = min(self.poll, first_ready + self.batch_window - now)
            elif self._listing is not None:
                return {}
            elif waiting:
                timeout = self.poll
            else:
                timeout = 3600.0        # the lister wakes us when a listing is ready
                merge_in = self._merges.idle_wait(now) if self._merge_job is None else MERGE_POLL
                if merge_in == 0:
                    self._merge()
                    continue
                if merge_in is not None:
                    timeout = min(timeout, merge_in)
            self._wake.wait(max(timeout, 0.001))
        # Stopping: a collected batch is indexed rather than dropped.
        return batch or None

    def _index_batch(self, batch: dict[str, PendingFile]) -> None:
        paths = sorted(batch)
        try:
            result = self.indexer.sync(paths, merge=False)
        except Exception:
            log.exception("indexing a batch of %d files failed", len(paths))
            self._requeue(batch)
            return
        finally:
            with self._lock:
                self._in_flight = {}
        done = time.monotonic()
        if result.committed:
            self._merges.committed(done)
        self._record(result, {p: (done - e.first_seen) * 1000 for p, e in batch.items()})
        if self._merges.forced():
            self._merge()

    def _merge(self) -> None:
        """Start merging the small segments that commits left behind (the MergeSchedule says when),
        unless a merge is in flight. The merge's child writes beside the worker, which goes on
        indexing changes; `_land_merge` commits it once the child is done (indexer.merging)."""
        if self._merge_job is not None:
            return
        self._merges.merged()       # what was committed so far is being merged; later commits count anew
        try:
            self._merge_job = self.indexer.start_merge()
        except Exception:
            log.exception("starting a merge of index segments failed; trying again after the next change")
            return
        self._commits_at_merge = self.commits

    def _land_merge(self) -> None:
        """Commit the merge in flight if its child is done (a few milliseconds under the lock)."""
        job = self._merge_job
        if job is None:
            return
        try:
            if not job.poll():
                return
            self._merge_job = None
            if self.indexer.land_merge(job):
                log.info("merged small index segments (%.0f ms) beside %d commits",
                         (time.perf_counter() - job.started) * 1000, self.commits - self._commits_at_merge)
            else:
                log.info("dropped a merge of index segments: its segments changed meanwhile")
        except Exception:
            self._merge_job = None
            job.cancel()
            log.exception("merging index segments failed; trying again after the next change")

    def _requeue(self, batch: dict[str, PendingFile]) -> None:
        with self._lock:
            given_up = self._pending.requeue(batch)
        for relpath, attempts in given_up:
            log.warning("%s: left to the next rescan after %d failed batches", loggable(relpath), attempts)
        self._wake.set()

    def _list_periodically(self) -> None:
        """The lister thread: every rescan_interval, list the folder for the worker's rescan.

        Listing stats every file, and comparing the listing with the index (`Indexer.changed_paths`)
        reads every indexed path: 0.7 and 0.2 s at 100,000 files, 11.7 and 2.9 s at 1,000,000. Both
        are done in a forked child (`list_changes`), which hands back only the paths that differ, so
        that the worker, which then syncs those, does not share the interpreter's lock with them:
        done in this thread, they slowed the drops meanwhile to p99 2.7 s at 1,000,000 files.
        """
        while not self._stopping.wait(self.rescan_interval):
            try:
                listing, changed, count, list_s, compare_s = list_changes(self.root, self.indexer)
            except Exception:
                log.exception("listing %s for the rescan failed; trying again in %.0f s", self.root, self.rescan_interval)
                continue
            # what a rescan costs grows with the archive: said every time (bench/drop_bench.py reads it)
            log.info("rescan: listed %d files (%.0f ms), %s to look at (%.0f ms)", count, list_s * 1000,
                     "all" if changed is None else len(changed), compare_s * 1000)
            with self._lock:
                self._listing, self._listed_changes = listing, changed
            self._wake.set()

    def _rescan(self) -> None:
        """Sync the whole folder from the lister's listing to catch missed events (files still
        settling are left alone: their events are being handled)."""
        started = time.perf_counter()
        with self._lock:
            listing, self._listing = self._listing, None
            changed, self._listed_changes = self._listed_changes, None
            settling = self._pending.paths()
        if listing is None:
            return
        if changed is None:
            self._refresh_known()
            with self._lock:
                paths = (set(listing) | self._known) - settling
        else:
            paths = changed - settling
        try:
            result = self.indexer.sync(paths, merge=False, sources=listing)     # a set: sync sorts what it considers
        except Exception:
            log.exception("rescan of %s failed; trying again in %.0f s", self.root, self.rescan_interval)
            return
        if result.committed:
            self._merges.committed(time.monotonic())
        self._record(result, {})
        changed = len(result.receipts) - result.count("unchanged")
        if changed:
            log.info("rescan found %d changes the events missed (%.0f ms)", changed, result.seconds * 1000)
        # the worker's whole time here: drops wait for it
        log.info("rescan: synced %d paths (%.0f ms)", len(paths), (time.perf_counter() - started) * 1000)

    def _initial_sync(self) -> SyncResult:
        try:
            return self._first_sync()
        except Exception as exc:
            # Say why on status (and the pages), not only in the log: without an index the pages
            # would otherwise wait for a build that keeps failing (a full disk, an unreadable folder).
            status = self.store.read_status()
            status["start_error"] = {"reason": f"{type(exc).__name__}: {exc}"[:500], "at": now_iso()}
            try:
                self.store.write_status(status)
            except OSError:
                pass
            raise

    def _first_sync(self) -> SyncResult:
        if self.store.exists():
            try:
                self.store.open().close()
            except IndexUnavailable as exc:
                # An outdated or damaged index is rebuilt into a new generation and swapped in.
                log.warning("%s; rebuilding", exc)
                result = self.indexer.build()
                self._after_sync_all(result, "rebuilt the index")
                return result
        result = self.indexer.sync()
        self._after_sync_all(result, "initial sync")
        return result

    def _after_sync_all(self, result: SyncResult, what: str) -> None:
        self._refresh_known()
        self._record(result, {})
        counts = ", ".join(f"{n} {s}" for s in ("indexed", "duplicate", "deleted", "failed")
                           if (n := result.count(s)))
        log.info("%s: %d documents%s (%.1f s)", what, result.documents, f"; {counts}" if counts else "",
                 result.seconds)

    def _refresh_known(self) -> None:
        """Take the paths the index holds (every name of every document) and the failed ones
        from the indexer's state."""
        known = self.indexer.known_paths()
        with self._lock:
            self._known = known

    def _record(self, result: SyncResult, latency_ms: dict[str, float]) -> None:
        """Keep the known paths in step with the receipts and log one line per changed file."""
        if result.committed:
            self.commits += 1
        with self._lock:
            for receipt in result.receipts:
                if receipt.status == "deleted":
                    self._known.discard(receipt.path)
                else:
                    self._known.add(receipt.path)
        for receipt in result.receipts:
            _log_receipt(receipt, latency_ms.get(receipt.path, result.seconds * 1000))

    def _publish_queue(self, queue: int) -> None:
        """Write the queue length into the status file when it changed (worker thread only)."""
        if queue == self._published_queue:
            return
        status = self.store.read_status()
        status["queue"] = queue
        try:
            # Not synced to disk: a queue length lost in a power cut is harmless, and the queue
            # changes with every file (the status's other content is synced by each sync).
            self.store.write_status(status, durable=False)
        except OSError as exc:   # e.g. a full disk: the status lags, the indexing goes on
            log.warning("could not write the queue length into %s: %s", self.store.status_path, exc)
            return
        self._published_queue = queue


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def list_changes(root: Path, indexer: Indexer) -> tuple[dict[str, SourceFile], set[str] | None, int, float, float]:
    """List the archive and compare the listing with the index, in a forked child: (the listing of
    the paths that differ, or all of it when the indexer has not read the index yet; those paths or
    None; the files listed; seconds listing; seconds comparing).

    The child sees the indexer's state as it was at the fork (the parent holds the interpreter's
    lock then, so no dict is half-changed); a change committed meanwhile is looked at again by the
    worker's sync, as `Indexer.changed_paths` says. It pickles its answer into a pipe and exits; it
    logs nothing (a lock another thread held at the fork would stay held in it). Where a process
    cannot fork (no memory), the same is done in this thread.
    """
    def answer() -> tuple:
        started = time.perf_counter()
        listing = {s.relpath: s for s in list_archive(root)}
        listed = time.perf_counter()
        changed = indexer.changed_paths(listing)
        kept = listing if changed is None else {p: listing[p] for p in changed if p in listing}
        return kept, changed, len(listing), listed - started, time.perf_counter() - listed

    try:
        read_end, write_end = os.pipe()
    except OSError:
        return answer()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return answer()
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)   # the watcher's stop handler is the parent's
            with os.fdopen(write_end, "wb") as out:
                out.write(pickle.dumps(answer(), protocol=pickle.HIGHEST_PROTOCOL))
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()      # the lock is released while it waits
    finally:
        _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or not data:
        raise ArchiveError(f"the listing child process failed (exit code {code})")
    return pickle.loads(data)


def loggable(text: str) -> str:
    """A file name or reason for one log line: control characters (a newline in a file name could
    forge a line) written as escapes; Chinese and everything else as is."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _log_receipt(receipt: Receipt, ms: float) -> None:
    if receipt.status == "unchanged":
        log.debug("unchanged %s (%.0f ms)", loggable(receipt.path), ms)
        return
    level = logging.WARNING if receipt.status == "failed" else logging.INFO
    reason = f": {loggable(receipt.reason)}" if receipt.reason else ""
    log.log(level, "%s %s%s (%.0f ms)", receipt.status, loggable(receipt.path), reason, ms)


def run_watcher(settings: Settings) -> None:
    """Sync, then keep the index in line with the folder until Ctrl-C or SIGTERM."""
    def terminate(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)   # one stop is enough
        raise KeyboardInterrupt

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminate) if in_main else None
    watcher = ArchiveWatcher(settings)
    scrub = IndexStore(settings).scrubber()     # damage it finds is recorded for the server's processes too
    try:
        result = watcher.start()
        scrub.start()
        log.info("watching %s (%d documents; settle %.2f s, batch %.2f s, rescan every %.0f s)",
                 settings.archive.root, result.documents, watcher.settle, watcher.batch_window,
                 watcher.rescan_interval)
        forever = threading.Event()
        while not forever.wait(3600):
            pass
    except KeyboardInterrupt:
        log.info("stopping the watcher")
    finally:
        scrub.stop()
        watcher.stop()
        if in_main:
            signal.signal(signal.SIGTERM, previous)
