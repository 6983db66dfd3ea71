"""Merges that commit beside the changes: the merged segment is written by a child process without
the write lock, and swapped in for its sources by the writer in a few milliseconds.

A merge used to hold the index's write lock while it rewrote its segments (0.1-3 s under the soak's
search load), and a change that arrived meanwhile waited for all of it: the last changes the
30-minute soak saw later than 1 s. Stopping the merge for the change (and trying again) helped
until drops came closer together than a merge lasts. Now, as Lucene's concurrent merges do:

1. `MergeJob.start` (the writer's thread) reads the table of contents, picks the segments by the
   size-tiered policy (`store._small_segments`), notes each one's live documents, and forks a child.
2. The child writes those documents as one new segment (Whoosh's stored fields and columns, our
   postings and columns, the checksums) into a hidden folder of its own inside the generation, and
   syncs them to disk. It takes no lock: the writer goes on committing changes meanwhile. Whoosh's
   clean-up after each commit skips hidden names, so no commit removes the child's files.
3. `MergeJob.land` (the writer's thread, once the child has exited): under the write lock, if every
   source segment is still in the index, the deletions committed in them meanwhile are carried over
   to the new segment's numbering (a document is never merged back to life), the new segment's files
   are renamed into the generation, and a table of contents commits it in place of its sources.
   When a source is gone (another writer merged it, a rebuild swapped the generation), the merge is
   dropped: nothing was committed.

A crash at any point leaves the index as its last commit left it: a hidden merge folder is removed
by the next merge, files renamed in but in no table of contents by the next commit (Whoosh's
clean-up), and documents deleted meanwhile stay deleted.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.filedb.filestore import FileStorage
from whoosh.reading import SegmentReader

from indexer import integrity
from indexer.columns import columns_path
from indexer.durable import write_atomic
from indexer.postings import open_segment, postings_path
from indexer.store import (INDEX_NAME, ReportWriter, _SegmentWriter, _small_segments, open_writer,
                           write_segment_columns, write_segment_sums)

log = logging.getLogger(__name__)

FOLDER_PREFIX = ".merging-"     # hidden: Whoosh's clean_files skips it, the integrity checks do not look in it
SEGMENT_FILE = "segment.pickle"
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
    def start(cls, ix: whoosh_index.Index, build: Path, policy=_small_segments) -> "MergeJob | None":
        """Fork a child merging the segments `policy` picks from `ix`'s latest table of contents;
        None when there is nothing to merge (fewer than two segments picked)."""
        remove_leftovers(build)
        segments = ix._read_toc().segments      # each commit's own objects: later commits do not change them
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
        the merge no longer applies and was dropped. Raises MergeFailed when the child failed. The
        merge's folder is removed either way."""
        try:
            if self.exit_code != 0:
                what = f"signal {-self.exit_code}" if self.exit_code < 0 else f"exit code {self.exit_code}"
                raise MergeFailed(f"a merge in a child process ended with {what}")
            merged = pickle.loads((self.folder / SEGMENT_FILE).read_bytes())
            writer = ReportWriter(open_writer(ix))
            try:
                current = {s.segment_id(): s for s in writer.writer.segments}
                if Path(writer.writer.storage.folder).resolve() != self.build.resolve() or \
                        any(source not in current for source in self.sources):
                    writer.cancel()
                    return False
                carry_deletions(merged, [current[s] for s in self.sources], self.live)
                for name in segment_files(merged.segment_id()):
                    os.replace(self.folder / name, self.build / name)
                sources = set(self.sources)
                writer.writer.commit(mergetype=lambda _writer, existing:
                                     [s for s in existing if s.segment_id() not in sources] + [merged])
            except BaseException:
                writer.cancel()
                raise
            return True
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def write_merged(build: Path, schema, segments: list, live: list[list[int]], folder: Path) -> None:
    """(In the child.) Write the `live` documents of `segments`, in order, as one new segment in
    `folder`: Whoosh's segment file, our postings and columns, the checksums, all synced to disk,
    then the segment object (pickled) that the table of contents will hold."""
    storage = FileStorage(str(build), supports_mmap=False)
    target = whoosh_index.create_in(str(folder), schema, indexname=INDEX_NAME)
    writer = _SegmentWriter(target, _lk=False)      # no lock: the index's writer commits meanwhile
    try:
        for segment, documents in zip(segments, live):
            reader = SegmentReader(storage, schema, segment)
            postings = open_segment(build, segment.segment_id())
            try:
                writer.add_reader(reader)       # the segment's live documents, in order: `live`
                writer.report_postings.add_segment(postings, documents)
            finally:
                reader.close()
                postings.close()
        merged = writer._finalize_segment()
    except BaseException:
        writer._close_segment()
        raise
    finally:
        writer._finish()                # its temporary folder (inside `folder`); it holds no lock
    writer.report_postings.write(postings_path(folder, merged.segment_id()))
    write_segment_columns(writer.storage, schema, merged)
    write_segment_sums(folder, merged.segment_id())
    for name in segment_files(merged.segment_id()):
        with open(folder / name, "rb") as fh:
            os.fsync(fh.fileno())       # the sources' documents live only here once the merge commits
    write_atomic(folder / SEGMENT_FILE, [pickle.dumps(merged)])


def segment_files(segment_id: str) -> list[str]:
    """The files of one segment that a merge writes: Whoosh's compound file, our postings and
    columns, the checksum manifest (last: it vouches for the others)."""
    return [f"{segment_id}.seg", postings_path("", segment_id).name, columns_path("", segment_id).name,
            integrity.manifest_path(Path(""), segment_id).name]


def carry_deletions(merged, sources: list, live: list[list[int]]) -> int:
    """Delete from the merged segment the documents deleted in its sources since the merge began
    (`live`: each source's live documents then, whose order the merged segment keeps); how many."""
    carried = 0
    base = 0
    for source, documents in zip(sources, live):
        for i, docnum in enumerate(documents):
            if source.is_deleted(docnum):
                merged.delete_document(base + i)
                carried += 1
        base += len(documents)
    return carried


def remove_leftovers(build: Path) -> None:
    """Remove the folders of merges whose process is gone (a watcher killed while a child merged)."""
    for folder in build.glob(f"{FOLDER_PREFIX}*"):
        pid = folder.name[len(FOLDER_PREFIX):].split("-", 1)[0]
        if not (pid.isdigit() and _alive(int(pid))):     # a live process's merge (ours too) removes its own
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
