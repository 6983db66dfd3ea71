"""Build throughput profiled to jieba: a full build against jieba alone on the same archive, where
the build's CPU goes stage by stage, and the build of a baseline commit against this tree's, same run.

Usage: python bench/build_bench.py [--size 20000] [--archive DIR] [--baseline REV] [--rounds 1]
                                   [--stage-docs 2000] [--no-check]

The archive is scale_bench.py's synthetic archive of --size documents (bench/data/scale_<N>/archive,
written if missing), or any folder given with --archive. Everything runs in fresh processes, with
the code of either this tree or the baseline (`git archive REV indexer config.toml`, default main) first on
the path:
- jieba alone: `ranking_words` (jieba's cut_for_search) over the same folded bodies and titles
  the build cuts, in as many processes as the build's workers (2), each over every other
  document; the texts are prepared before the clock starts. Documents/s over the slower process.
- build: `Indexer(settings).build()`, workers=2, into a fresh index: wall, CPU seconds (the build's
  processes and their children: workers and their Markdown/PDF sandboxes), documents/s, peak RSS
  summed over the process tree (scale_bench.TreeMemory). Baseline and this tree alternate, --rounds
  times each; medians.
- stages: the per-document pipeline of a build (prepare_report, then the postings) run stage by stage
  in one process over the first --stage-docs documents, CPU seconds per stage (the Markdown sandbox
  child's CPU read from /proc), for both trees; Whoosh's share is the build's CPU per document less
  the stages' (it writes in the workers, interleaved with them).
- check: every document's stored fields (less indexed_at and added_at, times of the run) and
  postings (n-grams, Latin words, jieba words with their frequencies, lengths) digested per content
  in both indexes: the new build must write the same index.
Writes "Build throughput (build_bench.py)" in bench/REPORT.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections import defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
# Appended, not inserted: a phase runs with the tree under test first on PYTHONPATH.
if str(PROJECT) not in sys.path:
    sys.path.append(str(PROJECT))

SECTION = "Build throughput (build_bench.py)"
WORKERS = 2
TARGET_DOCS_PER_S = 400
DATA = BENCH / "data"
WORK = DATA / "build_bench"


# -- the phases (each in a fresh process, the tree under test first on the path) ------------------

def cpu_seconds() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def settings_for(archive: Path, index: Path):
    from indexer.config import DEFAULT_CONFIG, load_settings

    settings = load_settings(DEFAULT_CONFIG, environ={}, overrides={
        "archive": {"root": str(archive)}, "index": {"dir": str(index), "workers": WORKERS}})
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    shared_cache = DATA / "jieba.cache"     # jieba's dictionary cache: not a build cost
    if shared_cache.exists() and not (settings.var_dir / "jieba.cache").exists():
        shutil.copy(shared_cache, settings.var_dir / "jieba.cache")
    return settings


def phase_build(archive: Path, index: Path, part_docs: int = 0) -> dict:
    from indexer import indexing
    from indexer.indexing import Indexer

    if part_docs:
        # Smaller parts reproduce the dealing of a larger archive (100,000 documents: 5 parts of
        # 20,000) on a smaller one; the parent deals, so setting it here is enough.
        indexing.PART_DOCS = part_docs
    shutil.rmtree(index, ignore_errors=True)
    settings = settings_for(archive, index)
    cpu0 = cpu_seconds()
    started = time.perf_counter()
    result = Indexer(settings).build()
    wall = time.perf_counter() - started
    return {"documents": result.documents, "failed": result.count("failed"), "wall": wall,
            "cpu": cpu_seconds() - cpu0}


def folded_parts(path: Path, root: Path) -> tuple[str, str]:
    """The folded body and title a build cuts with jieba (prepare_report's steps up to analyse)."""
    from indexer.documents import read_document
    from indexer.metadata import extract_metadata
    from indexer.normalize import clean_inline, clean_report, fold

    raw = read_document(path, root, 1 << 30)
    meta = extract_metadata(raw.text, raw.front_matter, path.name, raw.title_hint, raw.cover_lines)
    cleaned = clean_report(raw.text, markdown=raw.kind == "md", laid_out=raw.kind == "pdf")
    title = clean_inline(meta.title or Path(raw.relpath).stem)
    text, body_len = cleaned.text, cleaned.body_len
    if title not in text[:1000].replace("\n", ""):
        text, body_len = f"{title}\n{text}", body_len + len(title) + 1
    return fold(text)[:body_len], fold(title)


def _jieba_worker(job: tuple) -> tuple[float, float]:
    archive, paths, cache, barrier = job
    from indexer.analysis import init_jieba, ranking_words

    init_jieba(Path(cache))
    texts = [folded_parts(Path(p), Path(archive)) for p in paths]
    barrier.wait()
    cpu0, started = time.process_time(), time.perf_counter()
    for body, title in texts:
        ranking_words(body)
        ranking_words(title)
    return time.process_time() - cpu0, time.perf_counter() - started


def phase_jieba(archive: Path, index: Path) -> dict:
    import multiprocessing

    from indexer.documents import list_archive

    settings = settings_for(archive, index)
    paths = [str(s.path) for s in list_archive(archive)]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    processes, queue = [], ctx.Queue()
    for i in range(WORKERS):
        job = (str(archive), paths[i::WORKERS], str(settings.var_dir / "jieba.cache"), barrier)
        process = ctx.Process(target=_queue_answer, args=(queue, job))
        process.start()
        processes.append(process)
    answers = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    return {"documents": len(paths), "cpu": sum(a[0] for a in answers), "wall": max(a[1] for a in answers)}


def _queue_answer(queue, job) -> None:
    queue.put(_jieba_worker(job))


def _sandbox_cpu() -> float:
    from indexer.sandbox import sandbox

    process = sandbox()._process
    if process is None:
        return 0.0
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def phase_stages(archive: Path, index: Path, count: int) -> dict:
    """CPU seconds per stage of the per-document pipeline over the first `count` documents."""
    from indexer import indexing
    from indexer.analysis import init_jieba, ranking_words
    from indexer.documents import list_archive, read_document
    from indexer.markup import render_markdown
    from indexer.metadata import extract_metadata
    from indexer.normalize import clean_inline, clean_report, fold
    from indexer.postings import PostingsBuilder
    from indexer.schema import pack_markup, pack_text

    settings = settings_for(archive, index)
    init_jieba(settings.var_dir / "jieba.cache")
    sources = list_archive(archive)[:count]
    cpu: dict[str, float] = defaultdict(float)
    clock = time.process_time
    builder = PostingsBuilder()
    render_markdown("*start the sandbox*", "")
    sandbox0 = _sandbox_cpu()
    # analyse() is timed less its jieba, timed before it: it finds the words already cut here.
    cut: dict[str, list[str]] = {}
    indexing.ranking_words = cut.__getitem__
    for source in sources:
        t0 = clock()
        raw = read_document(source.path, archive, 1 << 30)
        t1 = clock()
        meta = extract_metadata(raw.text, raw.front_matter, Path(source.path).name, raw.title_hint, raw.cover_lines)
        t2 = clock()
        cleaned = clean_report(raw.text, markdown=raw.kind == "md", laid_out=raw.kind == "pdf")
        title = clean_inline(meta.title or Path(raw.relpath).stem)
        text, body_len = cleaned.text, cleaned.body_len
        if title not in text[:1000].replace("\n", ""):
            text, body_len = f"{title}\n{text}", body_len + len(title) + 1
        t3 = clock()
        folded, folded_title = fold(text), fold(title)
        t4 = clock()
        rendered = render_markdown(raw.text, cleaned.boilerplate) if raw.kind == "md" else None
        t5 = clock()
        pack_text(text)
        if rendered is not None and rendered.note != "plain":
            pack_markup(rendered.body, rendered.boilerplate, rendered.note)
        t6 = clock()
        cut.clear()
        cut[folded[:body_len]], cut[folded_title] = ranking_words(folded[:body_len]), ranking_words(folded_title)
        t7 = clock()
        analysis = indexing.analyse(folded, folded_title, body_len)
        t8 = clock()
        builder.add(analysis)
        t9 = clock()
        pickle.dumps(analysis, pickle.HIGHEST_PROTOCOL)
        t10 = clock()
        for stage, seconds in (("read: file, decoding, front matter", t1 - t0), ("metadata", t2 - t1),
                               ("cleaning (normalize)", t3 - t2), ("folding", t4 - t3),
                               ("Markdown: split and send (worker side)", t5 - t4),
                               ("packing stored text and markup (Whoosh compresses them)", t6 - t5), ("jieba (ranking_words)", t7 - t6),
                               ("n-grams, bigram positions, Latin words (analyse less jieba)", t8 - t7),
                               ("PostingsBuilder.add", t9 - t8),
                               ("(pickling the analysis: not done by the build)", t10 - t9)):
            cpu[stage] += seconds
    indexing.ranking_words = ranking_words
    cpu["Markdown: rendering (sandbox child)"] = _sandbox_cpu() - sandbox0
    started = clock()
    with tempfile.TemporaryDirectory() as folder:
        builder.write(Path(folder) / "part.post")
    cpu["PostingsBuilder.write"] = clock() - started
    return {"documents": len(sources), "cpu": dict(cpu)}


def phase_digest(index: Path) -> dict:
    """{content_hash: digest of its stored fields and postings}, summarised: count and one digest."""
    from whoosh import index as whoosh_index

    from indexer.postings import FIELDS, SCORED_FIELDS, open_segment
    from indexer.store import INDEX_NAME

    build = (index / "live").resolve()
    ix = whoosh_index.open_dir(str(build), indexname=INDEX_NAME)
    per_doc: dict[str, list] = {}
    with ix.reader() as reader:
        leaves = reader.leaf_readers() if not reader.is_atomic() else [(reader, 0)]
        for leaf, base in leaves:
            hashes = {}
            column = leaf.column_reader("content_hash")     # stored too before schema 13: left out below
            for docnum, stored in leaf.iter_docs():
                fields = {k: v for k, v in stored.items() if k not in ("indexed_at", "added_at", "content_hash")}
                for name in ("text", "markup"):     # zlib'd bytes before schema 12, str since: the content
                    if isinstance(fields.get(name), bytes):
                        fields[name] = zlib.decompress(fields[name]).decode("utf-8")
                content_hash = column[docnum].decode("ascii") if isinstance(column[docnum], bytes) else column[docnum]
                hashes[docnum] = content_hash
                per_doc[content_hash] = [hashlib.sha256(pickle.dumps(sorted(fields.items()))).hexdigest()]
            postings = open_segment(build, leaf.segment().segment_id())
            try:
                sums = {name: defaultdict(int) for name in FIELDS}
                for name in FIELDS:
                    field_sums = sums[name]
                    for term, slot in postings.items(name):
                        ids, tfs = postings.decode(name, slot)
                        key = hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest()
                        term_hash = int.from_bytes(key, "little")
                        for i, docnum in enumerate(ids):
                            # a sum of per-term hashes: the same whatever the order of terms and segments
                            field_sums[docnum] += term_hash * (tfs[i] if tfs is not None else 1)
                for docnum, content_hash in hashes.items():
                    per_doc[content_hash] += [sums[name][docnum] % (1 << 64) for name in FIELDS]
                    per_doc[content_hash] += [postings.lengths[name][docnum] for name in SCORED_FIELDS]
            finally:
                postings.close()
    ix.close()
    overall = hashlib.sha256(json.dumps(sorted(per_doc.items())).encode("utf-8")).hexdigest()
    return {"documents": len(per_doc), "digest": overall}


# -- running the phases -------------------------------------------------------------------------

def baseline_tree(rev: str) -> Path:
    """The baseline's indexer/ extracted with `git archive` (read-only git) into WORK/baseline-<commit>."""
    commit = subprocess.run(["git", "--no-optional-locks", "rev-parse", "--short", rev], cwd=PROJECT,
                            capture_output=True, text=True, check=True).stdout.strip()
    tree = WORK / f"baseline-{commit}"
    if not (tree / "indexer").is_dir():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "--no-optional-locks", "archive", "--format=tar", commit, "indexer", "config.toml"],
                                 cwd=PROJECT, capture_output=True, check=True).stdout
        with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
    return tree


def run_phase(tree: Path, *args: str, memory: bool = False) -> dict:
    """A phase in a fresh interpreter with `tree` first on the path; its JSON answer (and peak tree RSS)."""
    from bench.scale_bench import TreeMemory

    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--phase", *args],
                               stdout=subprocess.PIPE, text=True, env=env)
    watch = TreeMemory(process.pid) if memory else None
    out, _ = process.communicate()
    peak = watch.stop() if watch else None
    if process.returncode != 0:
        raise SystemExit(f"phase {args} with {tree} failed (exit {process.returncode})")
    answer = json.loads(out.strip().splitlines()[-1])
    if peak is not None:
        answer["peak_mb"] = peak
    return answer


def archive_of(size: int) -> Path:
    from bench.scale_bench import pools, write_archive, folder_of

    write_archive(size, *pools())
    return folder_of(size) / "archive"


def stage_table(stages: dict[str, dict], builds: dict[str, dict]) -> str:
    from bench.common import md_table

    names = list(stages)
    new = stages[names[-1]]
    order = sorted(new["cpu"], key=lambda stage: -new["cpu"][stage])
    rows = []
    totals = {}
    for name in names:
        s = stages[name]
        counted = {k: v for k, v in s["cpu"].items() if not k.startswith("(")}
        per_doc_build = statistics.median(b["cpu"] / b["documents"] for b in builds[name])
        whoosh = per_doc_build - sum(counted.values()) / s["documents"]
        totals[name] = (sum(counted.values()) / s["documents"], whoosh, per_doc_build)
    for stage in order:
        cells = [stage]
        for name in names:
            s = stages[name]
            seconds = s["cpu"].get(stage, 0.0)
            per_doc = 1e3 * seconds / s["documents"]
            share = "" if stage.startswith("(") else f" ({100 * seconds / s['documents'] / totals[name][2]:.0f}%)"
            cells.append(f"{per_doc:.2f}{share}")
        rows.append(cells)
    rows.append(["Whoosh stored fields, columns, its own postings; joins, processes (the build's CPU less the stages)"]
                + [f"{1e3 * totals[n][1]:.2f} ({100 * totals[n][1] / totals[n][2]:.0f}%)" for n in names])
    rows.append(["**the build's CPU per document**"] + [f"**{1e3 * totals[n][2]:.2f}**" for n in names])
    return md_table(["stage (CPU ms per document)"] + names, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000, help="documents of scale_bench.py's synthetic archive")
    parser.add_argument("--archive", type=Path, help="build this folder instead of a synthetic archive")
    parser.add_argument("--baseline", default="main", help="git revision whose indexer/ is the baseline")
    parser.add_argument("--rounds", type=int, default=1, help="builds of each tree, alternating")
    parser.add_argument("--stage-docs", type=int, default=2000)
    parser.add_argument("--no-check", action="store_true", help="skip comparing the two indexes")
    parser.add_argument("--no-stages", action="store_true", help="skip the per-stage CPU table")
    parser.add_argument("--no-baseline", action="store_true", help="build with this tree only (no comparison)")
    parser.add_argument("--part-docs", type=int, default=0,
                        help="documents per part instead of indexing.PART_DOCS (to deal a small archive as a large one)")
    parser.add_argument("--section", default=SECTION, help="the REPORT.md section to write")
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        kind, *rest = args.phase
        if kind == "build":
            answer = phase_build(Path(rest[0]), Path(rest[1]), int(rest[2]))
        elif kind == "jieba":
            answer = phase_jieba(Path(rest[0]), Path(rest[1]))
        elif kind == "stages":
            answer = phase_stages(Path(rest[0]), Path(rest[1]), int(rest[2]))
        else:
            answer = phase_digest(Path(rest[0]))
        print(json.dumps(answer))
        return 0

    from bench.common import code_version, machine
    from bench.report import replace_section

    archive = args.archive.resolve() if args.archive else archive_of(args.size)
    trees = {f"baseline {args.baseline}": baseline_tree(args.baseline), "this tree": PROJECT}
    if args.no_baseline:
        trees = {"this tree": PROJECT}
    names = list(trees)
    index = {name: WORK / ("old" if i == 0 else "new") / "index" for i, name in enumerate(names)}
    load0 = os.getloadavg()[0]
    print(f"jieba alone over {archive} ...", file=sys.stderr, flush=True)
    jieba = run_phase(PROJECT, "jieba", str(archive), str(index[names[-1]]))
    print(f"  {jieba}", file=sys.stderr, flush=True)
    builds: dict[str, list[dict]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        for name in (names if round_ % 2 == 0 else names[::-1]):
            print(f"build, {name} (round {round_ + 1}) ...", file=sys.stderr, flush=True)
            build = run_phase(trees[name], "build", str(archive), str(index[name]), str(args.part_docs), memory=True)
            builds[name].append(build)
            print(f"  {build}", file=sys.stderr, flush=True)
    stages = {}
    for name in ([] if args.no_stages else names):
        print(f"stages, {name} ...", file=sys.stderr, flush=True)
        stages[name] = run_phase(trees[name], "stages", str(archive), str(WORK / "stages" / "index"),
                                 str(args.stage_docs))
    check = None
    if not args.no_check and len(names) > 1:
        print("comparing the indexes ...", file=sys.stderr, flush=True)
        digests = {name: run_phase(PROJECT, "digest", str(index[name])) for name in names}
        check = digests
        print(f"  {digests}", file=sys.stderr, flush=True)

    def med(name: str, key: str) -> float:
        return statistics.median(b[key] for b in builds[name])

    documents = builds[names[-1]][0]["documents"]
    jieba_rate = jieba["documents"] / jieba["wall"]
    jieba_cpu_ms = 1e3 * jieba["cpu"] / jieba["documents"]
    rows = []
    for name in names:
        rate = documents / med(name, "wall")
        cpu_ms = 1e3 * med(name, "cpu") / documents
        rows.append([name, f"{documents:,}", f"{med(name, 'wall'):.1f}", f"**{rate:.0f}**", f"{med(name, 'cpu'):.0f}",
                     f"{cpu_ms:.2f}", f"{WORKERS * 1e3 / cpu_ms:.0f}", f"{med(name, 'peak_mb'):,.0f}",
                     f"{jieba_rate / rate:.2f}×", f"**{cpu_ms / jieba_cpu_ms:.2f}×**"])
    from bench.common import md_table
    table = md_table(["code", "documents", "build wall s", "docs/s", "build CPU s", "CPU ms/doc",
                      f"docs/s on {WORKERS} free cores (from CPU)", "peak RSS MB (process tree)",
                      "build / jieba (wall)", "build / jieba (CPU)"], rows)
    lines = []
    if len(names) > 1:
        new_rate, old_rate = (documents / med(name, "wall") for name in (names[-1], names[0]))
        new_cpu, old_cpu = (med(name, "cpu") for name in (names[-1], names[0]))
        lines.append(f"This tree / baseline: **{new_rate / old_rate:.2f}×** the documents/s (wall), "
                     f"**{old_cpu / new_cpu:.2f}×** the documents per CPU second.")
    best = WORKERS * 1e3 / (1e3 * med(names[-1], "cpu") / documents)
    lines.append(f"Target {TARGET_DOCS_PER_S} documents/s: {documents / med(names[-1], 'wall'):.0f} measured (wall), "
                 f"{best:.0f} from CPU seconds on {WORKERS} free cores: "
                 f"{'met' if best >= TARGET_DOCS_PER_S else '**missed**'}.")
    if check:
        same = len({d["digest"] for d in check.values()}) == 1
        lines.append(f"**Same index:** {'yes' if same else '**NO**'} — every document's stored fields (less the "
                     f"times of the run) and postings (n-grams, Latin words, jieba words and title words with "
                     f"frequencies, lengths) digested per content: "
                     + "; ".join(f"{name}: {d['documents']:,} documents, digest {d['digest'][:12]}"
                                 for name, d in check.items()) + ".")
    parts = (f"parts of at most {args.part_docs:,} documents (set with --part-docs, to deal this archive as a larger "
             f"one is dealt)" if args.part_docs else "parts of at most indexing.PART_DOCS documents")
    body = f"""{machine()}; {code_version()}. Load average (1 min) {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end: other work shared the machine, so compare the ratios of this run, not times across runs; CPU seconds are steadier than wall time there.

Archive: {archive.name if args.archive is None else archive} ({documents:,} documents; {"scale_bench.py's synthetic archive" if args.archive is None else "given with --archive"}). Builds: `Indexer.build()`, workers={WORKERS}, {parts}, fresh index, each in its own process; {args.rounds} round(s) per tree, alternating, medians. Build CPU counts the build's processes and their children (workers, their Markdown/PDF sandboxes); peak RSS is summed over that process tree, sampled every 0.2 s.

**jieba alone** (the floor): `ranking_words` over the same folded bodies and titles, {WORKERS} processes of every other document: {jieba_rate:.0f} documents/s, {jieba_cpu_ms:.2f} CPU ms per document.

{table}

""" + "\n".join(lines) + "\n"
    if stages:
        body += f"""
**Where the CPU goes** (one process, the first {args.stage_docs:,} documents, each stage timed on its own; the Markdown sandbox child's CPU read from /proc):

{stage_table(stages, builds)}
"""
    replace_section(args.section, body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
