"""The watcher's schedule: which waiting files are ready to index, and when small segments are merged.

Pure bookkeeping, no threads and no file system: the caller passes the clock and the files'
(size, mtime) stamps, and holds the lock that guards the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

# A file modified but never closed (a writer holding it open, or a lost close event) is
# indexed anyway once it has been stable this long.
OPEN_WRITE_GRACE = 5.0
# A batch whose sync raised is queued again this many times, then left to the rescan.
BATCH_RETRIES = 1
# Small segments are merged once no commit happened for MERGE_QUIET_SECONDS, or, when a steady
# trickle of changes is never quiet that long, after MERGE_AFTER_COMMITS commits at a moment
# nothing waits (a merge takes 0.1 s idle, 0.8 s under full search load: soak bench), or after
# MERGE_FORCED_COMMITS commits even if files wait, so segments never pile up. A merge runs in a
# child process beside the changes (indexer.merging): the watcher looks every MERGE_POLL seconds
# whether it is done, and commits it then.
MERGE_QUIET_SECONDS = 2.0
MERGE_AFTER_COMMITS = 8
MERGE_FORCED_COMMITS = 32
MERGE_POLL = 0.02

Stamp = tuple[int, int]     # (size, mtime_ns)


@dataclass
class PendingFile:
    """A file waiting to be indexed: when it was first seen and its last observed size and mtime."""

    first_seen: float                   # monotonic seconds
    stamp: Stamp | None                 # (size, mtime_ns) when last looked at; None: missing
    stable_since: float                 # monotonic seconds when that stamp was first seen
    writing: bool = False               # modified and not yet closed by its writer
    follows: str | None = None          # source of a rename: goes with its destination
    attempts: int = 0                   # failed batches it was part of


class PendingQueue:
    """The files waiting to be indexed, by relative path, oldest first."""

    def __init__(self, settle: float):
        self.settle = settle
        self._files: dict[str, PendingFile] = {}

    def __len__(self) -> int:
        return len(self._files)

    def __contains__(self, relpath: str) -> bool:
        return relpath in self._files

    def paths(self) -> set[str]:
        return set(self._files)

    def note(self, relpath: str, stamp: Stamp | None, now: float, writing: bool | None = None,
             follows: str | None = None) -> None:
        """Queue a path that an event named (again), with its stamp as of now."""
        entry = self._files.get(relpath)
        if entry is None:
            entry = self._files[relpath] = PendingFile(now, stamp, now)
        elif stamp != entry.stamp:
            entry.stamp, entry.stable_since = stamp, now
        if writing is not None:
            entry.writing = writing
        if follows is not None:
            entry.follows = follows

    def take_ready(self, now: float, limit: int, stamp_of: Callable[[str], Stamp | None]) -> dict[str, PendingFile]:
        """Take up to `limit` files ready to index, oldest first: stable for `settle` seconds
        (`stamp_of` looks at a file now), or gone."""
        ready: dict[str, PendingFile] = {}
        renamed: list[str] = []
        for relpath, entry in self._files.items():
            if len(ready) >= limit:
                break
            if entry.stamp is not None and now - entry.stable_since < self.settle:
                continue    # not due yet: a change meanwhile shows up when it is (or as an event)
            stamp = stamp_of(relpath)
            if stamp != entry.stamp:
                entry.stamp, entry.stable_since = stamp, now
            if stamp is None:
                # Gone: deleted now; the source of a rename goes with its destination, so the
                # report never disappears from search in between (and keeps its added_at).
                if entry.follows is None or entry.follows not in self._files:
                    ready[relpath] = entry
                else:
                    renamed.append(relpath)
                continue
            quiet = now - entry.stable_since
            if quiet >= self.settle and (not entry.writing or quiet >= max(OPEN_WRITE_GRACE, self.settle)):
                ready[relpath] = entry
        for relpath in renamed:
            if self._files[relpath].follows in ready:
                ready[relpath] = self._files[relpath]
        for relpath in ready:
            del self._files[relpath]
        return ready

    def requeue(self, batch: dict[str, PendingFile]) -> list[tuple[str, int]]:
        """Queue again the files of a batch whose sync failed; those retried BATCH_RETRIES times
        already are left to the rescan: returned as (path, failed batches)."""
        given_up = []
        for relpath, entry in batch.items():
            if entry.attempts >= BATCH_RETRIES:
                given_up.append((relpath, entry.attempts + 1))
                continue
            entry.attempts += 1
            newer = self._files.get(relpath)
            if newer is None:
                self._files[relpath] = entry
            else:
                newer.attempts = max(newer.attempts, entry.attempts)
        return given_up


class MergeSchedule:
    """When the small segments that the watcher's commits leave behind are merged.

    Commits during a burst do not merge (a merge rewrites the segments' stored fields and
    postings); many small segments slow searches, so they are merged (by the size-tiered
    policy of store.small_segments) once the drops pause, or after enough commits.
    """

    def __init__(self):
        self.unmerged_since = 0.0      # monotonic time of the first commit not merged yet
        self.unmerged_commits = 0
        self.last_commit = 0.0

    def committed(self, now: float) -> None:
        self.unmerged_since = self.unmerged_since or now
        self.last_commit = now
        self.unmerged_commits += 1

    def merged(self) -> None:
        """A merge of what was committed so far started (a failed one is tried again after the next commit)."""
        self.unmerged_since = 0.0
        self.unmerged_commits = 0

    def forced(self) -> bool:
        """Merge now, even with files waiting."""
        return self.unmerged_commits >= MERGE_FORCED_COMMITS

    def idle_wait(self, now: float) -> float | None:
        """With nothing waiting: seconds until a merge is due (0: now), None when nothing is unmerged."""
        if not self.unmerged_since:
            return None
        quiet = now - self.last_commit
        if quiet >= MERGE_QUIET_SECONDS or self.unmerged_commits >= MERGE_AFTER_COMMITS:
            return 0.0
        return MERGE_QUIET_SECONDS - quiet
