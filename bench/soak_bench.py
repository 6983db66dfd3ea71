"""Soak: the load bench's search load on the production server for minutes while reports are dropped, rewritten and deleted.

Usage: python bench/soak_bench.py [--seconds 300] [--quiet-seconds 20] [--interval 1.0] [--clients 8]
                                  [--workers 2] [--threads 4] [--limit N] [--no-report]

Serves a copy of the xwlb_stories archive and index (bench/data/soak: the archive's files hard-linked,
the live index generation copied, so the shared bench/data/xwlb_stories is only read) with
`python -m server --prod`: gunicorn workers and the watcher, the index's only writer. --limit N serves
the first N reports instead, indexed afresh (quicker to set up, for trying the bench out). After the
load bench's warm-up, its N keep-alive clients run the search bench's queries round-robin, first for
--quiet-seconds with nothing changing (the baseline, in the same run), then for --seconds while a
mutator, every --interval seconds, drops a new report (a gator_reports text ending in a unique nonce),
rewrites a dropped one with a new nonce, or deletes one, and after each change polls /api/search (a
fresh connection per poll, so any worker may answer) until the change shows: the new nonce found at
its path and the old one gone, or the deleted one gone. The resident memory and open files of every
server process (the `python -m server` supervisor, the gunicorn master and workers, the watcher) are
sampled from /proc every 5 s. At the end every dropped report must be found exactly once by its
nonce, and every replaced or deleted nonce found nowhere. Errors are non-200 answers or exceptions,
of the clients and of the polls. Writes its section of bench/REPORT.md; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Served, ensure_index, percentile  # noqa: E402
from bench.corpus import DATA, records  # noqa: E402
from bench.load_bench import (WARMUP_PASSES, latency_summary, memory_mb, resolve_paths, run_clients,  # noqa: E402
                              serve_prod)
from bench.search_bench import CORPUS  # noqa: E402
from indexer.watcher import MERGE_AFTER_COMMITS, MERGE_QUIET_SECONDS  # noqa: E402

SOAK = DATA / "soak"
TARGET_VISIBLE_S = 1.0          # every change searchable (or gone) within the drop target
MEMORY_BOUND = 0.10             # RSS growth after the first minute, per process, at most this fraction
MEMORY_SETTLE_S = 60.0          # the first minute: caches fill, the first commits open new generations
MEMORY_WINDOW_S = 60.0          # RSS swings ±50 MB within a minute (freed arenas, views): compare minute medians
SAMPLE_EVERY_S = 5.0
CHUNK_S = 60.0                  # the load is reported per minute too: does it drift?
POLL_PAUSE_S = 0.01
CHANGE_TIMEOUT_S = 15.0
NONCE = "浸泡标记{:05d}号"


# -- the served copy -------------------------------------------------------------------------

def link_or_copy(source: str, target: str) -> None:
    """Hard-link an archive file (the bench never writes the originals); copy across file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def prepare(limit: int, log=print):
    """Settings of bench/data/soak, made afresh from the xwlb_stories archive and index; and how."""
    from indexer.config import DEFAULT_CONFIG, load_settings
    from indexer.indexing import Indexer
    from indexer.store import IndexStore

    source, built = ensure_index(CORPUS, log=log)
    if SOAK.exists():
        shutil.rmtree(SOAK)
    root, index = SOAK / "archive", SOAK / "var" / "index"
    settings = load_settings(DEFAULT_CONFIG, overrides={"archive": {"root": str(root)},
                                                        "index": {"dir": str(index), "workers": 2}}, environ={})
    jieba_cache = source.var_dir / "jieba.cache"
    if jieba_cache.exists():
        settings.var_dir.mkdir(parents=True)
        shutil.copy2(jieba_cache, settings.var_dir / "jieba.cache")
    if limit:
        root.mkdir(parents=True)
        for path in sorted(source.archive.root.iterdir())[:limit]:
            link_or_copy(str(path), str(root / path.name))
        started = time.perf_counter()
        documents = Indexer(settings).build().documents
        return settings, f"the first {documents:,} reports of {CORPUS}, indexed afresh in {time.perf_counter() - started:.0f} s"
    started = time.perf_counter()
    shutil.copytree(source.archive.root, root, copy_function=link_or_copy)
    store = IndexStore(source)
    live = store.live_build()
    shutil.copytree(live, index / "builds" / live.name)
    os.symlink(os.path.join("builds", live.name), index / "live")
    shutil.copy2(store.status_path, index / "status.json")
    return settings, (f"all of {CORPUS} (its index {'reused' if built is None else f'built in {built:.0f} s'}; "
                      f"archive hard-linked and live generation copied in {time.perf_counter() - started:.0f} s)")


def server_processes(served: Served) -> dict[str, int]:
    """{role: pid} of the running service."""
    master, workers = served.gunicorn()
    roles = {"supervisor (python -m server)": served.process.pid, "gunicorn master": master}
    roles.update({f"gunicorn worker {n}": pid for n, pid in enumerate(workers, 1)})
    watcher = served.watcher()
    if watcher is not None:
        roles["watcher (indexer watch)"] = watcher
    return roles


def open_files(pid: int) -> int:
    """Open file descriptors of a process (sockets, index files, mmaps' duplicates)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def segment_count(settings) -> int | None:
    """Segments of the live generation (each commit of the watcher adds one; its merges remove them)."""
    from indexer.errors import IndexUnavailable
    from indexer.store import IndexStore

    try:
        ix = IndexStore(settings).open()
    except IndexUnavailable:
        return None
    try:
        with ix.reader() as reader:
            return len(reader.leaf_readers())
    finally:
        ix.close()


def rss_parts_mb(pid: int) -> tuple[float, float]:
    """(RssAnon, RssFile + RssShmem) of a process in MB: its own memory, and the pages of mapped files
    (the index's postings and segments, shared with the page cache) that VmRSS also counts."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("RssAnon", "RssFile", "RssShmem"):
            values[key] = int(rest.split()[0]) / 1024
    return values["RssAnon"], values["RssFile"] + values["RssShmem"]


class Sampler(threading.Thread):
    """Every SAMPLE_EVERY_S: (seconds since start, {role: (pid, RSS MB, open files, anonymous MB, file-backed MB)},
    index segments)."""

    def __init__(self, served: Served, settings):
        super().__init__(name="rss-sampler", daemon=True)
        self.served, self.settings = served, settings
        self.samples: list[tuple[float, dict[str, tuple[int, float, int, float, float]], int | None]] = []
        self.stop = threading.Event()
        self.began = time.perf_counter()

    def sample(self) -> None:
        found = {}
        for role, pid in server_processes(self.served).items():
            try:
                anon, mapped = rss_parts_mb(pid)
                found[role] = (pid, memory_mb(pid)[0], open_files(pid), anon, mapped)
            except (OSError, KeyError):
                continue        # exited between the listing and the read
        self.samples.append((time.perf_counter() - self.began, found, segment_count(self.settings)))

    def run(self) -> None:
        while True:
            self.sample()
            if self.stop.wait(SAMPLE_EVERY_S):
                self.sample()
                return


# -- the changes -------------------------------------------------------------------------------

@dataclass
class Change:
    kind: str                    # drop | rewrite | delete
    path: str
    seconds: float = math.inf    # from the write (or unlink) until search showed it; inf: never
    polls: int = 0


class Mutator(threading.Thread):
    """Every `interval` s one change in archive/soak/, then polls search until it shows."""

    def __init__(self, port: int, root: Path, texts: list[str], interval: float, rng: random.Random):
        super().__init__(name="mutator", daemon=True)
        self.port, self.root, self.texts, self.interval, self.rng = port, root, texts, interval, rng
        self.changes: list[Change] = []
        self.errors: list[str] = []
        self.current: dict[str, str] = {}      # relative path -> the nonce its text holds
        self.gone: list[str] = []              # nonces no file holds any more
        self.made = 0
        self.stop = threading.Event()
        (root / "soak").mkdir(exist_ok=True)

    def search_paths(self, nonce: str) -> list[str] | None:
        """Paths of the hits for the nonce (a fresh connection: any worker may answer); None on an error."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        path = "/api/search?" + urllib.parse.urlencode({"q": f'"{nonce}"', "size": 10})
        try:
            connection.request("GET", path)
            answer = connection.getresponse()
            body = answer.read()
            if answer.status != 200:
                self.errors.append(f"{answer.status} {path}")
                return None
            return [hit["path"] for hit in json.loads(body)["hits"]]
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.errors.append(f"{type(exc).__name__} {path}")
            return None
        finally:
            connection.close()

    def shows(self, expected: dict[str, list[str]]) -> bool:
        return all(self.search_paths(nonce) == paths for nonce, paths in expected.items())

    def next_kind(self) -> str:
        if len(self.current) < 3:
            return "drop"
        return self.rng.choices(["drop", "rewrite", "delete"], weights=[4, 3, 3])[0]

    def text(self, nonce: str) -> str:
        body = self.rng.choice(self.texts)
        return f"# 浸泡测试报告\n\n{body}\n\n（{nonce}）\n"

    def change_once(self) -> None:
        kind = self.next_kind()
        if kind == "drop":
            relpath = f"soak/报告{self.made:05d}.md"
        else:
            relpath = self.rng.choice(sorted(self.current))
        old = self.current.get(relpath)
        nonce = NONCE.format(self.made)
        self.made += 1
        change = Change(kind, relpath)
        started = time.perf_counter()
        if kind == "delete":
            (self.root / relpath).unlink()
            del self.current[relpath]
            expected = {old: []}
        else:
            (self.root / relpath).write_text(self.text(nonce), encoding="utf-8")
            self.current[relpath] = nonce
            expected = {nonce: [relpath]} | ({old: []} if old else {})
        if old:
            self.gone.append(old)
        while time.perf_counter() - started < CHANGE_TIMEOUT_S:
            change.polls += 1
            if self.shows(expected):
                change.seconds = time.perf_counter() - started
                break
            time.sleep(POLL_PAUSE_S)
        self.changes.append(change)

    def run(self) -> None:
        next_at = time.perf_counter()
        while not self.stop.wait(max(0.0, next_at - time.perf_counter())):
            next_at += self.interval
            self.change_once()
            next_at = max(next_at, time.perf_counter())     # a slow change delays the next, never bunches them


def final_check(mutator: Mutator, port: int, documents_before: int) -> dict:
    """After the load: every dropped report found once by its nonce, every old nonce nowhere, the count right."""
    time.sleep(2.0)                     # the last change has shown already; let the watcher go quiet
    missing = [p for p, nonce in mutator.current.items() if mutator.search_paths(nonce) != [p]]
    found_gone = [nonce for nonce in mutator.gone if mutator.search_paths(nonce) != []]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/api/status")
    status = json.loads(connection.getresponse().read())
    connection.close()
    return {"current": len(mutator.current), "missing": missing, "gone": len(mutator.gone),
            "found_gone": found_gone, "documents": status.get("documents"),
            "expected_documents": documents_before + len(mutator.current), "failed": status.get("failed", [])}


# -- the run -----------------------------------------------------------------------------------

def wait_for_watcher(served: Served, seconds: float = 600) -> float:
    """Seconds until the watcher logged that it watches (its initial sync over the copy is done)."""
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        if served.process.poll() is not None:
            raise SystemExit(f"the server exited ({served.process.returncode}); see {served.log_path}")
        if " watching " in served.log_path.read_text(encoding="utf-8", errors="replace"):
            return time.perf_counter() - started
        time.sleep(0.2)
    raise SystemExit(f"the watcher did not finish its initial sync in {seconds:.0f} s; see {served.log_path}")


def soak(settings, args) -> dict:
    """Serve, warm up, run the quiet load, then the load with changes; everything measured."""
    texts = [r["text"] for r in records("gator_reports") if len(r["text"]) > 200]
    with tempfile.TemporaryDirectory(prefix="soak_bench-") as tmp:
        served = serve_prod(settings, args.workers, args.threads, Path(tmp), watch=True)
        try:
            health = served.wait_healthy()
            initial_sync = wait_for_watcher(served)
            roles = server_processes(served)
            print(f"serving {health['documents']:,} documents on port {served.port}; watcher ready after "
                  f"{initial_sync:.1f} s; processes {roles}", flush=True)
            queries, paths = resolve_paths(served.port)
            master, workers = served.gunicorn()
            warm_started, warm_done = time.perf_counter(), 0
            while warm_done < WARMUP_PASSES * len(paths) * len(workers) and time.perf_counter() - warm_started < 60:
                warm_done += run_clients(served.port, paths, args.clients, 2.0, workers)["ok"]
            print(f"warm-up: {warm_done} searches in {time.perf_counter() - warm_started:.1f} s", flush=True)
            quiet = run_clients(served.port, paths, args.clients, args.quiet_seconds, [master, *workers])
            print(f"quiet: {quiet['rate']:.1f} searches/s, p50 {quiet['p50']:.1f} ms, p99 {quiet['p99']:.1f} ms, "
                  f"{len(quiet['errors'])} errors", flush=True)

            sampler = Sampler(served, settings)
            mutator = Mutator(served.port, settings.archive.root, texts, args.interval, random.Random(args.seed))
            sampler.start()
            mutator.start()
            chunks, left = [], args.seconds
            while left > 0:
                chunks.append(run_clients(served.port, paths, args.clients, min(CHUNK_S, left), [master, *workers]))
                chunks[-1]["changes"] = len(mutator.changes)
                left -= CHUNK_S
                print(f"  {args.seconds - max(left, 0):.0f} s: {chunks[-1]['rate']:.1f} searches/s, p99 "
                      f"{chunks[-1]['p99']:.1f} ms, {len(chunks[-1]['errors'])} errors, {len(mutator.changes)} "
                      f"changes", flush=True)
            load = latency_summary([ms for c in chunks for ms in c["latencies"]],
                                   [e for c in chunks for e in c["errors"]], sum(c["wall"] for c in chunks))
            mutator.stop.set()
            mutator.join(CHANGE_TIMEOUT_S + 30)
            sampler.stop.set()
            sampler.join(30)
            print(f"soak: {load['rate']:.1f} searches/s, p50 {load['p50']:.1f} ms, p99 {load['p99']:.1f} ms, "
                  f"{len(load['errors'])} errors; {len(mutator.changes)} changes", flush=True)
            check = final_check(mutator, served.port, health["documents"])
        finally:
            served.stop()
        log_text = served.log_path.read_text(encoding="utf-8", errors="replace")
        if args.keep_log:
            shutil.copy(served.log_path, SOAK / "server.log")
    lines = log_text.splitlines()
    server_errors = [line for line in lines if "server.access: " in line and " status=5" in line]
    watcher = {"merges": [float(m) for m in re.findall(r"merged small index segments \((\d+) ms\)", log_text)],
               "beside": sum(int(n) for n in re.findall(r"merged small index segments \(\d+ ms\) beside (\d+) commits",
                                                         log_text)),
               "dropped": log_text.count("dropped a merge of index segments"),
               "rescans": [(int(n), float(ms)) for n, ms in
                           re.findall(r"rescan found (\d+) changes the events missed \((\d+) ms\)", log_text)]}
    return {"health": health, "initial_sync": initial_sync, "queries": queries, "quiet": quiet, "load": load,
            "chunks": chunks, "watcher": watcher,
            "mutator": mutator, "samples": sampler.samples, "check": check, "roles": roles,
            "tracebacks": sum(1 for line in lines if line.startswith("Traceback")),
            "server_5xx": len(server_errors), "access_lines": sum(1 for line in lines if "server.access: " in line)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="duration of the load with changes")
    parser.add_argument("--quiet-seconds", type=float, default=20.0, help="the same load without changes, first")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between changes")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--limit", type=int, default=0, help="serve only the first N reports (indexed afresh)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep-log", action="store_true", help="keep the server log as bench/data/soak/server.log")
    parser.add_argument("--no-report", action="store_true", help="print the section only")
    args = parser.parse_args(argv)

    settings, corpus = prepare(args.limit)
    load_before = os.getloadavg()[0]
    run = soak(settings, args)
    load_after = os.getloadavg()[0]
    body, passed = render(args, corpus, run, load_before, load_after)
    print(body)
    if not args.no_report:
        from bench.report import replace_section

        replace_section("Soak: search load while files change (soak_bench.py)", body)
        print("wrote bench/REPORT.md")
    return 0 if passed else 1


# -- the report --------------------------------------------------------------------------------

def segments_at(samples, seconds: float) -> str:
    """Index segments in the last sample taken by `seconds` into the changes."""
    counts = [n for t, _, n in samples if t <= seconds + 1 and n is not None]
    return str(counts[-1]) if counts else "?"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "**FAIL**"


def memory_rows(samples, seconds: float) -> tuple[list[str], bool, float]:
    """Per process: RSS at the start, the median of the minute after settling and of the last minute,
    the max, the growth between those medians, open files."""
    settle_at = min(MEMORY_SETTLE_S, seconds / 2)
    rows, passed = [], True
    roles = list(samples[0][1]) if samples else []
    for role in roles:
        series = [(t, found[role]) for t, found, _ in samples if role in found]
        pids = sorted({pid for _, (pid, *_) in series})
        start = series[0][1][1]
        window = min(MEMORY_WINDOW_S, max(SAMPLE_EVERY_S, (series[-1][0] - settle_at) / 2))

        def medians(part: int) -> tuple[float, float]:
            first = [v[part] for t, v in series if settle_at <= t < settle_at + window] or [series[-1][1][part]]
            last = [v[part] for t, v in series if t > series[-1][0] - window] or [series[-1][1][part]]
            return statistics.median(first), statistics.median(last)

        settled, end = medians(1)
        (anon_settled, anon_end), (file_settled, file_end) = medians(3), medians(4)
        peak = max(v[1] for _, v in series)
        growth = (end - settled) / settled
        after = [(t, v[1]) for t, v in series if t >= settle_at]
        slope = statistics.linear_regression([t for t, _ in after], [rss for _, rss in after]).slope * 60 \
            if len(after) >= 3 else float("nan")
        files = [v[2] for _, v in series]
        ok = growth <= MEMORY_BOUND and len(pids) == 1
        passed &= ok
        rows.append(f"| {role} | {', '.join(map(str, pids))} | {start:.0f} | {settled:.0f} | {end:.0f} | {peak:.0f} | "
                    f"{end - settled:+.0f} MB ({growth:+.1%}) | {anon_end - anon_settled:+.0f} / {file_end - file_settled:+.0f} MB | "
                    f"{slope:+.2f} | {files[0]} → {files[-1]} (max {max(files)}) "
                    f"| {verdict(ok)}{'' if len(pids) == 1 else ' (restarted)'} |")
    return rows, passed, settle_at


def render(args, corpus: str, run: dict, load_before: float, load_after: float) -> tuple[str, bool]:
    quiet, load, mutator, check = run["quiet"], run["load"], run["mutator"], run["check"]
    cores = os.cpu_count() or 1
    errors = load["errors"] + mutator.errors
    searches = load["ok"] + len(load["errors"])
    changes = mutator.changes
    by_kind = {kind: [c for c in changes if c.kind == kind] for kind in ("drop", "rewrite", "delete")}

    def visibility_row(label: str, group: list[Change]) -> str:
        if not group:
            return f"| {label} | 0 | | | | | |"
        seen = [c.seconds for c in group if math.isfinite(c.seconds)]
        late = sum(1 for c in group if c.seconds > TARGET_VISIBLE_S)
        never = len(group) - len(seen)
        cells = (f"{percentile(seen, 50) * 1000:.0f} | {percentile(seen, 99) * 1000:.0f} | {max(seen) * 1000:.0f}"
                 if seen else "| |")
        return f"| {label} | {len(group)} | {cells} | {late} | {never} |"

    late = sum(1 for c in changes if c.seconds > TARGET_VISIBLE_S)
    visible_ok = bool(changes) and late == 0
    memory, memory_ok, settle_at = memory_rows(run["samples"], args.seconds)
    check_ok = (not check["missing"] and not check["found_gone"] and check["documents"] == check["expected_documents"])
    errors_ok = not errors and run["server_5xx"] == 0
    passed = errors_ok and visible_ok and memory_ok and check_ok
    poll_ms = [c.seconds / c.polls * 1000 for c in changes if c.polls and math.isfinite(c.seconds)]
    lines = [
        f"Corpus: {corpus}; {run['health']['documents']:,} documents served at the start. "
        f"{cores} CPUs ({os.uname().machine}), load average (1 min) {load_before:.1f} before, {load_after:.1f} after "
        f"(other sessions share the machine).",
        "",
        f"Service: `python -m server --prod` = gunicorn, {args.workers} gevent workers ([server].worker_class) "
        f"plus the watcher (the only writer; its initial sync over the copy took {run['initial_sync']:.1f} s), "
        f"default watcher settings. Load: the load bench's {args.clients} keep-alive clients running the search "
        f"bench's {len(run['queries'])} queries round-robin (size 10), after its warm-up; first "
        f"{args.quiet_seconds:.0f} s with nothing changing (the baseline, same run), then {args.seconds:.0f} s while "
        f"a mutator makes one change every {args.interval:g} s in `archive/soak/` (drop a gator_reports text with a "
        f"unique nonce, rewrite a dropped report with a new nonce, or delete one; seed {args.seed}) and polls "
        f"`/api/search?q=\"<nonce>\"` on a fresh connection every {POLL_PAUSE_S * 1000:.0f} ms until the change "
        f"shows (new nonce at its path and old nonce gone; deleted nonce gone). Errors: non-200 answers and "
        f"exceptions of the clients and the polls, plus 5xx lines in the access log ({run['access_lines']:,} lines).",
        "",
        "| load | searches | searches/s | p50 ms | p99 ms | max ms | errors |",
        "|---|---|---|---|---|---|---|",
        f"| quiet, {args.quiet_seconds:.0f} s | {quiet['ok'] + len(quiet['errors']):,} | {quiet['rate']:.1f} | "
        f"{quiet['p50']:.1f} | {quiet['p99']:.1f} | {quiet['max']:.1f} | {len(quiet['errors'])} |",
        f"| with changes, {load['wall']:.0f} s | {searches:,} | {load['rate']:.1f} | {load['p50']:.1f} | "
        f"{load['p99']:.1f} | {load['max']:.1f} | {len(load['errors'])} |",
        f"| ratio (with changes / quiet) | | {load['rate'] / quiet['rate']:.2f} | {load['p50'] / quiet['p50']:.2f} | "
        f"{load['p99'] / quiet['p99']:.2f} | | |",
        "",
        f"Minute by minute (index segments: the live generation's, sampled every {SAMPLE_EVERY_S:.0f} s; each "
        f"commit of the watcher adds one; it merges the small ones after {MERGE_QUIET_SECONDS:.0f} s without a "
        f"commit, or after {MERGE_AFTER_COMMITS} commits once nothing waits):",
        "",
        "| until | searches/s | p50 ms | p99 ms | max ms | errors | changes so far | index segments |",
        "|---|---|---|---|---|---|---|---|",
        *(f"| {min((n + 1) * CHUNK_S, args.seconds):.0f} s | {c['rate']:.1f} | {c['p50']:.1f} | {c['p99']:.1f} | "
          f"{c['max']:.1f} | {len(c['errors'])} | {c['changes']} | "
          f"{segments_at(run['samples'], min((n + 1) * CHUNK_S, args.seconds))} |"
          for n, c in enumerate(run["chunks"])),
        "",
        f"Changes made: {len(changes)} ({', '.join(f'{len(g)} {k}s' for k, g in by_kind.items())}); "
        f"{sum(c.polls for c in changes):,} polls, {len(mutator.errors)} poll errors"
        + (f"; one poll took {statistics.median(poll_ms):.0f} ms (median)" if poll_ms else "") + ".",
        "",
        "| change → visible in search | changes | p50 ms | p99 ms | max ms | over 1 s | never (15 s) |",
        "|---|---|---|---|---|---|---|",
        *(visibility_row(kind, group) for kind, group in by_kind.items()),
        visibility_row("all", changes),
        "",
        f"Memory (VmRSS from /proc every {SAMPLE_EVERY_S:.0f} s from the start of the changes; \"settled\" is the "
        f"median of the minute from {settle_at:.0f} s on, \"end\" the median of the last minute (a worker's RSS swings "
        f"by ±50 MB within a minute, so single samples measure the swing, not growth); growth = end − settled; "
        f"trend = least-squares slope after settling; anon / mapped = the growth of RssAnon (the process's own memory) "
        f"and of RssFile + RssShmem (pages of mapped index files, shared with the page cache); open files = entries in "
        f"/proc/<pid>/fd):",
        "",
        "| process | pid | start MB | settled MB | end MB | max MB | growth | anon / mapped | trend MB/min | open files | "
        f"≤ {MEMORY_BOUND:.0%} growth after {settle_at:.0f} s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *memory,
        "",
        f"After the load: {check['current']} dropped reports in the archive, {check['current'] - len(check['missing'])} "
        f"found exactly once by their nonce at their path; {check['gone']} replaced or deleted nonces, "
        f"{len(check['found_gone'])} still found; documents {check['documents']:,} (expected "
        f"{check['expected_documents']:,}); {len(check['failed'])} failed files; {run['tracebacks']} tracebacks in the "
        f"server log. The watcher (its log): {len(run['watcher']['merges'])} merges of small segments "
        f"({sum(run['watcher']['merges']):.0f} ms in all, each written by a child process beside the changes: "
        f"{run['watcher'].get('beside', 0)} commits landed while one ran, {run['watcher'].get('dropped', 0)} merges "
        f"dropped); its periodic rescans (the folder listed in a thread of "
        f"its own every 60 s, then synced where the listing differs from the index) that indexed a change themselves: "
        + (", ".join(f"{n} in {ms:.0f} ms" for n, ms in run['watcher']['rescans']) or "none") + ".",
        "",
        "| target | measured | |",
        "|---|---|---|",
        f"| 0 errors | {len(errors)} client/poll errors, {run['server_5xx']} 5xx in the access log | {verdict(errors_ok)} |",
        f"| every change visible within {TARGET_VISIBLE_S:.0f} s | {late} of {len(changes)} later"
        + (f", max {max(c.seconds for c in changes) * 1000:.0f} ms" if changes else "") + f" | {verdict(visible_ok)} |",
        f"| RSS growth ≤ {MEMORY_BOUND:.0%} per process after the first minute ({settle_at:.0f} s here) | "
        f"{sum(1 for row in memory if 'PASS' in row.rsplit('|', 2)[-2])} of {len(memory)} processes within | "
        f"{verdict(memory_ok)} |",
        f"| nothing lost or doubled | {len(check['missing'])} missing, {len(check['found_gone'])} stale, "
        f"{check['documents'] - check['expected_documents']:+d} documents | {verdict(check_ok)} |",
    ]
    if errors:
        lines += ["", "First errors: " + "; ".join(f"`{e}`" for e in errors[:5])]
    slow = sorted((c for c in changes if c.seconds > TARGET_VISIBLE_S), key=lambda c: -c.seconds)[:5]
    if slow:
        lines += ["", "Slowest changes: " + "; ".join(f"{c.kind} {c.path} {c.seconds * 1000:.0f} ms" for c in slow)]
    return "\n".join(lines), passed


if __name__ == "__main__":
    sys.exit(main())
