"""Searcher memory: a warm searcher's RSS and what holds it, this tree against a baseline tree, same run.

Usage: python bench/memory_bench.py --index DIR --baseline-tree TREE --baseline-index DIR
                                    [--archive DIR] [--rounds 3] [--derive]
                                    [--small ARCHIVE INDEX BASELINE_INDEX] [--no-report]

TREE is a checkout (a git worktree) of the baseline commit; each index folder is an index of the same
archive built by its own code (`python -m indexer build` with [index].dir = DIR), or, with --derive,
this tree's made from the baseline's (derive_index). --small: a smaller archive's pair of indexes too,
for the growth of RSS per 1,000 documents between the two sizes. Every measurement
runs in a fresh interpreter whose sys.path starts with its tree, the baseline's and this tree's
processes alternating (`--rounds` of each), so both see the same machine load; figures are medians
over the rounds and speed is compared as ratios (this tree / baseline), never as single times.

Per process: an ArchiveSearcher over the index, scale_bench.py's query set (search_bench.py's
queries, size 10: total, facets, snippets), one warm-up pass, then RSS and PSS (/proc/PID/smaps_rollup:
shared pages, e.g. a memory-mapped file two workers read, count half in each) after it; three timed
passes (p50/p99 over the per-query medians); the facet step alone (`ArchiveSearcher._facets` on each
query's matched documents, the summed median of three runs). One more process per tree walks the warm
searcher's structures (sys.getsizeof over the view's attributes, the text cache, the postings cache,
the learned pairs; tracemalloc for what Whoosh's reader allocated) for the bytes per document of each.
Each process also digests its answers (total, hit ids, facets) to each query: the trees must agree.
Writes "Searcher memory (memory_bench.py)" in bench/REPORT.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if os.environ.get("MEMORY_BENCH_TREE"):     # a measuring child: the code of the tree it measures first
    sys.path.insert(0, os.environ["MEMORY_BENCH_TREE"])

from bench.common import percentile  # noqa: E402
from bench.report import replace_section  # noqa: E402

HERE = Path(__file__).resolve().parent.parent
SECTION = "Searcher memory (memory_bench.py)"
DEFAULT_ARCHIVE = HERE / "bench" / "data" / "scale_100000" / "archive"
TIMED_PASSES = 3
PARTS = ("columns", "live", "deleted", "day", "date", "added", "hash", "lengths", "by value", "text cache",
         "postings cache", "learned pairs", "whoosh reader")


# -- one process: measured with the tree it was started from -------------------------------------

def settings_for(index: Path, archive: Path):
    from indexer.config import DEFAULT_CONFIG, load_settings
    return load_settings(DEFAULT_CONFIG, environ={}, overrides={
        "archive": {"root": str(archive)}, "index": {"dir": str(index), "workers": 2}})


def smaps_mb(pid: int) -> dict:
    """Rss and Pss of a process in MB (/proc/PID/smaps_rollup)."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            out[key.lower()] = int(rest.split()[0]) / 1024
    return out


def warm_searcher(index: Path, archive: Path):
    """A searcher over the index after one pass of the query set; (searcher, settings, queries, ms of that pass)."""
    from bench.scale_bench import query_set
    from indexer.query import parse_request
    from indexer.search import ArchiveSearcher

    settings = settings_for(index, archive)
    searcher = ArchiveSearcher(settings)
    import indexer
    assert Path(indexer.__file__).resolve().is_relative_to(Path(os.environ.get("MEMORY_BENCH_TREE", HERE)).resolve())
    searcher.view()
    queries = query_set(searcher, settings)
    answers = []
    for params in queries:
        answer = searcher.search(parse_request({**params, "size": 10}, settings))
        answers.append(json.dumps([answer["total"], [h["id"] for h in answer["hits"]], answer["facets"]], ensure_ascii=False))
    searcher.answers = answers      # what each query answered: the trees must agree
    return searcher, settings, queries


def measure_search(index: Path, archive: Path) -> dict:
    """RSS/PSS of a warm searcher, search p50/p99 and the facet step's time over the query set."""
    from bench.search_bench import timed
    from indexer.query import parse_query, parse_request

    searcher, settings, queries = warm_searcher(index, archive)
    memory = smaps_mb(os.getpid())
    samples: list[list[float]] = [[] for _ in queries]
    for _ in range(TIMED_PASSES):
        for i, params in enumerate(queries):
            samples[i].append(timed(searcher.search, parse_request({**params, "size": 10}, settings))[0])
    medians = [statistics.median(ms) for ms in samples]
    view = searcher.view()
    facet_ms = 0.0
    for params in queries:
        request = parse_request({**params, "size": 10}, settings)
        query = parse_query(request.q, settings.search.max_terms)
        selected = searcher._facet_docs(view, request)
        unselected = searcher._match(view, query, request)
        docs = unselected
        for found in selected.values():
            docs = docs & found
        facet_ms += statistics.median(timed(searcher._facets, view, selected, unselected, docs)[0] for _ in range(3))
    return {"documents": view.doc_count, "queries": len(queries), "rss_mb": memory["rss"], "pss_mb": memory["pss"],
            "p50": percentile(medians, 50), "p99": percentile(medians, 99), "facet_ms": facet_ms,
            "answers": [hashlib.sha1(a.encode("utf-8")).hexdigest()[:12] for a in searcher.answers]}


def deep_size(obj, seen: set) -> int:
    """Bytes of an object and what it holds (containers, arrays; a numpy view over a map counts its header only)."""
    import numpy as np

    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, memoryview):     # over a numpy array of the view's (counted) or a map (not)
        return size + (deep_size(obj.obj, seen) if isinstance(obj.obj, np.ndarray) else 0)
    if isinstance(obj, np.ndarray):
        return size if obj.base is not None else max(size, obj.nbytes)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        size += sum(deep_size(v, seen) for v in obj)
    elif hasattr(obj, "mask") and hasattr(obj, "_flags"):      # LiveDocs
        size += deep_size(obj.mask, seen)
    return size


def measure_parts(index: Path, archive: Path) -> dict:
    """Bytes per document of each structure a warm searcher holds."""
    import tracemalloc

    tracemalloc.start()
    searcher, _, _ = warm_searcher(index, archive)
    view = searcher.view()
    docs = max(len(view.live_mask) if hasattr(view, "live_mask") else len(view.columns["date"]), 1)
    seen: set = set()
    parts = {}
    cache = getattr(searcher, "_segment_columns", {})
    columns = [getattr(view, "columns", None)] + [
        {k: v for k, v in values.items() if k not in ("postings", "columns")} for values in cache.values()]
    parts["columns"] = deep_size(columns, seen)
    for name, attr in (("live", "live"), ("deleted", "deleted"), ("day", "day"), ("date", "date"), ("added", "added"),
                       ("lengths", "lengths"), ("by value", "_by_value")):
        value = getattr(view, attr, None)
        parts[name] = deep_size(value, seen) if value is not None else 0
    hashes = view.hash
    parts["hash"] = deep_size(hashes, seen) if isinstance(hashes, list) else 0
    parts["text cache"] = deep_size(searcher._texts.entries, seen)
    parts["postings cache"] = deep_size(view._postings, seen) + deep_size(view._weights, seen)
    parts["learned pairs"] = deep_size(searcher._learned, seen)
    snapshot = tracemalloc.take_snapshot()
    whoosh = sum(stat.size for stat in snapshot.statistics("filename") if "/whoosh/" in stat.traceback[0].filename)
    parts["whoosh reader"] = whoosh
    return {"documents": docs, "bytes": parts, "text_cache_chars": searcher._texts.size,
            "traced_mb": tracemalloc.get_traced_memory()[0] / 2**20}


def derive_index(baseline_index: Path, index: Path) -> float:
    """This tree's index made from the baseline's (built by the baseline's code, schema 10): a copy with
    each segment's column file written by store.write_segment_columns, the function every commit calls,
    its manifest summed again and the marker's schema version set. The same segments and postings, so
    the comparison is of the searchers alone. Seconds taken."""
    from whoosh import index as whoosh_index

    from indexer.schema import SCHEMA_VERSION
    from indexer.store import INDEX_NAME, MARKER_FILE, write_segment_columns, write_segment_sums

    shutil.rmtree(index, ignore_errors=True)
    shutil.copytree(baseline_index, index, symlinks=True)
    build = (index / "live").resolve()
    started = time.perf_counter()
    ix = whoosh_index.open_dir(str(build), indexname=INDEX_NAME)
    with ix.reader() as reader:
        segments = [leaf.segment() for leaf, _ in reader.leaf_readers() if leaf.segment() is not None]
    for segment in segments:
        write_segment_columns(ix.storage, ix.schema, segment)
        write_segment_sums(build, segment.segment_id())
    marker = build / MARKER_FILE
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "schema_version": SCHEMA_VERSION}))
    return time.perf_counter() - started


def run_phase(tree: Path, phase: str, index: Path, archive: Path) -> dict:
    """A phase in a fresh interpreter on `tree`'s code; its JSON answer."""
    env = {**os.environ, "PYTHONPATH": str(tree), "MEMORY_BENCH_TREE": str(tree)}
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--index", str(index),
                          "--archive", str(archive)], env=env, cwd=tree, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the report ---------------------------------------------------------------------------------------

def git_commit(tree: Path) -> str:
    return subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                          text=True).stdout.strip()


def report(base: list[dict], new: list[dict], parts: dict, base_tree: Path, archive: Path, small: dict | None) -> str:
    med = lambda rows, key: statistics.median(r[key] for r in rows)     # noqa: E731
    ratio = lambda key: statistics.median(n[key] / b[key] for b, n in zip(base, new))   # noqa: E731
    docs = new[0]["documents"]
    lines = [
        f"Baseline {git_commit(base_tree)} (its own index) against this tree {git_commit(HERE)} (its own index), "
        f"both over the same {docs:,}-document synthetic archive ({archive.relative_to(HERE) if archive.is_relative_to(HERE) else archive}, "
        f"scale_bench.py's). {len(base)} fresh processes of each, alternating; figures are medians over them, "
        f"ratios the median of each round's new/baseline. A warm searcher: one pass of scale_bench.py's query set "
        f"({new[0]['queries']} queries, size 10 with total, facets, snippets) before RSS/PSS are read.",
        "",
        "| | baseline | columns | new / baseline |",
        "|---|---:|---:|---:|",
        f"| searcher RSS after the query set | {med(base, 'rss_mb'):,.0f} MB | {med(new, 'rss_mb'):,.0f} MB | {ratio('rss_mb'):.2f} |",
        f"| searcher PSS (shared pages split between their processes) | {med(base, 'pss_mb'):,.0f} MB | {med(new, 'pss_mb'):,.0f} MB | {ratio('pss_mb'):.2f} |",
        f"| search p50 | {med(base, 'p50'):.1f} ms | {med(new, 'p50'):.1f} ms | {ratio('p50'):.2f} |",
        f"| search p99 | {med(base, 'p99'):.1f} ms | {med(new, 'p99'):.1f} ms | {ratio('p99'):.2f} |",
        f"| facet step, summed over the query set | {med(base, 'facet_ms'):.1f} ms | {med(new, 'facet_ms'):.1f} ms | {ratio('facet_ms'):.2f} |",
    ]
    if small and small["new"][0]["documents"] < docs:
        few = small["new"][0]["documents"]
        grow = {tree: (med(rows, "rss_mb") - small[tree][0]["rss_mb"]) / (docs - few) * 1000
                for tree, rows in (("base", base), ("new", new))}
        lines.append(f"| RSS growth per 1,000 documents ({few:,} → {docs:,}, one process each at {few:,}) | "
                     f"{grow['base']:.2f} MB | {grow['new']:.2f} MB | {grow['new'] / grow['base']:.2f} |")
        lines.append(f"| searcher RSS at {few:,} documents | {small['base'][0]['rss_mb']:,.0f} MB | "
                     f"{small['new'][0]['rss_mb']:,.0f} MB | {small['new'][0]['rss_mb'] / small['base'][0]['rss_mb']:.2f} |")
    lines += [
        "",
        f"Answers (total, the ids of the 10 hits, every facet's values and counts): the same for "
        f"{sum(a == b for a, b in zip(base[0]['answers'], new[0]['answers']))} of {len(new[0]['answers'])} queries.",
        "",
        "What a warm searcher holds, bytes per document (sys.getsizeof walks of the view's structures; Whoosh's "
        "reader by tracemalloc; a structure counted once where two hold it; a numpy view over a mapped file counts "
        "its header only: its pages are the page cache's, shared by every process):",
        "",
        "| structure | baseline B/doc | columns B/doc |",
        "|---|---:|---:|",
    ]
    for name in PARTS:
        b, n = parts["base"]["bytes"].get(name, 0), parts["new"]["bytes"].get(name, 0)
        lines.append(f"| {name} | {b / parts['base']['documents']:,.1f} | {n / parts['new']['documents']:,.1f} |")
    lines += ["", f"Text cache: {parts['base']['text_cache_chars']:,} / {parts['new']['text_cache_chars']:,} characters "
              f"cached after the query set (bound: TEXT_CACHE_CHARS)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--baseline-tree", type=Path)
    parser.add_argument("--baseline-index", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", nargs=3, type=Path, metavar=("ARCHIVE", "INDEX", "BASELINE_INDEX"),
                        help="a smaller archive's indexes too: growth per 1,000 documents from the two sizes")
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument("--derive", action="store_true",
                        help="make --index (and --small's INDEX) from the baseline's index first (see derive_index)")
    parser.add_argument("--phase", choices=("search", "parts"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        result = (measure_search if args.phase == "search" else measure_parts)(args.index, args.archive)
        print(json.dumps(result))
        return 0
    if not (args.baseline_tree and args.baseline_index):
        parser.error("--baseline-tree and --baseline-index are needed")
    derived = {}
    if args.derive:
        derived[args.index] = derive_index(args.baseline_index.resolve(), args.index.resolve())
        print(f"column files derived in {derived[args.index]:.1f} s", flush=True)
    base, new = [], []
    for round_ in range(args.rounds):
        base.append(run_phase(args.baseline_tree, "search", args.baseline_index, args.archive))
        new.append(run_phase(HERE, "search", args.index, args.archive))
        shown = lambda row: {k: v for k, v in row.items() if k != "answers"}     # noqa: E731
        print(f"round {round_ + 1}: baseline {shown(base[-1])}\n         columns  {shown(new[-1])}", flush=True)
    small = None
    if args.small:
        archive, index, baseline_index = args.small
        if args.derive:     # after the rounds: the smaller baseline index may still be building meanwhile
            derived[index] = derive_index(baseline_index.resolve(), index.resolve())
        small = {"base": [run_phase(args.baseline_tree, "search", baseline_index, archive)],
                 "new": [run_phase(HERE, "search", index, archive)]}
    parts = {"base": run_phase(args.baseline_tree, "parts", args.baseline_index, args.archive),
             "new": run_phase(HERE, "parts", args.index, args.archive)}
    print(json.dumps(parts, indent=1))
    body = report(base, new, parts, args.baseline_tree, args.archive, small)
    if derived:
        body += (f"\n\nThis tree's indexes were the baseline's, copied, with each segment's column file written by "
                 f"`store.write_segment_columns` (what every commit calls): the same segments and postings, so the "
                 f"searchers alone are compared. Writing them took {max(derived.values()):.1f} s at most "
                 f"(the largest index), the cost a build now pays once.")
    print(body)
    if not args.no_report:
        replace_section(SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
