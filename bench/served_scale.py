"""Served at scale: the search bench's queries over HTTP against a synthetic archive of scale_bench.py.

Usage: python bench/served_scale.py [--size 100000] [--passes 3] [--no-watch] [--no-report]

Serves bench/data/scale_<N> (archive and index left by `python bench/scale_bench.py --sizes N
--build-only`, or --keep) with `python -m server --prod`: gunicorn with the config's [server]
workers and worker class, and the watcher (the index's writer, which also holds the archive's
state) unless --no-watch. One keep-alive client then asks /api/search for scale_bench's query
set (size 10: total, facets, snippets) one request at a time: a warm-up pass, then --passes
timed passes. Reports p50 over the per-query medians and the slowest query's median, and the
memory of the server's processes after the passes: RSS and PSS (/proc/PID/smaps_rollup; PSS
splits pages shared between processes, so the sum of PSS is what they take together) of the
server, the gunicorn master, each worker and the watcher. Targets (issue "A million reports", at
100,000 documents): p50 <= 10 ms, slowest <= 50 ms, the processes together <= 800 MB.
Writes its section of bench/REPORT.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
import urllib.parse
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import child_pids, machine, md_table, percentile  # noqa: E402
from bench.load_bench import serve_prod  # noqa: E402
from bench.memory_bench import smaps_mb  # noqa: E402
from bench.report import replace_section  # noqa: E402
from bench.scale_bench import folder_of, git_commit, query_set, settings_for, show  # noqa: E402

SECTION = "Served at scale (served_scale.py)"
TARGET_P50_MS, TARGET_SLOWEST_MS, TARGET_MEMORY_MB = 10.0, 50.0, 800.0


def timed_get(connection: http.client.HTTPConnection, path: str) -> tuple[float, dict]:
    started = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    ms = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise SystemExit(f"{path} answered {response.status}: {body[:300]!r}")
    return ms, json.loads(body)


def processes(served) -> dict[str, int]:
    """{role: pid} of every process of the server."""
    master, workers = served.gunicorn()
    found = {"server": served.process.pid, "gunicorn master": master}
    found.update({f"worker {i + 1}": pid for i, pid in enumerate(sorted(workers))})
    watcher = served.watcher()
    if watcher is not None:
        found["watcher"] = watcher
        for i, pid in enumerate(child_pids(watcher)):       # its merge or PDF children, if any at that moment
            found[f"watcher child {i + 1}"] = pid
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--no-watch", action="store_true", help="serve without the watcher")
    parser.add_argument("--no-report", action="store_true", help="print the figures only")
    args = parser.parse_args(argv)

    settings = settings_for(args.size)
    if not (settings.index.dir / "live").exists():
        raise SystemExit(f"no index at {settings.index.dir}: python bench/scale_bench.py --sizes {args.size} --build-only")
    folder = folder_of(args.size) / "served"
    folder.mkdir(parents=True, exist_ok=True)
    served = serve_prod(settings, settings.server.workers, settings.server.threads, folder, watch=not args.no_watch,
                        worker_class=settings.server.worker_class)
    try:
        health = served.wait_healthy(600)
        from indexer.search import ArchiveSearcher
        queries = query_set(ArchiveSearcher(settings), settings)     # the broker filter's value: one search here
        paths = ["/api/search?" + urllib.parse.urlencode({**q, "size": 10}) for q in queries]
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=120)
        for _ in range(len(processes(served)) * 2):     # every worker warmed: the requests spread over them
            for path in paths:
                timed_get(connection, path)
            connection.close()
        samples: list[list[float]] = [[] for _ in paths]
        for _ in range(args.passes):
            for i, path in enumerate(paths):
                samples[i].append(timed_get(connection, path)[0])
        memory = {role: smaps_mb(pid) for role, pid in processes(served).items()}
    finally:
        served.stop()
    medians = [statistics.median(s) for s in samples]
    slowest = sorted(range(len(paths)), key=lambda i: -medians[i])[:3]
    together = sum(m["pss"] for m in memory.values())
    figures = {"documents": health.get("documents"), "queries": len(paths), "p50": percentile(medians, 50),
               "slowest": max(medians), "mean": statistics.fmean(medians), "pss_mb": together,
               "memory": memory, "slowest_queries": [[show(queries[i]), round(medians[i], 1)] for i in slowest]}
    print(json.dumps(figures, ensure_ascii=False, indent=1))
    if not args.no_report:
        write_report(args, settings, figures)
    return 0


def write_report(args, settings, figures: dict) -> None:
    rows = [[role, f"{m['rss']:,.0f}", f"{m['pss']:,.0f}"] for role, m in figures["memory"].items()]
    rows.append(["**together**", "", f"**{figures['pss_mb']:,.0f}**"])
    met = (figures["p50"] <= TARGET_P50_MS, figures["slowest"] <= TARGET_SLOWEST_MS,
           figures["pss_mb"] <= TARGET_MEMORY_MB)
    verdict = lambda ok: "met" if ok else "**not met**"      # noqa: E731
    slowest = "; ".join(f"`{q}` {ms} ms" for q, ms in figures["slowest_queries"])
    body = f"""Commit {git_commit()}; {machine()}. `python -m server --prod` over bench/data/scale_{args.size} ({figures['documents']:,} synthetic documents, scale_bench.py's archive and index): gunicorn, {settings.server.workers} {settings.server.worker_class} workers, {"no watcher" if args.no_watch else "and the watcher"}. One keep-alive client, one request at a time: scale_bench's {figures['queries']} queries through /api/search (size 10: total, facets, snippets), every worker warmed, then {args.passes} timed passes; p50 over the per-query medians, "slowest" the slowest query's median (client-side, HTTP included).

| measure | figure | target |
|---|---|---|
| search p50 | {figures['p50']:.1f} ms | ≤ {TARGET_P50_MS:g} ms: {verdict(met[0])} |
| slowest query | {figures['slowest']:.1f} ms | ≤ {TARGET_SLOWEST_MS:g} ms: {verdict(met[1])} |
| the server's processes together (PSS) | {figures['pss_mb']:,.0f} MB | ≤ {TARGET_MEMORY_MB:g} MB: {verdict(met[2])} |

Slowest queries (median ms): {slowest}.

Memory after the passes, MB:

{md_table(["process", "RSS", "PSS"], rows)}
"""
    replace_section(SECTION, body)


if __name__ == "__main__":
    raise SystemExit(main())
