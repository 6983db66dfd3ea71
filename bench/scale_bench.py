"""Scale curve: build time, index size and search latency of synthetic archives of 20k, 100k and 1M documents.

Usage: python bench/scale_bench.py [--sizes 20000,100000,1000000] [--keep] [--build-only] [--reuse-builds]

The archives are synthesized from the shared corpora (gator_reports and xwlb_stories): every
document is a title and 3-12 paragraphs drawn at random from the pool of all titles and all
paragraphs of both corpora, with a random date and industry, written as Markdown with front
matter into bench/data/scale_<N>/archive. The draws are seeded per document, so every run writes
the same files and each archive is the first N documents of any larger one. Recombined
paragraphs repeat the corpora's vocabulary: a real archive of that many reports has more distinct
words, so its dictionary, postings and memory grow faster than measured here.

For each size, each in a fresh process so that its memory figures are its own:
- build: a full `Indexer.build()` with workers=2: wall and CPU seconds, documents/s, peak RSS of
  the build's process tree (summed over its processes, sampled every 0.2 s), the size of the live
  index folder and its ratio to the text's UTF-8 size;
- search: an `ArchiveSearcher` over it, search_bench.py's query set (size 10: total, facets,
  snippets), one warm-up pass, then three timed passes: p50/p99 over the per-query medians, and
  the searcher process's RSS after the warm-up.
Writes the table under "Scale curve (scale_bench.py)" in bench/REPORT.md and the plot
bench/scale.png (needs matplotlib: `pip install -e '.[bench]'`). Without --keep each size's
folder is deleted once measured (a million files and GBs of index); with it the archive is reused by
the next run (the index is built afresh, unless --reuse-builds finds a size's index and the figures
its build recorded in bench/data/scale_<N>/build.json: then only the search is measured again, and
the report names the commit each reused build ran on).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import child_pids, machine, md_table, percentile  # noqa: E402
from bench.corpus import DATA, records  # noqa: E402
from bench.index_bench import cpu_seconds, folder_size  # noqa: E402
from bench.load_bench import memory_mb  # noqa: E402
from bench.report import replace_section  # noqa: E402
from bench.search_bench import QUERIES, timed  # noqa: E402
from indexer.config import DEFAULT_CONFIG, load_settings  # noqa: E402

BENCH = Path(__file__).resolve().parent
PLOT = BENCH / "scale.png"
SECTION = "Scale curve (scale_bench.py)"
CORPORA = ("gator_reports", "xwlb_stories")
DEFAULT_SIZES = (20_000, 100_000, 1_000_000)
SEED = 20260122
GENERATOR = 1               # bump when the synthesis changes: archives of another version are rewritten
PARAGRAPHS = (3, 12)        # paragraphs per document, inclusive
FILES_PER_FOLDER = 1000
FIRST_DAY, DAYS = date(2019, 1, 1), 7 * 365
# Shenwan level-1 industries: the front matter's industry (the corpora have none of their own).
INDUSTRIES = ("电子", "计算机", "传媒", "通信", "汽车", "医药生物", "食品饮料", "电力设备", "机械设备", "银行",
              "非银金融", "房地产", "有色金属", "基础化工", "国防军工", "家用电器", "农林牧渔", "交通运输",
              "建筑装饰", "公用事业")
TIMED_PASSES = 3
SAMPLE_SECONDS = 0.2
MEMORY_SHARE = 0.8          # of the machine's RAM that serving and a rebuild may use together
# Issue "A million reports": in process, size 10 with total, facets and snippets, at 1,000,000 documents.
TARGET_P50_MS, TARGET_P99_MS = 15.0, 100.0


# -- the synthetic archives ---------------------------------------------------------------------

def pools() -> tuple[list[str], list[str]]:
    """(titles, paragraphs) of both corpora: every non-empty line of every text is a paragraph."""
    titles, paragraphs = [], []
    for name in CORPORA:
        for record in records(name):
            titles.append(record["title"].strip())
            paragraphs.extend(line.strip() for line in record["text"].split("\n") if line.strip())
    return titles, paragraphs


def synthetic_report(number: int, titles: list[str], paragraphs: list[str]) -> tuple[str, str, int]:
    """Document `number` of every synthetic archive: (relative path, Markdown, UTF-8 bytes of title and text)."""
    rng = random.Random(SEED * 10_000_019 + number)
    title = rng.choice(titles)
    text = "\n\n".join(rng.choice(paragraphs) for _ in range(rng.randint(*PARAGRAPHS)))
    day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
    # A JSON string is a YAML double-quoted scalar: titles with ':' '#' or quotes stay one value.
    markdown = (f"---\ntitle: {json.dumps(title, ensure_ascii=False)}\ndate: '{day.isoformat()}'\n"
                f"industry: {rng.choice(INDUSTRIES)}\n---\n\n{text}\n")
    relpath = f"{number // FILES_PER_FOLDER:04d}/r{number:07d}.md"
    return relpath, markdown, len(title.encode("utf-8")) + len(text.encode("utf-8"))


def folder_of(size: int) -> Path:
    return DATA / f"scale_{size}"


def write_archive(size: int, titles: list[str], paragraphs: list[str]) -> dict:
    """bench/data/scale_<size>/archive (reused when an earlier run wrote the same one); its description."""
    root = folder_of(size) / "archive"
    marker = folder_of(size) / "archive.json"
    wanted = {"generator": GENERATOR, "seed": SEED, "documents": size}
    if marker.exists() and root.is_dir():
        written = json.loads(marker.read_text(encoding="utf-8"))
        if all(written.get(k) == v for k, v in wanted.items()):
            return {**written, "write_seconds": None}
    if root.exists():
        shutil.rmtree(root)
    marker.unlink(missing_ok=True)
    started = time.perf_counter()
    text_bytes = 0
    folder = None
    for number in range(size):
        relpath, markdown, nbytes = synthetic_report(number, titles, paragraphs)
        path = root / relpath
        if path.parent != folder:
            folder = path.parent
            folder.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(markdown.encode("utf-8"))
        text_bytes += nbytes
    description = {**wanted, "text_bytes": text_bytes}
    marker.write_text(json.dumps(description), encoding="utf-8")
    return {**description, "write_seconds": time.perf_counter() - started}


def settings_for(size: int):
    folder = folder_of(size)
    return load_settings(DEFAULT_CONFIG, environ={}, overrides={
        "archive": {"root": str(folder / "archive")},
        "index": {"dir": str(folder / "var" / "index"), "workers": 2},
    })


# -- the measured phases (each run in a fresh process: `--phase build|search --size N`) -----------

def measure_build(size: int) -> dict:
    """A full build of a fresh index over the archive."""
    from indexer.indexing import Indexer

    settings = settings_for(size)
    shutil.rmtree(settings.index.dir, ignore_errors=True)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    shared_cache = DATA / "jieba.cache"     # jieba's dictionary cache (index_bench.py writes it): not a build cost
    if shared_cache.exists() and not (settings.var_dir / "jieba.cache").exists():
        shutil.copy(shared_cache, settings.var_dir / "jieba.cache")
    cpu0 = cpu_seconds()
    started = time.perf_counter()
    result = Indexer(settings).build()
    wall = time.perf_counter() - started
    return {"documents": result.documents, "failed": result.count("failed"), "duplicate": result.count("duplicate"),
            "wall": wall, "cpu": cpu_seconds() - cpu0,
            "index_bytes": folder_size((settings.index.dir / "live").resolve())}


def query_set(searcher, settings) -> list[dict]:
    """search_bench.py's queries; its broker filter gets the most common broker, or is left out."""
    from indexer.query import parse_request

    brokers = searcher.search(parse_request({"q": "的", "size": 1}, settings))["facets"]["broker"]
    queries = []
    for _, params in QUERIES:
        if params.get("broker") == "{broker}":
            if not brokers:
                continue
            params = {**params, "broker": brokers[0][0]}
        queries.append(params)
    return queries


def measure_search(size: int) -> dict:
    """Latency of the query set over the built index, and the searcher's memory."""
    from indexer.search import ArchiveSearcher
    from indexer.query import parse_request

    settings = settings_for(size)
    searcher = ArchiveSearcher(settings)
    open_ms, _ = timed(searcher.view)
    queries = query_set(searcher, settings)

    def run(params: dict) -> dict:
        return searcher.search(parse_request({**params, "size": 10}, settings))

    cold = [timed(run, params)[0] for params in queries]       # the warm-up pass
    rss_warm, _ = memory_mb(os.getpid())
    samples: list[list[float]] = [[] for _ in queries]
    for _ in range(TIMED_PASSES):
        for i, params in enumerate(queries):
            samples[i].append(timed(run, params)[0])
    medians = [statistics.median(ms) for ms in samples]
    slowest = sorted(range(len(queries)), key=lambda i: -medians[i])[:3]
    _, hwm = memory_mb(os.getpid())
    return {"queries": len(queries), "open_ms": open_ms, "p50": percentile(medians, 50), "p99": percentile(medians, 99),
            "mean": statistics.fmean(medians), "cold_p50": percentile(cold, 50), "cold_p99": percentile(cold, 99),
            "rss_mb": rss_warm, "hwm_mb": hwm,
            "slowest": [[show(queries[i]), round(medians[i], 1)] for i in slowest]}


def show(params: dict) -> str:
    """A query of the set as one line: the text, then its other parameters."""
    extra = ", ".join(f"{k}={v}" for k, v in params.items() if k != "q")
    return params.get("q", "") + (f" ({extra})" if extra else "")


class TreeMemory(threading.Thread):
    """Samples the summed RSS of a process and all its descendants; `peak_mb` is the largest sum seen."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_mb, self.stopping = pid, 0.0, threading.Event()
        self.start()

    def run(self) -> None:
        while not self.stopping.wait(SAMPLE_SECONDS):
            pids, frontier = [self.pid], [self.pid]
            while frontier:
                frontier = [child for parent in frontier for child in child_pids(parent)]
                pids += frontier
            total = 0.0
            for pid in pids:
                try:
                    total += memory_mb(pid)[0]
                except (OSError, KeyError):     # ended meanwhile, or a zombie without memory lines
                    continue
            self.peak_mb = max(self.peak_mb, total)

    def stop(self) -> float:
        self.stopping.set()
        self.join()
        return self.peak_mb


def git_commit() -> str:
    """The short commit the bench runs on (with "+changes" when the tree differs from it)."""
    root = BENCH.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def run_phase(phase: str, size: int) -> dict:
    """`--phase PHASE --size N` in a fresh interpreter; its JSON answer plus the tree's peak RSS."""
    process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--size", str(size)],
                               stdout=subprocess.PIPE, text=True)
    memory = TreeMemory(process.pid)
    out, _ = process.communicate()
    peak = memory.stop()
    if process.returncode != 0:
        raise SystemExit(f"the {phase} phase at {size:,} documents failed (exit {process.returncode})")
    return {**json.loads(out.strip().splitlines()[-1]), "tree_peak_mb": peak}


# -- the report ------------------------------------------------------------------------------------

def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float] | None:
    """(a, b) of y = a + b·x by least squares; None with fewer than two distinct sizes."""
    if len(set(xs)) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def at(fit: tuple[float, float], n: float) -> float:
    return fit[0] + fit[1] * n


def reach(cost, limit: float, start: float) -> float | None:
    """The smallest document count from `start` up where cost(n) reaches `limit` (log bisection); None if not by 10^10."""
    if cost(start) >= limit:
        return start
    high = 1e10
    if cost(high) < limit:
        return None
    low = start
    for _ in range(60):
        middle = math.sqrt(low * high)
        low, high = (middle, high) if cost(middle) < limit else (low, middle)
    return high


def about(n: float) -> str:
    """A document count to two significant figures: '1.3 million', '48,000'."""
    rounded = float(f"{n:.2g}")
    return f"{rounded / 1e6:g} million" if rounded >= 1e6 else f"{rounded:,.0f}"


def duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def ram_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024
    return float("nan")


_SHARDS = ("split the index into shards (by date, or by a hash of the id) searched in parallel — one process per "
           "core first, then one machine per shard — and merge their top hits, ranking with document frequencies "
           "summed over the shards so that BM25 scores stay comparable")
# What a search still does in proportion to its matches (indexer/ranking.py, indexer/view.py): BM25 over
# every matched document (numpy, no Python object per document, but every posting of the query's words),
# and facets over every match; a CJK run's first search decodes every offset of its bigrams.
_MATCHES = ("top-k ranking that skips documents which cannot enter the top k (MaxScore or block-max WAND over "
            "per-block maximum scores) and facet counts kept per term for the commonest words, so that a common "
            "word stops costing in proportion to its documents; then ")
NEXT_STEPS = {
    "memory": ("keep one copy of the searcher's per-generation data per machine instead of one per gunicorn worker "
               "(a memory-mapped file, or one worker process with more threads); beyond that, " + _SHARDS),
    "search p99": _MATCHES + _SHARDS,
    "search p50": _MATCHES + _SHARDS,
    "disk": "a larger disk first (a rebuild writes the new index beside the live one), then " + _SHARDS,
}


def machine_paragraph(rows: list[dict]) -> str:
    """Where one machine stops being enough: the measured figures, and straight lines through them extended."""
    ns = [r["size"] for r in rows]
    largest = rows[-1]
    workers = load_settings(DEFAULT_CONFIG, environ={}).server.workers
    ram = ram_mb()
    disk = shutil.disk_usage(DATA).total / 1e6
    fits = {key: linear_fit(ns, [r[key] for r in rows])
            for key in ("wall", "index_mb", "rss_mb", "build_peak_mb", "p50", "p99", "text_mb")}
    serving = workers * largest["rss_mb"] + largest["build_peak_mb"]
    text = (
        f"**Where one machine stops being enough.** Measured on this machine ({os.cpu_count()} cores, "
        f"{ram / 1024:.0f} GB RAM, {disk / 1e3:.0f} GB disk) up to {ns[-1]:,} documents: a full build takes "
        f"{duration(largest['wall'])} ({largest['docs_per_s']:.0f} documents/s), the index is "
        f"{largest['index_mb'] / largest['text_mb']:.1f}× the text ({largest['index_mb']:,.0f} MB), a warm searcher "
        f"process holds {largest['rss_mb']:,.0f} MB, and search p50/p99 are {largest['p50']:.1f}/{largest['p99']:.1f} ms. "
        f"Serving with [server].workers = {workers} gunicorn workers (one searcher each) while the watcher rebuilds "
        f"takes {serving:,.0f} MB.")
    if any(fit is None for fit in fits.values()):
        return text + " Measure at least two sizes to extend these figures."
    per_k = {key: fit[1] * 1000 for key, fit in fits.items()}
    costs = {
        "memory": (lambda n: workers * at(fits["rss_mb"], n) + at(fits["build_peak_mb"], n), MEMORY_SHARE * ram),
        "search p99": (lambda n: at(fits["p99"], n), TARGET_P99_MS),
        "search p50": (lambda n: at(fits["p50"], n), TARGET_P50_MS),
        "disk": (lambda n: 2 * at(fits["index_mb"], n) + at(fits["text_mb"], n), disk),
    }
    measured = {
        "memory": [workers * r["rss_mb"] + r["build_peak_mb"] for r in rows],
        "search p99": [r["p99"] for r in rows], "search p50": [r["p50"] for r in rows],
        "disk": [2 * r["index_mb"] + r["text_mb"] for r in rows],
    }
    # A limit already crossed at a measured size is that size; otherwise the trend extended.
    crossed = {name: next((n for n, value in zip(ns, measured[name]) if value >= costs[name][1]), None)
               for name in costs}
    limits = {name: crossed[name] or reach(cost, limit, ns[-1]) for name, (cost, limit) in costs.items()}
    reached = {name: n for name, n in limits.items() if n is not None}

    def when(name: str) -> str:
        n = limits[name]
        if n is None:
            return "not at all on this trend"
        return f"already at {n:,} (measured)" if crossed[name] else f"at about {about(n)} documents"

    text += (
        f" Each 1,000 more documents added {per_k['wall']:.1f} s to the build, {per_k['index_mb']:.1f} MB to the "
        f"index, {per_k['rss_mb']:.1f} MB to each searcher and {per_k['build_peak_mb']:.1f} MB to the build's peak, "
        f"and {per_k['p50']:.2f}/{per_k['p99']:.2f} ms to search p50/p99 (least-squares lines over the "
        f"{len(ns)} sizes, {ns[0]:,}–{ns[-1]:,}; the further beyond them, the rougher). Extended: serving plus a "
        f"rebuild needs {MEMORY_SHARE:.0%} of the RAM {when('memory')}; search p99 crosses the "
        f"{TARGET_P99_MS:g} ms target (issue \"A million reports\", in process at 1,000,000 documents) {when('search p99')} and p50 its {TARGET_P50_MS:g} ms target "
        f"{when('search p50')}; twice the index "
        f"(a rebuild writes beside the live one) plus the archive fills the disk {when('disk')}.")
    if not reached:
        return text + " None of these limits is reached on these trends."
    first = min(reached, key=reached.get)
    n = reached[first] if crossed[first] else max(reached[first], ns[-1])
    return text + (
        f" So one machine like this one stops being enough at about {about(n)} documents, limited first by "
        f"{first} (a full rebuild would take about {duration(at(fits['wall'], n))} by then). Next step: "
        f"{NEXT_STEPS[first]}. The synthetic documents reuse the corpora's vocabulary, so a real archive "
        f"reaches these limits somewhat earlier.")


def write_report(rows: list[dict], note: str = "") -> None:
    """The section of bench/REPORT.md; `note` says where the rows came from when not from this run."""
    header = ["documents", "text MB", "build s", "docs/s", "CPU s", "build peak RSS MB", "index MB", "index/text",
              "view open ms", "search p50 ms", "search p99 ms", "cold p99 ms", "searcher RSS MB"]
    table = md_table(header, [[
        f"{r['size']:,}", f"{r['text_mb']:.1f}", f"{r['wall']:.1f}", f"{r['docs_per_s']:.0f}", f"{r['cpu']:.0f}",
        f"{r['build_peak_mb']:,.0f}", f"{r['index_mb']:,.1f}", f"{r['index_mb'] / r['text_mb']:.2f}×",
        f"{r['open_ms']:,.0f}", f"{r['p50']:.1f}", f"{r['p99']:.1f}", f"{r['cold_p99']:.1f}", f"{r['rss_mb']:,.0f}",
    ] for r in rows])
    builds = [f"{r['size']:,} at {r['commit']} ({r['built_at']})" for r in rows if r.get("commit")]
    if builds:
        note += "Builds (each recorded when it ran: `--build-only`, then `--reuse-builds`): " + "; ".join(builds) + ". "
    problems = [f"{r['size']:,}: {r['documents']:,} documents indexed, {r['failed']} failed, {r['duplicate']} duplicates"
                for r in rows if r["documents"] != r["size"] or r["failed"]]
    slowest = "; ".join(f"`{q}` {ms} ms" for q, ms in rows[-1]["slowest"])
    problems_line = ("Not every file became a document: " + "; ".join(problems) + ".\n") if problems else ""
    load = os.getloadavg()
    body = f"""{machine()}. {note}Load average (1 min) {load[0]:.1f} when the report was written: other work may share the machine.

**Synthetic archives** (recombined paragraphs, not real reports): each document is a title and {PARAGRAPHS[0]}–{PARAGRAPHS[1]} paragraphs drawn at random (seed {SEED}, per document: each archive is the first N documents of a larger one) from the pool of all titles and all paragraphs of gator_reports and xwlb_stories, with a random date (2019–2025) and Shenwan industry, written as Markdown with front matter ({FILES_PER_FOLDER:,} files per folder). Recombining paragraphs repeats the corpora's vocabulary: a real archive of as many reports has more distinct words (names, codes, numbers), so its index and the searcher's memory grow faster than here.

Build: `Indexer(settings).build()`, workers=2, fresh index, in its own process; "build peak RSS" is the sum over the build's processes (sampled every {SAMPLE_SECONDS} s); index MB is the live build folder on disk; text MB is the UTF-8 size of titles and paragraphs. Search: a fresh process, `ArchiveSearcher.search` with size=10 (total, facets, snippets) over search_bench.py's {rows[-1]['queries']} queries; "view open" is the first view of the index; one warm-up pass ("cold p99" is its p99), then {TIMED_PASSES} timed passes; p50/p99 over the per-query medians (with {rows[-1]['queries']} queries p99 is the slowest query); searcher RSS after the warm-up pass.

{table}

Slowest queries at {rows[-1]['size']:,} documents (median ms): {slowest}.
{problems_line}
![Build time, index size and search latency against the number of documents](scale.png)

{machine_paragraph(rows)}
"""
    replace_section(SECTION, body)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    docs = [r["size"] for r in rows]
    thousands = FuncFormatter(lambda x, _: f"{x / 1000:,.4g}k" if x >= 1000 else f"{x:,.0f}")
    fig, (build, search) = plt.subplots(1, 2, figsize=(12, 4.6))
    build.plot(docs, [r["wall"] for r in rows], "o-", color="C0", label="full build, s (left)")
    build.set_ylabel("seconds")
    megabytes = build.twinx()
    megabytes.plot(docs, [r["index_mb"] for r in rows], "s--", color="C1", label="index on disk, MB (right)")
    megabytes.plot(docs, [r["rss_mb"] for r in rows], "^:", color="C2", label="searcher RSS, MB (right)")
    megabytes.set_ylabel("MB")
    lines = build.get_lines() + megabytes.get_lines()
    build.legend(lines, [line.get_label() for line in lines], loc="upper left", fontsize=8)
    build.set_title("Build time and index size")
    search.plot(docs, [r["p50"] for r in rows], "o-", color="C0", label="p50")
    search.plot(docs, [r["p99"] for r in rows], "s-", color="C3", label="p99")
    search.axhline(TARGET_P50_MS, color="C0", linestyle=":", linewidth=1, label=f"p50 target {TARGET_P50_MS:g} ms")
    search.axhline(TARGET_P99_MS, color="C3", linestyle=":", linewidth=1, label=f"p99 target {TARGET_P99_MS:g} ms")
    search.set_ylabel("ms per search (warm, size 10)")
    search.set_ylim(bottom=0)
    search.legend(loc="upper left", fontsize=8)
    search.set_title(f"Search latency ({rows[-1]['queries']} queries)")
    for axes in (build, search):
        axes.set_xlabel("documents")
        axes.xaxis.set_major_formatter(thousands)
        axes.set_xlim(left=0)
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
    megabytes.set_ylim(bottom=0)
    fig.suptitle(f"Scale curve over synthetic archives (recombined paragraphs); {machine()}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(n) for n in DEFAULT_SIZES),
                        help="comma-separated document counts (default: %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep each size's archive and index in bench/data")
    parser.add_argument("--build-only", action="store_true",
                        help="build each size and record its figures (bench/data/scale_<N>/build.json), search nothing; "
                             "implies --keep")
    parser.add_argument("--reuse-builds", action="store_true",
                        help="a size whose index and build.json an earlier --keep run left is searched again, not "
                             "rebuilt; the report names the commit its build figures were measured on")
    parser.add_argument("--from-log", type=Path, metavar="FILE",
                        help="measure nothing: write the report and the plot again from the rows a run printed")
    parser.add_argument("--phase", choices=("build", "search"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        measure = measure_build if args.phase == "build" else measure_search
        print(json.dumps(measure(args.size)))
        return 0
    try:
        sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    if not sizes or sizes[0] < 1:
        parser.error("--sizes needs at least one positive document count")
    if args.from_log:
        rows = [json.loads(line.split("] ", 1)[1]) for line in args.from_log.read_text(encoding="utf-8").splitlines()
                if re.match(r"^\[[\d,]+\] \{", line)]
        logged = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(args.from_log.stat().st_mtime))
        plot(rows, PLOT)
        write_report(rows, f"Figures of the run whose log was last written {logged}, rendered again from that log "
                           f"(`--from-log`), not measured again. ")
        print(f"wrote {PLOT.relative_to(BENCH.parent)} and the section {SECTION!r} from {len(rows)} rows",
              file=sys.stderr)
        return 0
    if importlib.util.find_spec("matplotlib") is None:    # checked now rather than after hours of building
        raise SystemExit("matplotlib is missing: pip install -e '.[bench]'")

    print("reading the corpora ...", file=sys.stderr, flush=True)
    titles, paragraphs = pools()
    print(f"{len(titles):,} titles and {len(paragraphs):,} paragraphs in the pool", file=sys.stderr, flush=True)
    rows = []
    args.keep = args.keep or args.build_only
    for size in sizes:
        archive = write_archive(size, titles, paragraphs)
        if archive["write_seconds"] is not None:
            print(f"[{size:,}] wrote the archive in {archive['write_seconds']:.1f} s", file=sys.stderr, flush=True)
        recorded = folder_of(size) / "build.json"
        if args.reuse_builds and recorded.exists() and settings_for(size).index.dir.exists():
            build = json.loads(recorded.read_text(encoding="utf-8"))
            print(f"[{size:,}] reusing the build of {build['commit']} ({build['built_at']})", file=sys.stderr, flush=True)
        else:
            print(f"[{size:,}] building ...", file=sys.stderr, flush=True)
            commit, started_at = git_commit(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            build = {**run_phase("build", size), "commit": commit, "built_at": started_at}
            recorded.write_text(json.dumps(build), encoding="utf-8")
            print(f"[{size:,}] built {build['documents']:,} documents in {build['wall']:.1f} s", file=sys.stderr, flush=True)
        if args.build_only:
            continue
        print(f"[{size:,}] searching ...", file=sys.stderr, flush=True)
        search = run_phase("search", size)
        row = {"size": size, "text_mb": archive["text_bytes"] / 1e6, **build, "build_peak_mb": build["tree_peak_mb"],
               **{k: v for k, v in search.items() if k != "tree_peak_mb"}}
        row["docs_per_s"] = build["documents"] / build["wall"]
        row["index_mb"] = build["index_bytes"] / 1e6
        rows.append(row)
        print(f"[{size:,}] " + json.dumps({k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()},
                                          ensure_ascii=False), file=sys.stderr, flush=True)
        if not args.keep:
            shutil.rmtree(folder_of(size))
        # After every size, so that an interrupted long run still leaves what it measured.
        plot(rows, PLOT)
        write_report(rows)
    if args.build_only:
        print("built; search with --reuse-builds", file=sys.stderr)
        return 0
    print(f"wrote {PLOT.relative_to(BENCH.parent)} and the section {SECTION!r} of bench/REPORT.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
