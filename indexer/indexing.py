"""Indexing: report files to index documents, full builds and incremental syncs, with receipts."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import stat
import sys
import time
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterable

from indexer.analysis import cjk_grams, init_jieba, latin_words, ranking_words
from indexer.config import Settings
from indexer.documents import SourceFile, list_archive, read_document
from indexer.errors import BuildAbandoned, IndexUnavailable, ReadError
from indexer.metadata import extract_metadata
from indexer.pdftext import PdfLimits
from indexer.normalize import clean_inline, clean_report, fold
from indexer.markup import render_markdown
from indexer.merging import MergeJob
from indexer.messages import Message
from indexer.schema import pack_markup, pack_text
from indexer.store import IndexStore, join_parts, now_iso, write_part, writing

log = logging.getLogger(__name__)

RECENT_RECEIPTS = 200
# A pass that would delete at least this many documents and [index].hold_deletions_share of the
# index holds instead (an empty mount must not wipe the index).
HOLD_MIN_DOCUMENTS = 20
POOL_THRESHOLD = 64  # below this many files a worker pool costs more than it saves
# A build writes segments of at most this many documents: a worker's memory stays bounded.
PART_DOCS = 20_000


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def refuse_undecodable_names(listing: dict[str, SourceFile], failed: dict) -> tuple[list[Receipt], set[str]]:
    """Take files whose names are not valid UTF-8 out of `listing`, with a failed receipt.

    Such a name cannot be stored in the index or shown; the failure is recorded under a
    readable form of it (returned, so that a full sync keeps it), once per version of the file.
    """
    receipts, shown_names = [], set()
    for relpath in [p for p in listing if not _utf8(p)]:
        source = listing.pop(relpath)
        shown = relpath.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        shown_names.add(shown)
        known = failed.get(shown)
        if known and (known["size"], known["mtime"]) == (source.size, source.mtime):
            continue
        receipts.append(record_failure(failed, shown, Message("name_not_utf8"),
                                       source.size, source.mtime))
    return receipts, shown_names


def record_failure(failed: dict, relpath: str, reason: Message, size: int, mtime: float) -> Receipt:
    """Record in `failed` (the status's failed files) that this version of a file could not be
    indexed, and why (the English text, and the code and parameters the pages word): it is not
    read again until its size or mtime changes. Its receipt."""
    failed[relpath] = {"reason": reason.text(), "code": reason.code, "params": reason.params,
                       "size": size, "mtime": mtime, "at": now_iso()}
    return Receipt(relpath, "failed", reason=reason.text(), code=reason.code, params=reason.params)


def report_id(relpath: str) -> str:
    """The short stable id of a report: derived from its path relative to the archive root."""
    return hashlib.sha1(relpath.encode("utf-8")).hexdigest()[:12]


DEPARTED_KEPT = 5_000      # contents that left the archive, remembered (when they came, their id) in status.json


def paths_of(state: dict[str, "IndexedContent"]) -> dict[str, str]:
    """Every name of every document in a state, with the content hash it names."""
    return {p: h for h, doc in state.items() for p in doc.files}


def remember_departed(status: dict, content_hash: str, doc: "IndexedContent") -> None:
    """Keep when a content entered the archive and its id after its last file went (an unmounted
    share, a file moved out and back), so that both are the same when it returns."""
    departed = status.setdefault("departed", {})
    departed.pop(content_hash, None)
    departed[content_hash] = [doc.added_at, doc.id]
    while len(departed) > DEPARTED_KEPT:
        departed.pop(next(iter(departed)))


@dataclass(frozen=True)
class Receipt:
    """What happened to one file: queued, indexed, unchanged, duplicate, deleted or failed."""

    path: str
    status: str
    reason: str = ""
    id: str = ""
    at: str = field(default_factory=now_iso)
    code: str = ""      # the reason's message code (indexer.messages), "" without a reason
    params: dict = field(default_factory=dict)


@dataclass
class SyncResult:
    """The outcome of a build or sync: receipts, documents in the index, whether it committed."""

    receipts: list[Receipt]
    documents: int
    committed: bool
    seconds: float

    def count(self, status: str) -> int:
        return sum(1 for r in self.receipts if r.status == status)


@dataclass(frozen=True)
class PreparedReport:
    """One file read, cleaned and analysed: the stored fields of its index document and its postings."""

    content_hash: str
    kind: str
    title: str
    date: str           # YYYY-MM-DD or ""
    broker: str
    industry: str
    rating: str
    analysts: str       # the analysts' names joined by " / " (the analyst: filter's column)
    codes: str          # the stock codes joined by " / " (the code: filter's column)
    meta: dict          # analysts, rating_action, stock_codes, encoding, size, ranked_share, pages
    text: str           # schema.pack_text of the cleaned text
    body_len: int       # the text's body comes first, then boilerplate
    markup: str | None      # a Markdown report's rendered HTML (schema.pack_markup), or None
    analysis: dict      # what indexer.postings writes (see `analyse`)

    def stored_fields(self) -> dict:
        """The fields Whoosh keeps for this report (all but the analysis)."""
        return {name: getattr(self, name) for name in STORED_FIELDS}


STORED_FIELDS = [f.name for f in fields(PreparedReport) if f.name != "analysis"]


@dataclass
class IndexedContent:
    """One content in the index as a pass reconciles it: the names that hold it, when it entered
    the archive, and its report when this pass (re)writes it."""

    files: dict[str, tuple[int, float]]
    added_at: int        # milliseconds since the epoch
    report: PreparedReport | None = None
    id: str = ""         # the id it was given; kept while the content stays (links last)


def prepare_report(path: Path, root: Path, max_bytes: int, pdf_limits: PdfLimits = PdfLimits()) -> PreparedReport:
    """Read, clean, extract metadata and analyse one file: the fields of its index document."""
    raw = read_document(path, root, max_bytes, pdf_limits)
    meta = extract_metadata(raw.text, raw.front_matter, path.name, raw.title_hint, raw.cover_lines)
    cleaned = clean_report(raw.text, markdown=raw.kind == "md", laid_out=raw.kind == "pdf")
    title = clean_inline(meta.title or Path(raw.relpath).stem)
    text, body_len, pages = cleaned.text, cleaned.body_len, list(cleaned.pages)
    if title not in text[:1000].replace("\n", ""):
        # The title (e.g. from front matter) is part of what users search: make it part of the text.
        shift = len(title) + 1
        text, body_len = f"{title}\n{text}", body_len + shift
        pages = [(0, pages[0][1])] + [(at + shift, page) for at, page in pages[1:]] if pages else []
    if not text.strip():
        raise ReadError("no_text_left")
    folded = fold(text)
    markup = None
    if raw.kind == "md":
        rendered = render_markdown(raw.text, cleaned.boilerplate)
        if rendered.note != "plain":   # plain text reads the same as its cleaned paragraphs
            markup = pack_markup(rendered.body, rendered.boilerplate, rendered.note)
    return PreparedReport(
        content_hash=raw.content_hash,
        kind=raw.kind,
        title=title,
        date=meta.date,
        broker=meta.broker,
        industry=meta.industry,
        rating=meta.rating,
        analysts=" / ".join(a.name for a in meta.analysts),
        codes=" / ".join(meta.stock_codes),
        meta={
            "analysts": [[a.name, a.sac] for a in meta.analysts],
            "rating_action": meta.rating_action,
            "stock_codes": list(meta.stock_codes),
            "encoding": raw.encoding,
            "size": raw.size,
            # share of the text that ranks (the body before trailing disclaimers)
            "ranked_share": round(body_len / len(text), 4) if text else 0.0,
            # (offset, page) where each page of a PDF starts in the text
            "pages": [list(p) for p in pages] if raw.kind == "pdf" else [],
        },
        text=pack_text(text),
        body_len=body_len,
        markup=markup,
        analysis=analyse(folded, fold(title), body_len),
    )


def analyse(folded: str, folded_title: str, body_len: int) -> dict:
    """The postings of one document (see indexer.postings): matching n-grams (the bigrams with
    their offsets into `folded`, which must be the folded stored text, body then boilerplate,
    as indexer.view checks it) and Latin words over the whole text; jieba words of the body
    (boilerplate does not rank) and title."""
    return {
        "grams": cjk_grams(folded),
        "latin": set(latin_words(folded)),
        "words": ranking_words(folded[:body_len]),
        "title_words": ranking_words(folded_title),
    }


def _prepare_job(job: tuple[str, str, str, int, PdfLimits]) -> tuple[str, PreparedReport | None, str]:
    relpath, path, root, max_bytes, pdf_limits = job
    try:
        return relpath, prepare_report(Path(path), Path(root), max_bytes, pdf_limits), ""
    except ReadError as exc:
        return relpath, None, exc.message
    except Exception as exc:  # a bug in one file's handling must not stop the others
        return relpath, None, Message("internal_read_error", {"error": f"{type(exc).__name__}: {exc}"})


_progress = None


def _init_worker(cache_file: str, user_dict: str | None, progress=None) -> None:
    global _progress
    _progress = progress
    init_jieba(Path(cache_file), Path(user_dict) if user_dict else None)


def _write_part(job: tuple) -> tuple:
    """A build worker: analyse its share of the files and write them as one segment.

    Each group is one content (all the paths that hold it). Whoosh's writer is pure
    Python, so writing in the workers, not only tokenizing, is what uses both cores
    (the way whoosh.multiproc's multisegment writer does it, without pickling every
    document through temp files).
    """
    build_dir, groups, root, max_bytes, pdf_limits, now, known = job
    receipts, failed = [], {}

    def documents():
        for files in groups:
            paths = sorted(files)
            _, prepared, reason = _prepare_job((paths[0], str(Path(root) / paths[0]), root, max_bytes, pdf_limits))
            if _progress is not None:
                with _progress.get_lock():
                    _progress.value += len(paths)
            if prepared is None:
                receipts.extend(record_failure(failed, path, reason, *files[path]) for path in paths)
                continue
            added_at, given_id = known.get(prepared.content_hash) or (now, "")
            given_id = given_id or report_id(paths[0])
            yield prepared.analysis, dict(id=given_id, path=paths[0],
                                          files={p: list(v) for p, v in files.items()},
                                          added_at=added_at, indexed_at=now, **prepared.stored_fields())
            receipts.append(Receipt(paths[0], "indexed", id=given_id))
            receipts.extend(Receipt(p, "duplicate", reason=f"same content as {paths[0]}", id=given_id,
                                    code="same_content_as", params={"path": paths[0]}) for p in paths[1:])

    segment = write_part(Path(build_dir), documents())
    return segment, receipts, failed


def deal_parts(groups: dict[str, dict[str, tuple[int, float]]], workers: int,
               part_docs: int | None = None) -> list[list[str]]:
    """The contents of a build (content key -> {path: (size, mtime)}) dealt into parts, one worker
    process and one segment each: at most `part_docs` contents a part, as many parts as workers at
    least, and a multiple of `workers` so that no worker idles in the last round (5 parts on 2
    workers took 3 rounds of one part's time where 2.5 are needed: 100,000 documents built at
    213 documents/s where 20,000 built at 256). Dealt in turn, biggest first, so that the parts
    take about as long."""
    part_docs = part_docs or PART_DOCS      # read when called: build_bench.py --part-docs sets it
    ordered = sorted(groups, key=lambda key: -max(size for size, _ in groups[key].values()))   # stable: listing order
    rounds = -(-len(ordered) // (part_docs * workers))
    count = workers * max(1, rounds)
    return [ordered[i::count] for i in range(count)]


class Indexer:
    """The archive's only writer: keeps the index in line with the archive folder."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = IndexStore(settings)
        # The archive's state as of (build, generation): reused by the next sync when
        # nobody else committed in between, so a drop does not re-read every document.
        self._state: dict[str, IndexedContent] | None = None
        self._state_key: tuple[str, int] | None = None
        # paths_of(_state), kept in step by each sync: a drop looks up its own paths, where building
        # the map per sync visited every document (at 100,000 documents ~N ms a commit, twice).
        self._paths: dict[str, str] = {}
        self.root = settings.archive.root
        self.max_bytes = int(settings.archive.max_file_mb * 1024 * 1024)
        self.pdf_limits = PdfLimits(memory_mb=settings.archive.pdf_memory_mb, seconds=settings.archive.pdf_seconds)
        self.jieba_cache = settings.var_dir / "jieba.cache"
        self.allow_deletions = False   # set for one operator-confirmed sync of a mass deletion

    # -- reading the current state -------------------------------------------------------
    def _load_state(self, ix) -> dict[str, IndexedContent]:
        state: dict[str, IndexedContent] = {}
        with ix.reader() as reader:
            if reader.doc_count_all() == 0:
                return state    # an empty index has no columns (Whoosh's EmptyReader raises)
            hashes = reader.column_reader("content_hash")
            files = reader.column_reader("files")
            added = reader.column_reader("added_at")
            ids = reader.column_reader("id")
            for docnum in reader.all_doc_ids():
                content_hash = hashes[docnum]
                if isinstance(content_hash, bytes):
                    content_hash = content_hash.decode("utf-8")
                report_id_ = ids[docnum]
                state[content_hash] = IndexedContent(files={p: tuple(v) for p, v in (files[docnum] or {}).items()},
                                                     added_at=added[docnum],
                                                     id=report_id_.decode("utf-8") if isinstance(report_id_, bytes)
                                                     else report_id_ or "")
        return state

    # -- analysing files -----------------------------------------------------------------
    def _prepare_all(self, sources: list[SourceFile], progress: bool) -> Iterable[tuple[str, PreparedReport | None, str]]:
        jobs = [(s.relpath, str(s.path), str(self.root), self.max_bytes, self.pdf_limits) for s in sources]
        bar = None
        if progress and sys.stderr.isatty():
            from tqdm import tqdm
            bar = tqdm(total=len(jobs), unit="file", desc="indexing", file=sys.stderr)
        workers = self.settings.index.workers
        try:
            if workers > 1 and len(jobs) >= POOL_THRESHOLD:
                ctx = multiprocessing.get_context("spawn")
                user_dict = str(self.settings.index.user_dict) if self.settings.index.user_dict else None
                with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                         initargs=(str(self.jieba_cache), user_dict)) as pool:
                    try:
                        for result in pool.map(_prepare_job, jobs, chunksize=8):
                            if bar:
                                bar.update()
                            yield result
                    except BrokenProcessPool:
                        raise BuildAbandoned("a worker process reading reports died (killed, or out of "
                                             "memory?): nothing was committed") from None
            else:
                init_jieba(self.jieba_cache, self.settings.index.user_dict)
                for job in jobs:
                    result = _prepare_job(job)
                    if bar:
                        bar.update()
                    yield result
        finally:
            if bar:
                bar.close()

    # -- the one algorithm behind build and sync ------------------------------------------
    def _reconcile(self, ix, state: dict[str, IndexedContent], status: dict, listing: dict[str, SourceFile],
                   considered: set[str], progress: bool, writer_options: dict,
                   by_path: dict[str, str] | None = None) -> tuple[list[Receipt], bool]:
        """Bring the considered paths of the index (and of `state`) in line with `listing`: read what
        is new or changed, drop what is gone, commit once. The receipts, and whether it committed.

        `by_path`: paths_of(state), kept in step here with the changes made to `state`."""
        failed: dict = status.setdefault("failed", {})
        by_path = paths_of(state) if by_path is None else by_path
        receipts: list[Receipt] = []
        touched: set[str] = set()
        to_read: list[SourceFile] = []
        held = self._hold_deletions(by_path, state, listing, considered, status)
        for relpath in sorted(considered):
            source = listing.get(relpath)
            old_hash = by_path.get(relpath)
            if source is None and held and old_hash is not None:
                continue    # kept until the files return or an operator confirms (sync --allow-deletions)
            if source is None:
                if old_hash is not None:
                    del state[old_hash].files[relpath]
                    del by_path[relpath]
                    touched.add(old_hash)
                    receipts.append(Receipt(relpath, "deleted", id=report_id(relpath)))
                failed.pop(relpath, None)
                continue
            stamp = (source.size, source.mtime)
            if old_hash is not None and tuple(state[old_hash].files[relpath]) == stamp:
                continue
            known_failure = failed.get(relpath)
            if known_failure and (known_failure["size"], known_failure["mtime"]) == stamp:
                continue
            to_read.append(source)

        sources = {s.relpath: s for s in to_read}
        now = int(time.time() * 1000)
        taken_ids: set[str] | None = None     # the ids in use, read when a returning content needs it
        for relpath, prepared, reason in self._prepare_all(to_read, progress):
            source = sources[relpath]
            old_hash = by_path.pop(relpath, None)
            if old_hash is not None:
                del state[old_hash].files[relpath]
                touched.add(old_hash)
            if prepared is None:
                receipts.append(record_failure(failed, relpath, reason, source.size, source.mtime))
                continue
            failed.pop(relpath, None)
            content_hash = prepared.content_hash
            doc = state.get(content_hash)
            if doc is None:
                # A content that left the archive and came back keeps when it first came, and its id.
                added_at, known_id = (status.get("departed") or {}).pop(content_hash, None) or (now, "")
                if known_id:
                    if taken_ids is None:
                        taken_ids = {other.id for other in state.values() if other.id}
                    if known_id in taken_ids:
                        known_id = ""       # another content holds that id now: it keeps it
                    taken_ids.add(known_id)
                state[content_hash] = doc = IndexedContent(files={}, added_at=added_at, report=prepared, id=known_id)
                status_word = "indexed"
            elif content_hash == old_hash:
                status_word = "unchanged"   # touched but the same content
            else:
                status_word = "duplicate" if doc.files else "indexed"
                if doc.report is None:
                    doc.report = prepared
            doc.files[relpath] = (source.size, source.mtime)
            by_path[relpath] = content_hash
            touched.add(content_hash)
            other = sorted(p for p in doc.files if p != relpath)
            same = Message("same_content_as", {"path": other[0]}) if status_word == "duplicate" and other else None
            receipts.append(Receipt(relpath, status_word, reason=same.text() if same else "",
                                    id=doc.id or report_id(min(doc.files)),
                                    code=same.code if same else "", params=same.params if same else {}))

        if not touched:
            return receipts, False
        with writing(ix, **writer_options) as writer:
            writer.delete_contents(touched)
            for content_hash in sorted(touched):
                doc = state[content_hash]
                if not doc.files:
                    remember_departed(status, content_hash, doc)
                    del state[content_hash]
                    continue
                primary = min(doc.files)
                doc.id = doc.id or report_id(primary)
                if doc.report is None:
                    # Only the set of names changed: read the content again from its primary file.
                    _, prepared, reason = _prepare_job((primary, str(self.root / primary), str(self.root),
                                                        self.max_bytes, self.pdf_limits))
                    if prepared is None:
                        record_failure(failed, primary, reason, *doc.files[primary])
                        for relpath in doc.files:
                            del by_path[relpath]
                        del state[content_hash]
                        continue
                    doc.report = prepared
                writer.add(doc.report.analysis, id=doc.id, path=primary,
                           files={p: list(v) for p, v in doc.files.items()},
                           added_at=doc.added_at, indexed_at=now, **doc.report.stored_fields())
                doc.report = None
        return receipts, True

    def _hold_deletions(self, by_path: dict[str, str], state: dict[str, IndexedContent], listing: dict[str, SourceFile],
                        considered: set[str], status: dict) -> bool:
        """Whether this pass would delete most of the index: an unmounted share or an emptied folder
        looks like that. Such a pass keeps the documents and says so on status; it goes ahead only
        when `allow_deletions` is set (the CLI's `sync --allow-deletions`)."""
        missing = [p for p in considered if p not in listing and p in by_path]
        share = self.settings.index.hold_deletions_share
        gone: set[str] = set()
        if not self.allow_deletions and share < 1.0 and len(missing) >= HOLD_MIN_DOCUMENTS:
            # only then look at the documents (a drop's sync considers a few paths: this stays cheap)
            missing_set = set(missing)
            gone = {h for h in {by_path[p] for p in missing} if all(p in missing_set for p in state[h].files)}
        if len(gone) >= HOLD_MIN_DOCUMENTS and len(gone) >= share * len(state):
            if "held" not in status:
                log.warning("%d of %d documents vanished from %s at once: their deletion is held "
                            "(run `python -m indexer sync --allow-deletions` if it is meant)",
                            len(gone), len(state), self.root)
            status["held"] = {"missing": len(gone), "documents": len(state),
                              "since": (status.get("held") or {}).get("since") or now_iso()}
            return True
        status.pop("held", None)
        return False

    def _finish(self, status: dict, receipts: list[Receipt]) -> None:
        status["last_sync"] = now_iso()
        status.pop("start_error", None)     # the watcher's failed start is over
        recent = [asdict(r) for r in receipts] + list(status.get("recent", []))
        status["recent"] = recent[:RECENT_RECEIPTS]
        try:
            self.store.write_status(status)
        except OSError as exc:
            # The index is committed: that is what counts. The status (failed files, receipts) is
            # written again by the next sync, which finds the same failures.
            log.error("the index is up to date but its status could not be saved: %s", exc)

    def _build_parallel(self, build_dir: Path, ix, listing: dict[str, SourceFile], status: dict,
                        progress: bool) -> list[Receipt]:
        """Write the archive as one segment per worker process, then commit them together."""
        groups: dict[str, dict[str, tuple[int, float]]] = {}
        receipts: list[Receipt] = []
        for relpath, source in sorted(listing.items()):
            try:
                with open(source.path, "rb") as fh:
                    key = hashlib.file_digest(fh, "sha256").hexdigest()
            except OSError:
                key = f"unreadable:{relpath}"      # the worker reports why
            groups.setdefault(key, {})[relpath] = (source.size, source.mtime)
        workers = self.settings.index.workers
        parts = deal_parts(groups, workers)
        now = int(time.time() * 1000)
        ctx = multiprocessing.get_context("spawn")
        counter = ctx.Value("i", 0)
        user_dict = str(self.settings.index.user_dict) if self.settings.index.user_dict else None
        bar = None
        if progress and sys.stderr.isatty():
            from tqdm import tqdm
            bar = tqdm(total=len(listing), unit="file", desc="indexing", file=sys.stderr)
        segments = []
        known = status.get("departed") or {}
        # Each part gets only its own contents' past (when they came, their id): the whole of it is
        # every document of the index being rebuilt, pickled to every part and held by every worker.
        jobs = [(str(build_dir), [groups[key] for key in part], str(self.root), self.max_bytes, self.pdf_limits, now,
                 {key: known[key] for key in part if key in known})
                for part in parts if part]
        # A fresh process per part keeps memory bounded; unlike multiprocessing.Pool, the executor
        # reports a worker that died (killed, out of memory) instead of waiting for it for ever.
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, max_tasks_per_child=1,
                                 initargs=(str(self.jieba_cache), user_dict, counter)) as pool:
            futures = [pool.submit(_write_part, job) for job in jobs]
            try:
                while wait(futures, timeout=0.5).not_done:
                    if bar:
                        bar.update(counter.value - bar.n)
                for future in futures:
                    segment, part_receipts, failed = future.result()
                    if segment is not None:
                        segments.append(segment)
                    receipts.extend(part_receipts)
                    status["failed"].update(failed)
            except BrokenProcessPool:
                raise BuildAbandoned("a build worker process died (killed, or out of memory?): the build was "
                                     "abandoned and the live index is unchanged") from None
        if bar:
            bar.update(len(listing) - bar.n)
            bar.close()
        join_parts(ix, segments)
        receipts.sort(key=lambda r: r.path)
        return receipts

    def build(self, progress: bool = False) -> SyncResult:
        """Index the whole archive into a new generation and swap it in atomically."""
        started = time.perf_counter()
        listing = {s.relpath: s for s in list_archive(self.root)}
        previous = self._previous_contents()
        build_dir, ix = self.store.create_build()
        # A rebuild keeps each content's id and when it entered the archive (as a return does).
        status = {"failed": {}, "recent": [], "departed": previous}
        refused, _ = refuse_undecodable_names(listing, status["failed"])
        try:
            if self.settings.index.workers > 1 and len(listing) >= POOL_THRESHOLD:
                receipts = self._build_parallel(build_dir, ix, listing, status, progress)
            else:
                receipts, _ = self._reconcile(ix, {}, status, listing, set(listing), progress, {"limitmb": 256})
            receipts = refused + receipts
            departed = status["departed"]
            status["departed"] = dict(list(departed.items())[-DEPARTED_KEPT:])
            documents = ix.doc_count()      # read from the table of contents just committed
            ix.close()
            self.store.swap_in(build_dir)
        except BaseException:
            # Nothing of a failed build stays (a full disk gets its space back); the live one is untouched.
            ix.close()
            self.store.discard_build(build_dir)
            raise
        self._state = None
        self._finish(status, receipts)
        return SyncResult(receipts, documents, True, time.perf_counter() - started)

    def _previous_contents(self) -> dict[str, list]:
        """{content hash: [added_at, id]} of the live index before a rebuild ({} without one)."""
        try:
            ix = self.store.open()
        except IndexUnavailable:
            return {}
        try:
            return {h: [doc.added_at, doc.id] for h, doc in self._load_state(ix).items()}
        finally:
            ix.close()

    def _key(self, ix) -> tuple[str, int]:
        """What the state was read from: the live generation's folder and the index's generation."""
        return str(self.store.live_build()), ix.latest_generation()

    def _state_of(self, ix) -> dict[str, IndexedContent]:
        key = self._key(ix)
        if self._state is None or self._state_key != key:
            self._state = self._load_state(ix)
            self._paths = paths_of(self._state)
        self._state_key = None      # until this sync has committed what it changes (state and paths)
        return self._state

    def known_paths(self) -> set[str]:
        """Every name of every indexed document and every failed file: from the state the last
        sync left, read again from the index only when another writer committed since."""
        known = set(self.store.read_status().get("failed", {}))
        try:
            ix = self.store.open()
        except IndexUnavailable:
            return known
        try:
            key = self._key(ix)
            if self._state is None or self._state_key != key:
                self._state, self._state_key = self._load_state(ix), key
                self._paths = paths_of(self._state)
        finally:
            ix.close()
        known.update(self._paths)
        return known

    def changed_paths(self, listing: dict[str, SourceFile]) -> set[str] | None:
        """The paths a sync from `listing` (`sync(paths, sources=listing)`) has to look at: listed with
        another size or time than indexed, listed and not indexed (new or failed files), indexed or
        failed and not listed. None before this Indexer has read the index (then every path).

        The watcher's lister calls this beside the worker's syncs, so that a rescan of a large archive
        hands the worker only its changes (the comparison took 450 ms of the worker at 100,000 files).
        It only reads: a state a sync is changing meanwhile, or one another writer made stale, can
        add paths that turn out unchanged (the sync looks at each again), never leave a change out
        that the index does not already hold.
        """
        state, paths = self._state, self._paths
        if state is None:
            return None
        changed = set(self.store.read_status().get("failed", {}))
        for relpath, source in listing.items():
            content = state.get(paths.get(relpath, ""))
            stamp = content.files.get(relpath) if content is not None else None
            if stamp is None or tuple(stamp) != (source.size, source.mtime):
                changed.add(relpath)
        changed.update(p for p in list(paths) if p not in listing)
        return changed

    def merge_segments(self, isolated: bool = False) -> float:
        """Merge small segments by the store's size-tiered policy (store.small_segments); seconds taken.

        isolated: merge as the watcher does (`start_merge`, then `land_merge`), and wait for it. A
        merge holds every posting of the segments it merges as short-lived objects; in a long-running
        process the few objects that outlive each merge kept the allocator's arenas from being
        returned (the watcher grew about 30 MB over 400 changes while its live objects did not). A
        child's memory goes back to the system when it exits.
        """
        started = time.perf_counter()
        if isolated and hasattr(os, "fork"):
            job = self.start_merge()
            if job is not None:
                try:
                    job.wait()
                except BaseException:
                    job.cancel()
                    raise
                self.land_merge(job)
            return time.perf_counter() - started
        ix = self.store.open()
        try:
            key_before = self._key(ix)
            with writing(ix, merge=True):
                pass
            if self._state_key == key_before:
                self._state_key = self._key(ix)     # a merge changes segments, not the state
        finally:
            ix.close()
        return time.perf_counter() - started

    def start_merge(self) -> MergeJob | None:
        """Start merging the small segments in a child process that takes no lock (indexer.merging):
        this Indexer goes on syncing meanwhile, and `land_merge` commits the merge once the child
        is done. None when there is nothing to merge."""
        ix = self.store.open()
        try:
            return MergeJob.start(ix, Path(ix.storage.folder))
        finally:
            ix.close()

    def land_merge(self, job: MergeJob) -> bool:
        """Commit a merge whose child has ended, carrying over what was deleted meanwhile; False when
        it no longer applied (dropped). Raises MergeFailed when its child failed."""
        ix = self.store.open()
        try:
            key_before = self._key(ix)
            landed = job.land(ix)
            if landed and self._state_key == key_before:
                self._state_key = self._key(ix)     # a merge changes segments, not the state
            return landed
        finally:
            ix.close()

    def sync(self, paths: Iterable[str] | None = None, progress: bool = False, merge: bool = True,
             sources: dict[str, SourceFile] | None = None) -> SyncResult:
        """Bring the index in line with the folder (all of it, or only `paths`, relative).

        merge=False commits without merging segments (fast; see `merge_segments`).
        `sources`: a listing of the folder made a moment before (`list_archive`): a file it
        shows as indexed with the same size and time is not looked at again; any other path
        (changed, new, or missing from the listing) is, since the listing may be out of date.
        """
        started = time.perf_counter()
        if not self.store.exists():
            return self.build(progress)
        ix = self.store.open()
        try:
            state = self._state_of(ix)
            status = self.store.read_status()
            failed = status.setdefault("failed", {})
            if paths is None:
                listing = {s.relpath: s for s in list_archive(self.root)}
                refused, kept = refuse_undecodable_names(listing, failed)
                considered = (set(listing) | {p for d in state.values() for p in d.files}
                              | {p for p in failed if p not in kept})
            else:
                considered = set()
                listing = {}
                for relpath in set(paths):
                    source = sources.get(relpath) if sources is not None else None
                    indexed = self._paths.get(relpath)
                    if source is not None and indexed is not None and \
                            tuple(state[indexed].files[relpath]) == (source.size, source.mtime):
                        # indexed as listed: nothing to do, so not considered at all (a rescan's
                        # whole archive but its few changes: 0.7-0.9 s of the worker at 100,000)
                        continue
                    considered.add(relpath)
                    source = stat_source(self.root, relpath)    # what the listing says changed, looked at now
                    if source is not None:
                        listing[relpath] = source
                refused, _ = refuse_undecodable_names(listing, failed)
            receipts, committed = self._reconcile(ix, state, status, listing, considered, progress, {"merge": merge},
                                                  self._paths)
            receipts = refused + receipts
            departed = status["departed"]
            status["departed"] = dict(list(departed.items())[-DEPARTED_KEPT:])
            documents = ix.doc_count()      # read from the table of contents just committed
            self._state_key = self._key(ix)
        finally:
            ix.close()
        self._finish(status, receipts)
        return SyncResult(receipts, documents, committed, time.perf_counter() - started)


def stat_source(root: Path, relpath: str) -> SourceFile | None:
    """The SourceFile for one relative path if it is an indexable regular file inside root."""
    from indexer.documents import is_ignored

    parts = Path(relpath).parts
    if not parts or is_ignored(parts[-1]) or any(part.startswith(".") for part in parts[:-1]):
        return None
    path = root / relpath
    try:
        st = os.lstat(path)      # one system call: a symlink is not followed, not indexed
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return SourceFile(path=str(path), relpath=relpath, size=st.st_size, mtime=st.st_mtime)
