"""Index build throughput: full `build` of a corpus against jieba alone over the same texts.

Usage: python bench/index_bench.py [gator_reports|xwlb_stories ...]   (default: gator_reports)
Writes its table to bench/REPORT.md under "Index build (index_bench.py)".
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import DATA, records, write_archive  # noqa: E402
from report import replace_section  # noqa: E402

from indexer.config import DEFAULT_CONFIG, load_settings  # noqa: E402
from indexer.indexing import PART_DOCS  # noqa: E402

TARGET_WALL_S = 60.0
TARGET_SIZE_RATIO = 3.0


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def jieba_alone(name: str) -> tuple[float, int]:
    """Seconds for jieba search-mode segmentation of the corpus on one core (the bound)."""
    from indexer.analysis import init_jieba, ranking_words
    from indexer.normalize import fold

    init_jieba(DATA / "jieba.cache")
    texts = [fold(r["title"] + "\n" + r["text"]) for r in records(name)]
    started = time.perf_counter()
    for text in texts:
        ranking_words(text)
    return time.perf_counter() - started, sum(len(t) for t in texts)


def build(name: str, workers: int) -> dict:
    from indexer.indexing import Indexer

    root = write_archive(name)
    settings = load_settings(DEFAULT_CONFIG, environ={}, overrides={
        "archive": {"root": str(root)},
        "index": {"dir": str(DATA / name / "var" / "index"), "workers": workers}})
    text_bytes = sum(len((r["title"] + r["text"]).encode("utf-8")) for r in records(name))
    cpu0 = cpu_seconds()
    started = time.perf_counter()
    result = Indexer(settings).build()
    wall = time.perf_counter() - started
    cpu = cpu_seconds() - cpu0
    size = folder_size(settings.index.dir / "live/")
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {"documents": result.documents, "failed": result.count("failed"), "wall": wall, "cpu": cpu,
            "text_mb": text_bytes / 1e6, "index_mb": size / 1e6, "peak_mb": peak / 1024}


def main(names: list[str]) -> None:
    rows = []
    for name in names:
        stats = build(name, workers=2)
        alone, chars = jieba_alone(name)
        rows.append((name, stats, alone, chars))
        print(name, stats, f"jieba alone {alone:.1f}s over {chars / 1e6:.2f} M chars", flush=True)
    lines = [
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}; "
        f"workers=2: each worker process reads, tokenizes and writes its own segments (parts of at most "
        f"{PART_DOCS:,} documents, a fresh process each, so memory stays bounded): Whoosh keeps the stored fields "
        f"and columns, indexer/postings.py the n-gram, Latin-word and jieba-word postings beside each segment; "
        f"one commit joins them. Corpora written out as Markdown files with front matter.",
        "",
        "| corpus | docs | failed | text MB | wall s | CPU s | docs/s | MB/s | peak RSS MB | index MB | index/text | jieba alone s (1 core) | build / jieba |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s, alone, chars in rows:
        lines.append(
            f"| {name} | {s['documents']} | {s['failed']} | {s['text_mb']:.1f} | {s['wall']:.1f} | {s['cpu']:.1f} | "
            f"{s['documents'] / s['wall']:.1f} | {s['text_mb'] / s['wall']:.2f} | {s['peak_mb']:.0f} | {s['index_mb']:.1f} | "
            f"{s['index_mb'] / s['text_mb']:.1f}× | {alone:.1f} | {s['wall'] / alone:.1f}× |")
    lines += ["", "| target | measured | |", "|---|---|---|"]
    for name, s, _alone, _chars in rows:
        if name == "xwlb_stories":
            lines.append(f"| full build of xwlb_stories ≤ {TARGET_WALL_S:.0f} s wall | {s['wall']:.1f} s | "
                         f"{'met' if s['wall'] <= TARGET_WALL_S else '**missed**'} |")
        ratio = s["index_mb"] / s["text_mb"]
        lines.append(f"| {name}: index ≤ {TARGET_SIZE_RATIO:.0f}× the text | {ratio:.1f}× | "
                     f"{'met' if ratio <= TARGET_SIZE_RATIO else '**missed**'} |")
    replace_section("Index build (index_bench.py)", "\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:] or ["gator_reports"])
