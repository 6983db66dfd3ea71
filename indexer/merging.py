"""Merges that commit beside the changes: the merged segment is written by a child process without
the write lock, and swapped in for its sources by the writer in a few milliseconds.

A merge used to hold the index's write lock while it rewrote its segments (0.1-3 s under the soak's
search load), and a change that arrived meanwhile waited for all of it: the last changes the
30-minute soak saw later than 1 s. Stopping the merge for the change (and trying again) helped
until drops came closer together than a merge lasts. Now, as Lucene's concurrent merges do:

1. `MergeJob.start` (the writer's thread) reads the table of contents, picks the segments by the
   size-tiered policy (`store.small_segments`), notes each one's live documents, and forks a child.
2. The child writes those documents as one new segment (`store.write_merged`: Whoosh's stored fields
   and columns, our postings and columns, the checksums) into a hidden folder of its own inside the
   generation, and syncs them to disk. It takes no lock: the writer goes on committing changes meanwhile. Whoosh's
   clean-up after each commit skips hidden names, so no commit removes the child's files.
3. `MergeJob.land` (the writer's thread, once the child has exited; `store.commit_merged`): under
   the write lock, if every source segment is still in the index, the deletions committed in them
   meanwhile are carried over to the new segment's numbering (a document is never merged back to
   life), the new segment's files are renamed into the generation, and a table of contents commits
   it in place of its sources.
   When a source is gone (another writer merged it, a rebuild swapped the generation), the merge is
   dropped: nothing was committed.

A crash at any point leaves the index as its last commit left it: a hidden merge folder is removed
by the next merge, files renamed in but in no table of contents by the next commit (Whoosh's
clean-up), and documents deleted meanwhile stay deleted.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from whoosh import index as whoosh_index

from indexer.store import commit_merged, current_segments, small_segments, write_merged

log = logging.getLogger(__name__)

FOLDER_PREFIX = ".merging-"     # hidden: Whoosh's clean_files skips it, the integrity checks do not look in it
CHILD_TIMEOUT_S = 600.0         # a merge child that takes longer is stopped (nothing of it is committed)


class MergeFailed(RuntimeError):
    """A merge's child failed, was killed or ran out of time: nothing of it was committed."""


@dataclass
class MergeJob:
    """One merge in flight: its child process, its folder, and what it merges."""

    build: Path                     # the generation folder it merges in
    folder: Path                    # its hidden folder inside the generation
    sources: list[str]              # segment ids merged, in order
    live: list[list[int]]           # each source's live documents when the merge began, in order
    pid: int = 0
    started: float = field(default_factory=time.perf_counter)
    exit_code: int | None = None

    @classmethod
    def start(cls, ix: whoosh_index.Index, build: Path, policy=small_segments) -> "MergeJob | None":
        """Fork a child merging the segments `policy` picks from `ix`'s latest table of contents;
        None when there is nothing to merge (fewer than two segments picked)."""
        remove_leftovers(build)
        segments = current_segments(ix)
        chosen = policy(segments)
        if len(chosen) < 2:
            return None
        live = [[d for d in range(s.doc_count_all()) if not s.is_deleted(d)] for s in chosen]
        job = cls(build, build / f"{FOLDER_PREFIX}{os.getpid()}-{time.monotonic_ns()}",
                  [s.segment_id() for s in chosen], live)
        job.folder.mkdir()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)   # the watcher's stop handler is the parent's
                write_merged(build, ix.schema, chosen, live, job.folder)
                code = 0
            except BaseException:
                log.exception("a merge in a child process failed")
            finally:
                os._exit(code)
        job.pid = pid
        return job

    def poll(self) -> bool:
        """Whether the child has ended (and then its exit code is kept)."""
        if self.exit_code is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.exit_code = os.waitstatus_to_exitcode(status)
            elif time.perf_counter() - self.started > CHILD_TIMEOUT_S:
                self._kill()
                raise MergeFailed(f"a merge in a child process took over {CHILD_TIMEOUT_S:.0f} s and was stopped")
        return self.exit_code is not None

    def wait(self) -> None:
        while not self.poll():
            time.sleep(0.005)

    def cancel(self) -> None:
        """Stop the child (if still running) and remove what it wrote; nothing is committed."""
        if self.exit_code is None:
            self._kill()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        self.exit_code = -signal.SIGKILL

    def land(self, ix: whoosh_index.Index) -> bool:
        """Commit the merged segment in place of its sources (the child must have ended); False when
        the merge no longer applies and was dropped (its sources merged by another writer, or `ix`
        another generation). Raises MergeFailed when the child failed. Its folder goes either way."""
        try:
            if Path(ix.storage.folder).resolve() != self.build.resolve():
                return False
            if self.exit_code != 0:
                if not set(self.sources) <= {s.segment_id() for s in current_segments(ix)}:
                    return False    # merged by another writer meanwhile, which may have removed them under the child
                what = f"signal {-self.exit_code}" if self.exit_code < 0 else f"exit code {self.exit_code}"
                raise MergeFailed(f"a merge in a child process ended with {what}")
            return commit_merged(ix, self.folder, self.sources, self.live)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def remove_leftovers(build: Path) -> None:
    """Remove the folders of merges whose process is gone (a watcher killed while a child merged);
    called as a merge starts, before it makes its own."""
    for folder in build.glob(f"{FOLDER_PREFIX}*"):
        pid = folder.name[len(FOLDER_PREFIX):].split("-", 1)[0]
        # Another live process's merge removes its own. One of this process id is a leftover: a process
        # merges one at a time, and a restarted watcher often gets its old id back (in a container).
        if not (pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid))):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
