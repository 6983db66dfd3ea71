"""Served load: 8 keep-alive clients against `python -m server --prod` over xwlb_stories, searches then /healthz.

Usage: python bench/load_bench.py [--seconds 30] [--health-seconds 15] [--clients 8] [--workers 2]
                                  [--worker-class gevent] [--threads 4] [--compare gthread] [--no-report]

Reuses (or builds) the xwlb_stories index of the search bench (bench/data/xwlb_stories), serves
it with `python -m server --prod --no-watch` (gunicorn, [server].worker_class) on a free loopback port,
warms every worker with unmeasured passes of the query set, then runs N client threads in this
process, each on its own keep-alive http.client connection, for --seconds issuing the search
bench's QUERIES round-robin through /api/search (size 10: the whole API answer), then the same
clients for --health-seconds against /healthz (the server's own floor: HTTP, Flask, JSON, no
search). Then the search load again with the --compare worker class (gthread: --threads threads per
worker), the baseline of the ratio. Reports
requests/s, p50/p99 latency, errors (non-200 answers or exceptions), the CPU of the clients, of
the server and of the rest of the machine (the cores are shared), the resident memory of every
gunicorn worker after the run, and in the same run the bound: ArchiveSearcher.search looping
without HTTP in 1 and in --workers processes, with a cProfile split of its time. Writes its
section of bench/REPORT.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Served, ensure_index, get_json  # noqa: E402
from bench.search_bench import CORPUS, QUERIES  # noqa: E402

TARGET_SEARCHES_PER_S = 150.0
TARGET_P99_MS = 100.0
WARMUP_PASSES = 2
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process (its own threads, not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def serve_prod(settings, workers: int, threads: int, folder: Path, watch: bool = False,
               worker_class: str = "gevent") -> Served:
    """`python -m server --prod --no-watch` over the benchmark index (with watch=True the watcher too,
    the index's writer), gunicorn with `worker_class` workers (threads: of gthread), output to folder/server.log."""
    config = folder / "config.toml"
    config.write_text(
        f'[archive]\nroot = {json.dumps(str(settings.archive.root))}\n'
        f'[index]\ndir = {json.dumps(str(settings.index.dir))}\n'
        f'[server]\nworkers = {workers}\nthreads = {threads}\nworker_class = "{worker_class}"\n', encoding="utf-8")
    return Served(config, "--prod", *([] if watch else ["--no-watch"]), log_path=folder / "server.log")


def run_clients(port: int, paths: list[str], clients: int, seconds: float, server_pids: list[int]) -> dict:
    """`clients` threads, one keep-alive connection each, for `seconds`; latencies, errors and CPU."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[list[str]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, failed = latencies[index], errors[index]
        start.wait()
        n = index * 7          # each client starts at a different point of the query list
        while time.perf_counter() < deadline[0] and len(mine) + len(failed) < 1_000_000:
            path = paths[n % len(paths)]
            n += 1
            began = time.perf_counter()
            try:
                connection.request("GET", path)
                answer = connection.getresponse()
                answer.read()
                if answer.status == 200:
                    mine.append((time.perf_counter() - began) * 1000)
                else:
                    failed.append(f"{answer.status} {path}")
            except (OSError, http.client.HTTPException) as exc:
                failed.append(f"{type(exc).__name__} {path}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,), name=f"client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    server_cpu = [cpu_seconds(pid) for pid in server_pids]
    busy0, total0 = machine_busy()
    client_cpu = time.process_time()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join(seconds + 30)
    wall = time.perf_counter() - began
    client_cpu = time.process_time() - client_cpu
    busy1, total1 = machine_busy()
    server_cpu = [cpu_seconds(pid) - before for pid, before in zip(server_pids, server_cpu)]
    return {
        **latency_summary([ms for mine in latencies for ms in mine], [e for mine in errors for e in mine], wall),
        "client_cpu": client_cpu, "server_cpu": server_cpu,
        "machine_busy": (busy1 - busy0) / max(1, total1 - total0),
        "per_client": [len(mine) for mine in latencies],
    }


def latency_summary(latencies: list[float], errors: list[str], wall: float) -> dict:
    """Requests/s, p50/p99/max/mean ms of the answered requests, and the errors, of a load run."""
    flat = sorted(latencies)
    return {
        "wall": wall, "ok": len(flat), "errors": errors, "rate": (len(flat) + len(errors)) / wall,
        "p50": statistics.median(flat) if flat else float("nan"),
        "p99": flat[min(len(flat) - 1, int(len(flat) * 0.99))] if flat else float("nan"),
        "max": flat[-1] if flat else float("nan"), "mean": statistics.fmean(flat) if flat else float("nan"),
        "latencies": flat,
    }


def _search_loop(settings, queries: list[dict], seconds: float, barrier, results) -> None:
    from indexer.search import ArchiveSearcher
    from indexer.query import parse_request

    searcher = ArchiveSearcher(settings)
    requests = [parse_request({**params, "size": 10}, settings) for params in queries]
    for request in requests:                 # warm: the view and its text caches
        searcher.search(request)
    barrier.wait()
    began, cpu, done = time.perf_counter(), time.process_time(), 0
    while time.perf_counter() - began < seconds:
        for request in requests:
            searcher.search(request)
        done += len(requests)
    results.put((done, time.perf_counter() - began, time.process_time() - cpu))


def in_process_bound(settings, queries: list[dict], processes: int, seconds: float = 10.0) -> dict:
    """Searches/s and CPU ms per search of ArchiveSearcher.search looping in `processes` processes (no HTTP)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=_search_loop, args=(settings, queries, seconds, barrier, results))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    answers = [results.get(timeout=seconds + 120) for _ in workers]
    for worker in workers:
        worker.join(30)
    done = sum(n for n, _, _ in answers)
    return {"processes": processes, "rate": sum(n / wall for n, wall, _ in answers),
            "cpu_ms": sum(cpu for _, _, cpu in answers) / done * 1000}


def profile_shares(settings, queries: list[dict], passes: int = 2) -> dict[str, float]:
    """Share of ArchiveSearcher.search's time (cProfile, cumulative) in matching, ranking, hits and the rest."""
    import cProfile
    import pstats

    from indexer.search import ArchiveSearcher
    from indexer.query import parse_request

    searcher = ArchiveSearcher(settings)
    requests = [parse_request({**params, "size": 10}, settings) for params in queries]
    for request in requests:
        searcher.search(request)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(passes):
        for request in requests:
            searcher.search(request)
    profile.disable()
    cumulative = {}
    for (path, _line, name), (_cc, _nc, _tt, ct, _callers) in pstats.Stats(profile).stats.items():
        if path.endswith("indexer/search.py") and name in ("search", "_match", "_hit"):
            # search() matches through _match (the facets need the match before their selections)
            key = "match" if name == "_match" else name
            cumulative[key] = cumulative.get(key, 0.0) + ct
        elif path.endswith("indexer/ranking.py") and name == "rank":
            cumulative["rank"] = cumulative.get("rank", 0.0) + ct
    total = cumulative.get("search", 0.0) or 1.0
    shares = {name: cumulative.get(name, 0.0) / total for name in ("match", "rank", "_hit")}
    shares["rest"] = max(0.0, 1.0 - sum(shares.values()))
    return shares


def resolve_paths(port: int) -> tuple[list[dict], list[str]]:
    """The search bench's queries ("{broker}" = the most common broker facet, dropped if none) as request paths."""
    facets = get_json(f"http://127.0.0.1:{port}/api/search?" + urllib.parse.urlencode({"q": "的", "size": 1}), 10)
    brokers = facets.get("facets", {}).get("broker") or []
    broker = brokers[0][0] if brokers else ""
    queries = []
    for _, params in QUERIES:
        if params.get("broker") == "{broker}":
            if not broker:
                continue
            params = {**params, "broker": broker}
        queries.append(params)
    return queries, ["/api/search?" + urllib.parse.urlencode({**params, "size": 10}) for params in queries]


def shape(worker_class: str, workers: int, threads: int) -> str:
    """How a run was served: `gevent 2` (workers) or `gthread 2×4` (workers × threads)."""
    return f"{worker_class} {workers}" + (f"×{threads}" if worker_class == "gthread" else "")


def measure(settings, workers: int, threads: int, clients: int, seconds: float, health_seconds: float,
            worker_class: str = "gevent") -> dict:
    """Serve with workers (x threads), warm up, run the search load (and the /healthz load if health_seconds)."""
    label = shape(worker_class, workers, threads)
    with tempfile.TemporaryDirectory(prefix="load_bench-") as tmp:
        served = serve_prod(settings, workers, threads, Path(tmp), worker_class=worker_class)
        try:
            health = served.wait_healthy()
            master, pids = served.gunicorn()
            print(f"[{label}] serving {health['documents']:,} documents on port {served.port}: "
                  f"gunicorn {master}, workers {pids}", flush=True)
            queries, paths = resolve_paths(served.port)
            # Warm every worker (cold views, per-generation text caches): unmeasured, fresh connections.
            warm_started, warm_done = time.perf_counter(), 0
            while warm_done < WARMUP_PASSES * len(paths) * workers and time.perf_counter() - warm_started < 60:
                warm_done += run_clients(served.port, paths, clients, 2.0, pids)["ok"]
            print(f"[{label}] warm-up: {warm_done} searches in "
                  f"{time.perf_counter() - warm_started:.1f} s", flush=True)
            search = run_clients(served.port, paths, clients, seconds, [master, *pids])
            print(f"[{label}] searches: {search['rate']:.1f}/s, p50 {search['p50']:.1f} ms, "
                  f"p99 {search['p99']:.1f} ms, {len(search['errors'])} errors", flush=True)
            floor = None
            if health_seconds > 0:
                floor = run_clients(served.port, ["/healthz"], clients, health_seconds, [master, *pids])
                print(f"[{label}] /healthz: {floor['rate']:.1f}/s, p50 {floor['p50']:.1f} ms, "
                      f"p99 {floor['p99']:.1f} ms, {len(floor['errors'])} errors", flush=True)
            memory = {pid: memory_mb(pid) for pid in [master, *pids]}
        finally:
            served.stop()
        access_lines = sum(1 for line in served.log_path.read_text(encoding="utf-8").splitlines()
                           if "server.access: " in line)
    return {"workers": workers, "threads": threads, "worker_class": worker_class, "shape": label, "health": health,
            "queries": queries, "search": search,
            "floor": floor, "memory": memory, "master": master, "pids": pids, "access_lines": access_lines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="search load duration")
    parser.add_argument("--health-seconds", type=float, default=15.0, help="/healthz load duration")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="threads per worker of a gthread run")
    parser.add_argument("--worker-class", default="gevent", help="[server].worker_class of the main run")
    parser.add_argument("--compare", default="gthread",
                        help="also run the search load with this worker class, the baseline ('': skip)")
    parser.add_argument("--no-report", action="store_true", help="print the table only")
    args = parser.parse_args(argv)

    settings, built = ensure_index(CORPUS)
    load_before = os.getloadavg()[0]
    main_run = measure(settings, args.workers, args.threads, args.clients, args.seconds, args.health_seconds,
                       args.worker_class)
    other = None
    if args.compare and args.compare != args.worker_class:
        other = measure(settings, args.workers, args.threads, args.clients, args.seconds, 0, args.compare)
    bound = [in_process_bound(settings, main_run["queries"], 1),
             in_process_bound(settings, main_run["queries"], args.workers)]
    shares = profile_shares(settings, main_run["queries"])
    client_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load_after = os.getloadavg()[0]

    body = render(args, built, main_run, other, bound, shares, load_before, load_after, client_peak_mb)
    print(body)
    if not args.no_report:
        from bench.report import replace_section

        replace_section("Served load (load_bench.py)", body)
        print("wrote bench/REPORT.md")
    return 0


def render(args, built, run, other, bound, shares, load_before, load_after, client_peak_mb) -> str:
    cores = os.cpu_count() or 1
    search, floor, memory, master, pids = run["search"], run["floor"], run["memory"], run["master"], run["pids"]

    def row(label: str, r: dict) -> str:
        done = r["ok"] + len(r["errors"])
        server_cpu = sum(r["server_cpu"])
        busy = r["machine_busy"] * cores
        rest = max(0.0, busy - server_cpu / r["wall"] - r["client_cpu"] / r["wall"])
        return (f"| {label} | {done:,} | {r['rate']:.1f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} | "
                f"{len(r['errors'])} | {server_cpu / done * 1000:.2f} | {r['client_cpu'] / done * 1000:.2f} | "
                f"{server_cpu / r['wall']:.2f} | {r['client_cpu'] / r['wall']:.2f} | {rest:.2f} | {busy:.2f} |")

    shape, other_shape = run["shape"], other["shape"] if other else ""
    rows = [row(f"search, {shape} ({args.seconds:.0f} s)", search),
            row(f"/healthz, {shape} ({args.health_seconds:.0f} s)", floor)]
    if other:
        rows.append(row(f"search, {other_shape} ({args.seconds:.0f} s)", other["search"]))
    errors = search["errors"] + floor["errors"]
    worker_cpu = ", ".join(f"{cpu:.1f}" for cpu in search["server_cpu"][1:])
    lines = [
        f"Corpus {CORPUS}: {run['health']['documents']:,} documents; index "
        f"{'reused' if built is None else f'built in {built:.0f} s'}. Python {platform.python_version()}, "
        f"{cores} CPUs ({platform.machine()}), Linux {platform.release()}; load average (1 min) "
        f"{load_before:.1f} before, {load_after:.1f} after (other sessions' tests share the machine: see "
        f"\"other cores\").",
        "",
        f"Server: `python -m server --prod --no-watch` = gunicorn 27 with `[server].worker_class` workers "
        f"(gevent W: W processes, a greenlet per connection; gthread W×T: W processes of T threads), "
        f"on 127.0.0.1. Clients: {args.clients} threads in the benchmark process (same machine, same {cores} "
        f"cores), one keep-alive `http.client` connection each, no think time. Searches: the search bench's "
        f"{len(run['queries'])} QUERIES round-robin through `/api/search` (size 10: total, facets, 10 snippets, "
        f"JSON), after {WARMUP_PASSES} unmeasured warm-up passes per worker; then the same clients against "
        f"`/healthz` (document count: HTTP + Flask + JSON, no search) as the server's floor. Errors = non-200 "
        f"answers or exceptions. CPU from /proc: server = gunicorn master + workers, client = this process, "
        f"other = the rest of the machine (other processes, kernel). The {shape} access log had "
        f"{run['access_lines']:,} lines (one per request).",
        "",
        "| load | requests | req/s | p50 ms | p99 ms | max ms | errors | server CPU ms/req | client CPU ms/req "
        "| server cores | client cores | other cores | machine busy cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Bound, in the same run: the same queries through `ArchiveSearcher.search` looping in 1 process: "
        f"{bound[0]['rate']:.0f} searches/s ({bound[0]['cpu_ms']:.1f} CPU ms each); in {bound[1]['processes']} "
        f"processes at once: {bound[1]['rate']:.0f} searches/s ({bound[1]['cpu_ms']:.1f} CPU ms each) — no HTTP, "
        f"no JSON, no clients. Served {shape}: {search['rate'] / bound[1]['rate']:.0%} of it"
        + (f"; served {other_shape}: {other['search']['rate'] / bound[1]['rate']:.0%}; {shape} / {other_shape} "
           f"searches/s in this run: {search['rate'] / other['search']['rate']:.2f}" if other else "")
        + f". Worker CPU seconds in the {shape} search run: {worker_cpu}"
        + (f"; in the {other_shape} run: "
           + ", ".join(f"{cpu:.1f}" for cpu in other["search"]["server_cpu"][1:]) if other else "")
        + " (how evenly the keep-alive connections fell on the workers: gunicorn does not balance them, a "
        "connection stays with the worker that accepted it, and a worker with no connection idles a core).",
        "",
        f"| target | {shape} |" + (f" {other_shape} |" if other else ""),
        "|---|---|" + ("---|" if other else ""),
        *("| " + label + " | " + " | ".join(check(r["search"], r["floor"]) for r in ([run, other] if other else [run]))
          + " |" for label, check in [
              (f"searches/s ≥ {TARGET_SEARCHES_PER_S:.0f}", lambda r, f: f"{r['rate']:.1f} "
               f"{'met' if r['rate'] >= TARGET_SEARCHES_PER_S else '**missed**'}"),
              (f"p99 ≤ {TARGET_P99_MS:.0f} ms", lambda r, f: f"{r['p99']:.1f} ms "
               f"{'met' if r['p99'] <= TARGET_P99_MS else '**missed**'}"),
              ("0 errors", lambda r, f: f"{len(r['errors']) + len(f['errors'] if f else [])} "
               f"{'met' if not r['errors'] and not (f and f['errors']) else '**missed**'}")]),
        "",
        f"Memory after the {shape} run (VmRSS / VmHWM peak):",
        "",
        "| process | RSS MB | peak MB |",
        "|---|---|---|",
        f"| gunicorn master (pid {master}) | {memory[master][0]:.0f} | {memory[master][1]:.0f} |",
        *(f"| worker {n} (pid {pid}) | {memory[pid][0]:.0f} | {memory[pid][1]:.0f} |"
          for n, pid in enumerate(pids, 1)),
        f"| benchmark process (the clients) | | {client_peak_mb:.0f} |",
    ]
    served_ms = sum(search["server_cpu"]) / (search["ok"] + len(search["errors"])) * 1000
    floor_ms = sum(floor["server_cpu"]) / (floor["ok"] + len(floor["errors"])) * 1000
    lines += [
        "",
        f"Where the time goes: a served search costs {served_ms:.1f} server CPU ms against "
        f"{bound[1]['cpu_ms']:.1f} ms for `ArchiveSearcher.search` alone (the {bound[1]['processes']}-process "
        f"bound): serving it (gunicorn, Flask, request.args, JSON of a ~10 KB answer, the access-log line) adds "
        f"{served_ms - bound[1]['cpu_ms']:+.1f} ms in this run (the search's own CPU cost varies by ~1 ms from "
        f"run to run on this shared VM; /healthz, all of the serving minus the search, costs {floor_ms:.2f} ms). "
        f"With both cores the "
        f"server could answer at most {cores * 1000 / served_ms:.0f} searches/s; the clients themselves took "
        f"{search['client_cpu'] / search['wall']:.2f} cores ({search['client_cpu'] / search['wall'] / cores:.0%} "
        f"of the machine). Inside `search` (cProfile, cumulative): ranking `ranking.rank` {shares['rank']:.0%} (BM25F "
        f"over the matches, from the postings files or the cached texts), matching {shares['match']:.0%}, hits with snippets "
        f"{shares['_hit']:.0%}, the rest (query parsing, the facet counts: np.bincount over the matched documents' codes) "
        f"{shares['rest']:.0%}. Only Whoosh's stored fields and columns are read under "
        f"`view.lock`; the rest of a search is pure Python under the GIL, so a worker's threads overlap I/O and "
        f"JSON at most, and a worker with no connection idles a core; with {args.clients} closed-loop clients the mean latency is {args.clients} / rate "
        f"(Little's law), and p99 is the slowest queries (phrases, 20–40 ms each) waiting behind the other "
        f"connections of their worker.",
    ]
    if errors:
        lines += ["", "First errors: " + "; ".join(f"`{e}`" for e in errors[:5])]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
