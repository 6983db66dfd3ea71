"""Where the index lives: generations on disk, the atomic swap, the status file, the writer."""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from itertools import chain
from pathlib import Path
from typing import Iterable, Iterator

from whoosh import index as whoosh_index
from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC, LockError, clean_files
from whoosh.reading import SegmentReader
from whoosh.writing import SegmentWriter

from indexer.config import Settings
from indexer import columns as report_columns
from indexer import integrity
from indexer.durable import write_atomic
from indexer.errors import IndexUnavailable
from indexer.postings import PostingsBuilder, open_segment, postings_path
from indexer.postings import verify as verify_postings
from indexer.schema import SCHEMA_VERSION, build_schema

# The Whoosh columns each segment's column file (indexer.columns) is written from.
COLUMN_NAMES = ("date", "broker", "industry", "rating", "analysts", "codes", "content_hash", "id", "added_at")

log = logging.getLogger(__name__)

INDEX_NAME = "reports"
MARKER_FILE = "archive-index.json"
WRITE_LOCK_WAIT = 30.0
STALE_BUILD_SECONDS = 6 * 3600
SMALL_SEGMENT_DOCS = 2_000      # see small_segments
TIER_MERGE_FACTOR = 4


def now_iso() -> str:
    """The current UTC time as an ISO 8601 string (milliseconds: an upload tells its receipt from
    one written earlier in the same second)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def write_json_atomic(path: Path, data: dict, durable: bool = True) -> None:
    """Write JSON through a temp file and a rename, so a reader never sees half a file;
    durable: synced to disk before the rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=1)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)         # a full disk must not also collect half-written files
        raise


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
        """Open the live index for reading or writing; a clear error if missing, outdated or damaged.

        Every file's size is checked against its manifest (indexer.integrity), and its CRC32 the first
        time this process opens it as it is now: damage is found here, not by a search.
        """
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
        build = self.live_build()
        self.check_damage(build)
        try:
            # Before Whoosh parses anything (a damaged table of contents can unpickle into nonsense).
            # A file gone is left to Whoosh and verify_postings below: a commit cleaning up the files
            # of an older generation meanwhile is no damage.
            integrity.verify(build, integrity.summed_names(build), missing_ok=True)
        except integrity.Damaged as damage:
            integrity.record_damage(build, damage, "open")
            raise IndexUnavailable(damage.message()) from None
        try:
            # supports_mmap=False: with a map, Whoosh copies each file it opens out of a segment's
            # compound file into a BytesIO (BufferFile), the stored-fields column among them (every
            # report's packed text): 3.9 KB a document in every searcher process at 100,000
            # (bench/memory_bench.py). Read from the file instead, it holds nothing per document.
            ix = FileStorage(str(build), supports_mmap=False).open_index(INDEX_NAME)
            with ix.reader() as reader:     # reads every segment's header (and fails on a missing file)
                segments = [leaf.segment() for leaf, _ in reader.leaf_readers()]
            for segment in segments:
                if segment is not None:     # an empty index has no segment
                    verify_postings(postings_path(build, segment.segment_id()))
                    report_columns.verify(report_columns.columns_path(build, segment.segment_id()))
            return ix
        except Exception as exc:  # whoosh raises many kinds for a damaged folder
            raise IndexUnavailable(f"index at {build} cannot be opened ({exc}): run `python -m indexer build`") from None

    def check_damage(self, build: Path | None = None, recheck: bool = False) -> None:
        """Raise IndexUnavailable when damage was found in the live generation (by any process);
        recheck: look at its files again first (sizes and mtimes; see integrity.recheck)."""
        build = build or self.live_build()
        if recheck:
            integrity.recheck(build)
        damage = integrity.recorded_damage(build)
        if damage is not None:
            raise IndexUnavailable(damage.message())

    def scrubber(self) -> integrity.Scrubber:
        """A background thread verifying the live generation's checksums at a low rate (not started)."""
        return integrity.Scrubber(self.live_build)

    def open_build(self, build: Path) -> whoosh_index.Index:
        """Open a generation folder that is not (yet) live."""
        return whoosh_index.open_dir(str(build), indexname=INDEX_NAME)

    def create_build(self) -> tuple[Path, whoosh_index.Index]:
        """A new, empty generation folder (not live until `swap_in`)."""
        self.builds.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        path = self.builds / f"{stamp}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
        path.mkdir()
        try:
            ix = whoosh_index.create_in(str(path), build_schema(), indexname=INDEX_NAME)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        return path, ix

    def discard_build(self, build: Path) -> None:
        """Remove a generation folder that failed, unless it is (already) the live one."""
        if self.live.exists() and self.live.resolve() == build.resolve():
            return
        shutil.rmtree(build, ignore_errors=True)

    def swap_in(self, build: Path) -> None:
        """Make `build` the live generation atomically, then drop all but the previous one."""
        write_json_atomic(build / MARKER_FILE, {"schema_version": SCHEMA_VERSION, "created": now_iso()})
        previous = self.live.resolve() if self.live.exists() else None
        tmp = self.root / f".live.{os.getpid()}.tmp"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        try:
            os.symlink(os.path.relpath(build, self.root), tmp)
            os.replace(tmp, self.live)
        except BaseException:
            if tmp.is_symlink():
                tmp.unlink()
            raise
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

    def write_status(self, status: dict, durable: bool = True) -> None:
        write_json_atomic(self.status_path, status, durable)


def toc_name(generation: int) -> str:
    """The name of a generation's table of contents without its extension (Whoosh's `_<index>_<gen>.toc`)."""
    return f"_{INDEX_NAME}_{generation}"


def write_segment_columns(storage, schema, segment) -> None:
    """The column file of a segment Whoosh has just written (indexer.columns), read from Whoosh's own
    columns of it: the new segment of a commit, a merge's or a build worker's. Reading them back costs
    about a second per 100,000 documents, once per segment, where every searcher read them at open."""
    reader = SegmentReader(storage, schema, segment)
    try:
        values = {name: list(reader.column_reader(name)) for name in COLUMN_NAMES}
    finally:
        reader.close()
    report_columns.write(report_columns.columns_path(storage.folder, segment.segment_id()), values)


def write_segment_sums(folder: str | Path, segment_id: str) -> None:
    """The checksum manifest of a segment whose files are complete: Whoosh's compound file, our postings and columns."""
    folder = Path(folder)
    *files, manifest = segment_files(segment_id)
    integrity.write_manifest(folder / manifest, {name: folder / name for name in files})


def _tier(documents: int) -> int:
    """A segment's size tier: the number of digits of its document count (1-9: 1, 10-99: 2, ...)."""
    return len(str(max(documents, 1)))


def small_segments(segments: list) -> list:
    """The segments a merge rewrites into one (a log-structured, size-tiered policy).

    Segments under SMALL_SEGMENT_DOCS documents (deleted ones included) fall in tiers by the
    order of magnitude of their size. The lowest tier present is merged once it holds two
    segments (the watcher asks after a burst of commits); a higher tier is merged, with all
    below it, once it holds TIER_MERGE_FACTOR segments, counting the one the merge below would
    add to it. So a document is rewritten about once per tier, and a tier holds at most
    TIER_MERGE_FACTOR - 1 segments: the count stays under 1 + 3 × (TIER_MERGE_FACTOR - 1)
    plus the commits since the last merge, however long the drops go on.

    Whoosh's MERGE_SMALL (a Fibonacci rule meant to run at every commit) merged only the five
    smallest once: the watcher let drops pile up 46 -> 189 segments under a steady change a
    second (soak bench). Merging every small segment each time rewrote a 300-report base
    segment every 8 drops (drop bench p99 475 -> 1,270 ms). Merging only the lowest crowded
    tier never merged the tier above it (the soak's segments grew 10 -> 23 in 5 minutes).
    """
    tiers: dict[int, list] = {}
    for segment in segments:
        count = segment.doc_count_all()
        if count < SMALL_SEGMENT_DOCS:
            tiers.setdefault(_tier(count), []).append(segment)
    lowest = min(tiers, default=0)
    upto = 0            # the highest tier to merge, with every small segment below it
    merged = 0          # the documents of those segments: their merge lands in _tier(merged)
    for tier in sorted(tiers):
        arriving = 1 if upto and _tier(merged) == tier else 0
        needed = 2 if tier == lowest else TIER_MERGE_FACTOR
        if len(tiers[tier]) + arriving >= needed:
            upto = tier
            merged = sum(s.doc_count_all() for t in tiers if t <= tier for s in tiers[t])
    return [s for tier in sorted(tiers) if tier <= upto for s in tiers[tier]] if upto else []


class _SegmentWriter(SegmentWriter):
    """Whoosh's segment writer, writing our postings file of the segment it commits.

    Whoosh's commit has no public hook between writing the new segment and writing the table of
    contents that makes it visible, and a file written earlier under the segment's name would be
    packed into the segment's compound file: the postings file is written in `_commit_toc`,
    Whoosh's step that writes the table of contents, before it.
    """

    def __init__(self, ix: whoosh_index.Index, **writer_options):
        super().__init__(ix, **writer_options)
        self.report_postings = PostingsBuilder()

    def per_document_reader(self):
        """Whoosh's reader of the new segment's per-document files, which its writer asks for the
        field length of each posting it writes (a block header keeps the shortest and longest): for a
        field that is not scored (none of ours is) it has no length column, and the reader looks for
        that file again at each posting, an os.stat (82,000 per 2,000 reports; store.write_part of 2,000
        synthetic reports 1.25 -> 1.14 CPU ms a report without them).
        Such a field's length is 0 (Whoosh's own answer without the column) without looking."""
        reader = super().per_document_reader()
        unscored = {name for name, field in self.schema.items() if not field.scorable}
        field_length = reader.doc_field_length

        def doc_field_length(docnum: int, fieldname: str, default: int = 0) -> int:
            return default if fieldname in unscored else field_length(docnum, fieldname, default)

        reader.doc_field_length = doc_field_length
        return reader

    def _commit_toc(self, segments):
        """Whoosh's _commit_toc with our files: the postings of the new segment, the checksums of every
        segment (a segment written before checksums gets them now), the table of contents written under
        a name Whoosh does not read, summed, and only then renamed into place."""
        folder = Path(self.storage.folder)
        if self.newsegment in segments:     # documents went in: Whoosh wrote the new segment
            self.report_postings.write(postings_path(folder, self.newsegment.segment_id()))
            write_segment_columns(self.storage, self.schema, self.newsegment)
        for segment in segments:
            if not integrity.manifest_path(folder, segment.segment_id()).exists():
                write_segment_sums(folder, segment.segment_id())
        pending = f"{INDEX_NAME}.pending"      # not a name Whoosh reads or cleans up
        staged = folder / TOC._filename(pending, self.generation)
        toc = folder / TOC._filename(INDEX_NAME, self.generation)
        sums = integrity.manifest_path(folder, toc_name(self.generation))
        staged.unlink(missing_ok=True)      # left by a commit that failed (a full disk): Whoosh will not overwrite it
        try:
            TOC(self.schema, segments, self.generation).write(self.storage, pending)
            integrity.write_manifest(sums, {toc.name: staged})
            os.replace(staged, toc)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        clean_files(self.storage, self.indexname, self.generation, segments)
        for old in chain(folder.glob(f"_{INDEX_NAME}_*{integrity.SUFFIX}"), folder.glob(f"_{pending}_*")):
            if old.name != sums.name:
                old.unlink(missing_ok=True)     # older generations' (and a crashed commit's) leftovers


def _merge_policy(choose):
    """A merge policy for Whoosh's commit (`policy(writer, segments) -> segments kept`): the segments
    `choose` picks are read into the new segment, their stored fields, columns and postings files."""
    def policy(writer: _SegmentWriter, segments: list) -> list:
        chosen = choose(segments)
        for segment in chosen:
            _add_segment(writer, writer.storage, segment)
        return [s for s in segments if s not in chosen]
    return policy


def _add_segment(writer: _SegmentWriter, storage, segment, live: list[int] | None = None) -> None:
    """Append the live documents of `segment` (in `storage`; `live`: its live documents, by default
    as its deletions say now) to the segment `writer` writes: Whoosh's stored fields and columns,
    our postings."""
    postings = open_segment(storage.folder, segment.segment_id())
    reader = SegmentReader(storage, writer.schema, segment)
    try:
        writer.add_reader(reader)       # the segment's live documents, in order
        writer.report_postings.add_segment(postings, list(reader.all_doc_ids()) if live is None else live)
    finally:
        reader.close()
        postings.close()


def _merge_all(segments: list) -> list:
    return list(segments)


def _merge_none(segments: list) -> list:
    return []


class ReportWriter:
    """A Whoosh segment writer plus the postings file of the segment it writes.

    Documents are added with their analysis (`indexer.indexing.analyse`); Whoosh gets the
    stored fields and columns, the PostingsBuilder the postings. `commit` is Whoosh's own, with
    our merge policy (`_merge_policy`: the segments merged carry their postings over) in place
    of its MERGE_SMALL, and our postings file written with the new segment (`_SegmentWriter`).
    """

    def __init__(self, writer: _SegmentWriter):
        self.writer = writer

    def add(self, analysis: dict, **fields) -> None:
        self.writer.add_document(**fields)
        self.writer.report_postings.add(analysis)

    def delete_contents(self, hashes: Iterable[str]) -> int:
        """Delete the committed documents holding these contents (by content hash); how many.

        Whoosh indexes no field (indexer.schema): each segment's column file has its documents' hashes.
        A document added by this writer is not among them (as with Whoosh's delete_by_term)."""
        writer, wanted = self.writer, list(hashes)
        deleted = base = 0
        for segment in writer.segments:
            columns = report_columns.open_segment(writer.storage.folder, segment.segment_id())
            try:
                found = columns.holding("hash", wanted).tolist()
            finally:
                columns.close()
            for local in found:
                if not segment.is_deleted(local):
                    writer.delete_document(base + local)
                    deleted += 1
            base += segment.doc_count_all()
        return deleted

    def commit(self, merge: bool = True, optimize: bool = False) -> None:
        """Commit, merging the small segments by the size-tiered `small_segments` (merge=True),
        every segment (optimize) or none (merge=False)."""
        choose = _merge_all if optimize else small_segments if merge else _merge_none
        self.writer.commit(mergetype=_merge_policy(choose))

    def cancel(self) -> None:
        """Drop what this writer added and release the write lock, whatever state the failure left.

        Closing the segment's files can fail again (a full disk: Whoosh flushes the document it
        holds; a file already closed by the failed write raises ValueError). That is logged, never
        raised: the lock must be released and the caller's original error is the one to report.
        """
        writer = self.writer
        if writer.is_closed:
            return
        try:
            writer.cancel()
        except Exception as exc:
            log.debug("closing the cancelled segment failed (%s: %s); its files are dropped at the next commit",
                      type(exc).__name__, exc)
            _close_segment_files(writer)
            # Whoosh's cancel stops at its first error, still holding the lock and its temp folder:
            # its last step (_finish: drop the temp folder, release the lock) is called here, and
            # when that fails too (a full disk) the lock is released by hand. No public call does it.
            try:
                writer._finish()
            except Exception as exc:
                log.debug("cleaning up the cancelled writer failed (%s: %s)", type(exc).__name__, exc)
                if writer.writelock is not None:
                    writer.writelock.release()
                writer.is_closed = True


def _close_segment_files(writer: _SegmentWriter) -> None:
    """Close the files of the segment a failed writer was writing, errors ignored.

    Whoosh's cancel stops at its first error (on a full disk: flushing the first of them), leaving
    the others open: its per-document writer's temporary compound file, its field writer's terms
    and postings. They stay open until the garbage collector frees the writer, which the failure's
    traceback holds in reference cycles; deleted with the failed build's folder but still open, they
    keep their space, and a full disk does not get it back (test_faults: a build failing on a full
    disk). How soon the collector ran depended on how many objects the build had made meanwhile.
    """
    perdoc, fields = writer.perdocwriter, writer.fieldwriter
    for file in (perdoc._cols._temp, perdoc._vpostfile, fields._tindex.dbfile, fields._postfile):
        if file is not None and not file.is_closed:
            try:
                file.close()        # the file it wraps is closed even when flushing it fails
            except Exception as exc:
                log.debug("closing a file of the cancelled segment failed (%s: %s)", type(exc).__name__, exc)


def open_writer(ix: whoosh_index.Index, **writer_options) -> _SegmentWriter:
    """A writer of `ix` (what `ix.writer()` makes, plus our postings), waiting up to
    WRITE_LOCK_WAIT for another writer's lock."""
    try:
        return _SegmentWriter(ix, timeout=WRITE_LOCK_WAIT, delay=0.1, **writer_options)
    except LockError:
        raise IndexUnavailable(f"the index is locked by another writer for over {WRITE_LOCK_WAIT:.0f} s") from None


@contextmanager
def writing(ix: whoosh_index.Index, merge: bool = True, optimize: bool = False, **writer_options) -> Iterator[ReportWriter]:
    """A ReportWriter that commits when the block ends and cancels on any error.

    merge=False leaves small segments unmerged: a commit then costs only the new
    documents (the watcher merges later, when the folder is quiet).
    """
    writer = ReportWriter(open_writer(ix, **writer_options))
    try:
        yield writer
        writer.commit(merge=merge, optimize=optimize)
    except BaseException:
        writer.cancel()
        raise


def write_part(build: Path, documents: Iterable[tuple[dict, dict]]):
    """Write (analysis, fields) pairs as one segment of a build, not committed: the build's
    worker processes each write one, and `join_parts` commits them together. Returns the
    segment, or None when no document went in.

    Whoosh has no public call for this; whoosh.multiproc uses the same private ones: a writer
    without the lock (_lk=False: the workers write side by side, the parent commits) and
    `_finalize_segment` (a commit without a table of contents) or `_close_segment`. Whoosh's
    `_finish` stays the parent's: it removes the temp folder the workers share.
    """
    ix = whoosh_index.open_dir(str(build), indexname=INDEX_NAME)
    writer = _SegmentWriter(ix, _lk=False, limitmb=256)
    try:
        for analysis, fields in documents:
            writer.add_document(**fields)
            writer.report_postings.add(analysis)
        if not writer.doc_count():
            writer._close_segment()
            return None
        segment = writer._finalize_segment()
        writer.report_postings.write(postings_path(writer.storage.folder, segment.segment_id()))
        write_segment_columns(writer.storage, writer.schema, segment)
        write_segment_sums(writer.storage.folder, segment.segment_id())
        return segment
    except BaseException:
        writer._close_segment()
        raise
    finally:
        ix.close()


def join_parts(ix: whoosh_index.Index, segments: list) -> None:
    """Commit the segments a build's workers wrote (`write_part`) as the index's content."""
    writer = ReportWriter(open_writer(ix))
    try:
        writer.writer.commit(mergetype=lambda _writer, existing: existing + segments)
    except BaseException:
        writer.cancel()
        raise


def current_segments(ix: whoosh_index.Index) -> list:
    """The segments of `ix`'s latest table of contents: objects of their own, which later commits do
    not change (each commit reads the table of contents anew)."""
    return ix._read_toc().segments


MERGED_SEGMENT_FILE = "segment.pickle"     # in a merge's folder: the segment object its table of contents will hold


def write_merged(build: Path, schema, segments: list, live: list[list[int]], folder: Path) -> None:
    """Write the `live` documents of `segments` of generation `build`, in order, as one new segment in
    `folder` (indexer.merging: a child process, beside the index's writer): Whoosh's segment file, our
    postings and columns, the checksums, all synced to disk, then the segment object (pickled).

    The same private calls as `write_part`, in a folder of its own: a writer without the lock
    (_lk=False: the index's writer commits meanwhile) and `_finalize_segment`. Its own folder because
    each commit's clean-up removes the files of segments not in its table of contents, and Whoosh's
    temporary folder has one name per index (a commit meanwhile would remove it).
    """
    storage = FileStorage(str(build), supports_mmap=False)
    target = whoosh_index.create_in(str(folder), schema, indexname=INDEX_NAME)
    writer = _SegmentWriter(target, _lk=False)
    try:
        for segment, documents in zip(segments, live):
            _add_segment(writer, storage, segment, documents)
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
    write_atomic(folder / MERGED_SEGMENT_FILE, [pickle.dumps(merged)])


def commit_merged(ix: whoosh_index.Index, folder: Path, sources: list[str], live: list[list[int]]) -> bool:
    """Commit the segment `write_merged` left in `folder` in place of the segments `sources` of `ix`,
    whose live documents were `live` when it began. Under the write lock: the documents deleted in
    the sources since are deleted in it too (never merged back to life), its files are renamed into
    the generation, and the table of contents is committed. False, committing nothing, when a source
    is no longer in the index (another writer merged it)."""
    merged = pickle.loads((folder / MERGED_SEGMENT_FILE).read_bytes())
    writer = ReportWriter(open_writer(ix))
    try:
        current = {s.segment_id(): s for s in writer.writer.segments}
        if any(source not in current for source in sources):
            writer.cancel()
            return False
        carry_deletions(merged, [current[s] for s in sources], live)
        for name in segment_files(merged.segment_id()):
            os.replace(folder / name, Path(writer.writer.storage.folder) / name)
        merged_ids = set(sources)
        writer.writer.commit(mergetype=lambda _writer, existing:
                             [s for s in existing if s.segment_id() not in merged_ids] + [merged])
    except BaseException:
        writer.cancel()
        raise
    return True


def carry_deletions(merged, sources: list, live: list[list[int]]) -> int:
    """Delete from a merged segment the documents deleted in its sources since the merge began
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


def segment_files(segment_id: str) -> list[str]:
    """The files of one segment: Whoosh's compound file, our postings and columns, the checksum
    manifest (last: it vouches for the others)."""
    return [f"{segment_id}.seg", postings_path("", segment_id).name,
            report_columns.columns_path("", segment_id).name, integrity.manifest_path(Path(""), segment_id).name]
