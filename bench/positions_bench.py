"""Positions in the bigram postings: search latency, index size and build time, against the engine before them.

Usage: python bench/positions_bench.py [--archive DIR] [--out DIR] [--build-size N] [--skip-builds]

What is compared, in one run:
- search: one index of the archive (scale_bench.py's synthetic 100,000 documents by default),
  built by this code, searched in one process with search_bench.py's query set (size 10: total,
  facets, snippets) twice: CJK terms of three or more characters decided by the bigrams'
  positions (this code), and checked against the folded texts as before the positions
  (indexer.view.MATCH_BY_POSITIONS = False, the baseline). Per mode a cold pass (first reads:
  texts not yet in the searcher's text cache) in a fresh process each, then warm passes
  interleaved in one process (mode A, mode B, A, B, ...): p50/p99 of the per-query medians, the
  slowest queries, and common-character phrases (习近平 and the like) one by one.
- size: the live index folder of this code against the same archive indexed by the code before
  positions (the merge base with main, extracted from git), and the text's UTF-8 bytes.
  With --new-only the old code does not build: its size is this index's less the positions region
  (the rest of the postings format is unchanged).
- build: wall and CPU seconds of both builds (workers=2, each in a fresh process) and their ratio:
  what positions cost at build. The old build is of the whole archive unless --build-size takes
  its first N documents (both codes then build that subset for the ratio, interleaved).
The indexes are written under --out (bench/data/positions by default), never into the archive's
folder. Writes the section "Positions in the postings (positions_bench.py)" of bench/REPORT.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import md_table, percentile  # noqa: E402
from bench.corpus import DATA  # noqa: E402
from bench.index_bench import folder_size  # noqa: E402
from bench.report import replace_section  # noqa: E402
from bench.search_bench import timed  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
SECTION = "Positions in the postings (positions_bench.py)"
ARCHIVE = DATA / "scale_100000" / "archive"
MAIN_ARCHIVE = Path("/work/main/bench/data/scale_100000/archive")
OUT = DATA / "positions"
WARM_PASSES = 3
# Phrases of the corpora's most common characters (the slow ones for a text check); exactness.py
# draws more of them from the texts themselves.
PHRASES = ['"习近平"', '"高质量发展"', '"中国经济"', '"人民群众"', '"我们的"', '"发展的"', '"经济发展"',
           '"国内外"', '"社会主义"', '"有限公司"', '"同比增长"', '"新质生产力"']

BUILD_SCRIPT = """
import json, resource, sys, time
from pathlib import Path
from indexer.config import DEFAULT_CONFIG, load_settings
from indexer.indexing import Indexer
root, index_dir = sys.argv[1], sys.argv[2]
settings = load_settings(DEFAULT_CONFIG, environ={}, overrides={
    "archive": {"root": root}, "index": {"dir": index_dir, "workers": 2}})
settings.var_dir.mkdir(parents=True, exist_ok=True)
def cpu():
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
cpu0, started = cpu(), time.perf_counter()
result = Indexer(settings).build()
print(json.dumps({"documents": result.documents, "wall": time.perf_counter() - started, "cpu": cpu() - cpu0}))
"""


def base_code(out: Path) -> Path:
    """The indexer before positions (the merge base with main), extracted from git into `out`."""
    commit = subprocess.run(["git", "-C", str(PROJECT), "merge-base", "HEAD", "main"], capture_output=True,
                            text=True, check=True).stdout.strip()
    return code_at(commit, out)


def code_at(commit: str, out: Path) -> Path:
    """The indexer (and config.toml) of a commit, extracted from git once into `out`/code-<commit>."""
    folder = out / f"code-{commit[:10]}"
    if not (folder / "indexer").is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(PROJECT), "archive", commit, "indexer", "config.toml"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def subset(archive: Path, size: int, out: Path) -> Path:
    """The first `size` documents of the archive (its folders of 1,000 files), as hard links."""
    folder = out / f"archive-{size}"
    if not folder.is_dir():
        tmp = out / f"archive-{size}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        files = sorted(p for p in archive.rglob("*") if p.is_file())[:size]
        for path in files:
            target = tmp / path.relative_to(archive)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
        tmp.rename(folder)
    return folder


def commit_of(code: Path) -> str:
    """The commit a build ran: the extracted merge base's, or HEAD (+ "+changes" when the tree differs)."""
    if code.name.startswith("code-"):
        return code.name.removeprefix("code-")[:7]
    head = subprocess.run(["git", "-C", str(code), "rev-parse", "--short=7", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(code), "status", "--porcelain", "indexer"], capture_output=True,
                           text=True).stdout.strip()
    return head + ("+changes" if dirty else "")


def text_bytes_of(archive: Path) -> int:
    """UTF-8 bytes of the titles and texts, as scale_bench.py counts them (a file's bytes when it has
    no front matter)."""
    total = 0
    for path in archive.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_text(encoding="utf-8")
        if data.startswith("---\n") and "\n---\n\n" in data:
            front, text = data[4:].split("\n---\n\n", 1)
            title = next((json.loads(line[7:]) for line in front.splitlines() if line.startswith("title: ")), "")
            total += len(title.encode("utf-8")) + len(text.rstrip("\n").encode("utf-8"))
        else:
            total += path.stat().st_size
    return total


def build(code: Path, root: Path, index_dir: Path) -> dict:
    """A full build (workers=2) by the code in `code`, in a fresh process; wall, CPU, index bytes."""
    shutil.rmtree(index_dir.parent, ignore_errors=True)
    index_dir.parent.mkdir(parents=True)
    shared_cache = DATA / "jieba.cache"     # jieba's dictionary cache: not a build cost
    if not shared_cache.exists():
        shared_cache = MAIN_ARCHIVE.parent.parent / "jieba.cache"
    if shared_cache.exists():
        shutil.copy(shared_cache, index_dir.parent / "jieba.cache")
    answer = subprocess.run([sys.executable, "-c", BUILD_SCRIPT, str(root), str(index_dir)], cwd=code,
                            env={**os.environ, "PYTHONPATH": str(code)}, capture_output=True, text=True)
    if answer.returncode != 0:
        raise SystemExit(f"the build by {code} failed:\n{answer.stderr[-3000:]}")
    found = json.loads(answer.stdout.strip().splitlines()[-1])
    found["commit"] = commit_of(code)
    live = (index_dir / "live").resolve()
    found["index_bytes"] = folder_size(live)
    found["postings_bytes"] = sum(p.stat().st_size for p in live.glob("*.post"))
    found["positions_bytes"] = positions_bytes(live)
    return found


def positions_bytes(live: Path) -> int:
    """Bytes of the bigram positions in the postings files of `live` (0 for another format)."""
    from indexer.postings import MAGIC

    total = 0
    for path in live.glob("*.post"):
        with open(path, "rb") as fh:
            if fh.read(len(MAGIC)) != MAGIC:
                continue
            (head_len,) = struct.unpack("<I", fh.read(4))
            header = json.loads(fh.read(head_len))
            total += header["positions_bytes"]      # they end each bigram's entry (indexer.postings)
    return total


# -- search (each mode's cold pass in a fresh process: `--phase search`) ------------------------------

def settings_of(root: Path, index_dir: Path):
    from indexer.config import DEFAULT_CONFIG, load_settings

    return load_settings(DEFAULT_CONFIG, environ={}, overrides={
        "archive": {"root": str(root)}, "index": {"dir": str(index_dir), "workers": 2}})


def query_list(searcher, settings) -> list[dict]:
    from bench.scale_bench import query_set

    queries = query_set(searcher, settings)
    return queries + [{"q": q} for q in PHRASES if {"q": q} not in queries]


def search_phase(root: Path, index_dir: Path, positions: bool, warm: bool) -> dict:
    """Per query, ms of a cold pass (this fresh process's first) and, with warm, of the warm passes
    of both modes interleaved (this mode first)."""
    import indexer.view as view_module
    from indexer.query import parse_request
    from indexer.search import ArchiveSearcher

    settings = settings_of(root, index_dir)
    searcher = ArchiveSearcher(settings)
    searcher.view()
    queries = query_list(searcher, settings)

    def run(params: dict, by_positions: bool) -> tuple[float, int]:
        view_module.MATCH_BY_POSITIONS = by_positions
        ms, answer = timed(searcher.search, parse_request({**params, "size": 10}, settings))
        return ms, answer["total"]

    cold, read = [], []
    for params in queries:
        before = len(searcher._texts.entries)
        cold.append(run(params, positions))
        read.append(len(searcher._texts.entries) - before)     # texts read (and decompressed) by this query
    result = {"queries": [show(q) for q in queries], "cold": [ms for ms, _ in cold], "totals": [t for _, t in cold],
              "texts_read": read}
    if warm:
        samples = {True: [[] for _ in queries], False: [[] for _ in queries]}
        totals = {True: [], False: []}
        for _ in range(WARM_PASSES):
            for i, params in enumerate(queries):
                for mode in (positions, not positions):
                    ms, total = run(params, mode)
                    samples[mode][i].append(ms)
                    if len(totals[mode]) <= i:
                        totals[mode].append(total)
        result["proximity"] = proximity_cost(searcher, settings, queries, run)
        result["warm"] = {str(mode): [statistics.median(s) for s in samples[mode]] for mode in (True, False)}
        result["warm_totals"] = {str(mode): totals[mode] for mode in (True, False)}
    return result


def proximity_cost(searcher, settings, queries: list[dict], run) -> dict:
    """ms of the queries of several terms with ranking's proximity pool (RANK_POOL, its texts read
    afresh: the text cache emptied before each) against the same with no pool, interleaved."""
    import indexer.ranking as ranking
    from indexer.query import parse_query

    several = [q for q in queries if len([t for t in parse_query(q["q"]).positive_terms() if not t.field]) > 1]
    pool = ranking.RANK_POOL
    samples = {pool: [[] for _ in several], 0: [[] for _ in several]}
    read = [0] * len(several)
    try:
        for _ in range(WARM_PASSES):
            for i, params in enumerate(several):
                for size in (pool, 0):
                    ranking.RANK_POOL = size
                    searcher._texts.clear()
                    samples[size][i].append(run(params, True)[0])
                    if size:
                        read[i] = len(searcher._texts.entries)
    finally:
        ranking.RANK_POOL = pool
        searcher._texts.clear()
    return {"queries": [show(q) for q in several], "pool": pool, "texts_read": read,
            "with": [statistics.median(m) for m in samples[pool]], "without": [statistics.median(m) for m in samples[0]]}


def show(params: dict) -> str:
    extra = ", ".join(f"{k}={v}" for k, v in params.items() if k != "q")
    return params.get("q", "") + (f" ({extra})" if extra else "")


def run_search_phase(root: Path, index_dir: Path, positions: bool, warm: bool) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", "search", "--archive", str(root),
               "--index", str(index_dir), "--positions", "1" if positions else "0"] + (["--warm"] if warm else [])
    answer = subprocess.run(command, capture_output=True, text=True)
    if answer.returncode != 0:
        raise SystemExit(f"the search phase failed:\n{answer.stderr[-3000:]}")
    return json.loads(answer.stdout.strip().splitlines()[-1])


# -- the report --------------------------------------------------------------------------------------

def mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def write_report(results: dict) -> str:
    text_bytes = results["text_bytes"]
    new, old = results["build_new"], results["build_old"]
    cold_pos, cold_text = results["cold_positions"], results["cold_text"]
    warm = results["warm"]
    queries = cold_pos["queries"]
    mismatched = [q for q, a, b in zip(queries, cold_pos["totals"], cold_text["totals"]) if a != b]
    rows = []
    for label, ms in (("positions, cold", cold_pos["cold"]), ("text check, cold", cold_text["cold"]),
                      ("positions, warm", warm["True"]), ("text check, warm", warm["False"])):
        rows.append([label, f"{percentile(ms, 50):.1f}", f"{percentile(ms, 99):.1f}", f"{max(ms):.1f}",
                     f"{statistics.fmean(ms):.1f}"])
    latency = md_table(["matching", "p50 ms", "p99 ms", "max ms", "mean ms"], rows)
    order = sorted(range(len(queries)), key=lambda i: -max(cold_text["cold"][i], warm["False"][i]))
    shown = [i for i in order[:8]] + [i for i, q in enumerate(queries) if q.strip('"') in ("习近平",) and i not in order[:8]]
    slow = md_table(["query", "documents", "text check cold ms", "positions cold ms", "text check warm ms",
                     "positions warm ms", "warm ratio", "texts read cold: text check / positions"],
                    [[queries[i], f"{cold_pos['totals'][i]:,}", f"{cold_text['cold'][i]:.1f}", f"{cold_pos['cold'][i]:.1f}",
                      f"{warm['False'][i]:.1f}", f"{warm['True'][i]:.1f}",
                      f"{warm['False'][i] / max(warm['True'][i], 0.01):.1f}×",
                      f"{cold_text['texts_read'][i]:,} / {cold_pos['texts_read'][i]:,}"] for i in shown])
    prox = cold_pos["proximity"]
    proximity = (
        f"Texts read in the cold pass, all {len(queries)} queries: {sum(cold_text['texts_read']):,} with the text check, "
        f"{sum(cold_pos['texts_read']):,} with positions (what is left: the 10 hits' snippets, ranking's proximity "
        f"pool and its scoring from texts). Ranking's proximity bonus reads the texts of its pool (RANK_POOL = "
        f"{prox['pool']}) for queries of several terms: over the {len(prox['queries'])} such queries, each run with "
        f"the text cache emptied first, the pool and no pool interleaved ({WARM_PASSES} rounds, medians), "
        f"p50 {percentile(prox['with'], 50):.1f} vs {percentile(prox['without'], 50):.1f} ms, "
        f"max {max(prox['with'], default=0):.1f} vs {max(prox['without'], default=0):.1f} ms, "
        f"{statistics.fmean(prox['texts_read']) if prox['texts_read'] else 0:.0f} texts read per query on average.\n\n")
    build_line = ""
    if old is None:     # not built: the same postings without their positions region (the rest is unchanged)
        old = {"index_bytes": new["index_bytes"] - new["positions_bytes"],
               "postings_bytes": new["postings_bytes"] - new["positions_bytes"], "wall": None, "cpu": None,
               "documents": new["documents"], "derived": True}
    sizes = md_table(["index", "index folder", "of which postings", "of which positions", "index / text",
                      "build wall s", "build CPU s"],
                     [[label + (f" ({b['commit']})" if b.get("commit") else "")
                       + (" (derived: not built, the same files less the positions region)" if b.get("derived") else ""),
                       mb(b["index_bytes"]), mb(b["postings_bytes"]), mb(b.get("positions_bytes", 0)),
                       f"{b['index_bytes'] / text_bytes:.2f}×",
                       f"{b['wall']:.0f}" if b["wall"] else "", f"{b['cpu']:.0f}" if b["cpu"] else ""]
                      for label, b in (("before positions", old), ("with positions", new))])
    if not old.get("derived"):
        build_line += (f"Build of these {results['documents']:,} documents, one after the other on a shared machine: "
                       f"with positions {new['wall'] / old['wall']:.2f}× the wall time and {new['cpu'] / old['cpu']:.2f}× "
                       f"the CPU time of the build before them (CPU time is the steadier figure: other jobs ran).\n\n")
    if results.get("build_ratio"):
        r = results["build_ratio"]
        build_line += (f"Build cost of positions, {r['documents']:,} documents, both codes interleaved "
                       + (f"(this code at {r['commit']}) " if r.get("commit") else "") + 
                      f"({r['rounds']} rounds, medians): wall {r['wall_ratio']:.2f}×, CPU {r['cpu_ratio']:.2f}× "
                      f"the build before positions.\n\n")
    body = (
        f"### {results['documents']:,} documents\n\n"
        f"Run of {results.get('date', '')}: the first {results['documents']:,} documents of scale_bench.py's synthetic "
        f"archive ({mb(text_bytes)} of titles and text), built with workers=2 by this code (bigram positions in the "
        f"postings)" + (f" and by the code before it (the merge base, {results['base']})" if results["build_old"] else "")
        + f". Search: {len(queries)} queries (search_bench.py's "
        f"set plus {len(PHRASES)} common-character phrases), size 10 with total, facets and snippets, in one process "
        f"over the index with positions, matching 3+ character CJK terms by positions (this code) and by the text "
        f"check it replaces (`MATCH_BY_POSITIONS = False`, the baseline) on the same index. Cold: the first pass of "
        f"a fresh process per mode (texts not yet cached); warm: the median of {WARM_PASSES} passes after it, the "
        f"two modes interleaved query by query in one process. Both modes found the same number of documents for "
        f"{len(queries) - len(mismatched)} of {len(queries)} queries"
        + (f" (differing: {', '.join(mismatched)})" if mismatched else "") + ".\n\n"
        + latency + "\n\nThe slowest queries (by the text check) and 习近平:\n\n" + slow + "\n\n" + proximity
        + "Index and build (the index folder holds the stored texts too):\n\n" + sizes + "\n\n" + build_line
    )
    return body


def write_section(out: Path) -> str:
    """The report's section from every run's results.json (bench/data/positions*/ and `out`)."""
    files = {p.resolve() for p in DATA.glob("positions*/results.json")} | {(out / "results.json").resolve()}
    runs = []
    for path in files:
        if path.exists():
            run = json.loads(path.read_text())
            builds = path.with_name("builds.json")     # a build ratio measured after the searches
            if builds.exists() and json.loads(builds.read_text()).get("ratio"):
                run["build_ratio"] = json.loads(builds.read_text())["ratio"]
            runs.append(run)
    runs.sort(key=lambda r: r["documents"])
    body = ("Bigram positions in the n-gram postings decide a run of three or more CJK characters without "
            "reading texts; each run below compares them with the text check they replace (same index, same "
            "process) and the index and build with the code before them.\n\n" + "\n".join(write_report(r) for r in runs))
    replace_section(SECTION, body)
    return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=ARCHIVE if ARCHIVE.is_dir() else MAIN_ARCHIVE)
    parser.add_argument("--out", type=Path, default=OUT, help="where the indexes are built (default bench/data/positions)")
    parser.add_argument("--documents", type=int, default=0,
                        help="use the first N documents of the archive only (hard links under --out)")
    parser.add_argument("--build-size", type=int, default=0,
                        help="measure the build ratio on the first N documents, both codes interleaved (0: the old "
                             "code builds the whole archive once, beside the new)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the interleaved builds with --build-size")
    parser.add_argument("--new-only", action="store_true",
                        help="build with this code only (the old index size is derived: the positions region less)")
    parser.add_argument("--no-search", action="store_true", help="builds only (then the section is written again)")
    parser.add_argument("--report-only", action="store_true", help="write the section from the runs' results.json")
    parser.add_argument("--skip-builds", action="store_true", help="reuse the indexes and build figures under --out")
    parser.add_argument("--phase", choices=("search",), help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--positions", help=argparse.SUPPRESS)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase == "search":
        print(json.dumps(search_phase(args.archive, args.index, args.positions == "1", args.warm)))
        return 0
    args.archive = args.archive.resolve()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        print(write_section(out))
        return 0
    if args.documents:
        args.archive = subset(args.archive, args.documents, out)
    old_code = base_code(out)
    base = old_code.name.removeprefix("code-")
    builds_file = out / "builds.json"
    builds = json.loads(builds_file.read_text()) if args.skip_builds and builds_file.exists() else {}
    new_index, old_index = out / "new" / "index", out / "old" / "index"
    if "new" not in builds:
        builds["new"] = build(PROJECT, args.archive, new_index)
        print("built with positions:", builds["new"], flush=True)
        builds_file.write_text(json.dumps(builds))
    if "old" not in builds and not args.new_only:
        builds["old"] = build(old_code, args.archive, old_index)
        print("built before positions:", builds["old"], flush=True)
        builds_file.write_text(json.dumps(builds))
    if args.build_size and "ratio" not in builds:
        root = subset(args.archive, args.build_size, out)
        walls = {"new": [], "old": []}
        cpus = {"new": [], "old": []}
        for _ in range(args.rounds):
            for label, code in (("old", old_code), ("new", PROJECT)):
                b = build(code, root, out / f"subset-{label}" / "index")
                walls[label].append(b["wall"])
                cpus[label].append(b["cpu"])
        builds["ratio"] = {"documents": args.build_size, "rounds": args.rounds, "commit": commit_of(PROJECT),
                           "wall_ratio": statistics.median(walls["new"]) / statistics.median(walls["old"]),
                           "cpu_ratio": statistics.median(cpus["new"]) / statistics.median(cpus["old"])}
        builds_file.write_text(json.dumps(builds))
    if args.no_search:
        print(write_section(out))
        return 0
    text_bytes = text_bytes_of(args.archive)
    cold_text = run_search_phase(args.archive, new_index, positions=False, warm=False)
    cold_positions = run_search_phase(args.archive, new_index, positions=True, warm=True)
    results = {"date": time.strftime("%Y-%m-%d"), "documents": builds["new"]["documents"], "text_bytes": text_bytes, "base": base,
               "build_new": builds["new"], "build_old": builds.get("old"), "build_ratio": builds.get("ratio"),
               "cold_positions": cold_positions, "cold_text": cold_text, "warm": cold_positions["warm"]}
    (out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))
    print(write_section(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
