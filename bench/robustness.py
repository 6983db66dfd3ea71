"""Robustness figures: runs the suite's hostile-input, fuzz and fault tests and reports what they tried.

Usage: python bench/robustness.py [--slow-seconds 15] [--no-report] [--corpus gator_reports]

Runs `pytest tests/test_fuzz.py tests/test_hostile.py tests/test_schemathesis.py tests/test_faults.py`
(JUnit XML) in a subprocess, then counts from the XML how many tests passed, failed and skipped per file
(a skipped full-disk test means mounting a tmpfs was not allowed) and what each test recorded of its own
input as properties of its test case: the queries it sent per surface (`fuzzed:<surface>`, summed) and the
hostile files and upload names it tried (`hostile`, counted once each across the tests). The crash and load figures come
from kill_bench.py and soak_bench.py, whose sections of bench/REPORT.md this one sums up. Writes its
section of bench/REPORT.md; exits 1 when a test failed. The damage attack (test_faults.py: noise, truncation and
flipped bytes in each kind of index file) records where each damage was found (`damage:<how>:<file>`); the cost of
verifying the checksums is measured here on a benchmark corpus's index (opening it with and without summing every file).

Then the slow-loris attack: `python -m server --prod --no-watch` over the sample reports, with the
gthread workers (the former default, the baseline) and then the gevent ones, each while 0, 10 and 200
clients hold connections that never finish a request (a header line every 2 s), and /healthz is asked
every 0.25 s on a fresh connection with a 5 s timeout; exits 1 when the default worker class missed a
probe.
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import REPORT, replace_section  # noqa: E402
from indexer.integrity import SCRUB_BYTES_PER_SECOND, SCRUB_PAUSE_SECONDS  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
SLOW_CONNECTIONS = (0, 10, 200)
SLOW_WORKER_CLASSES = ("gthread", "gevent")     # the baseline first
FILES = ["tests/test_fuzz.py", "tests/test_hostile.py", "tests/test_schemathesis.py", "tests/test_faults.py"]
TITLE = "Robustness: hostile input, faults, crashes, load (robustness.py)"
SCRUB_RATE_MB = SCRUB_BYTES_PER_SECOND / (1 << 20)
SCRUB_PAUSE_MIN = SCRUB_PAUSE_SECONDS / 60


def run_tests() -> tuple[ET.Element, float]:
    """(the JUnit XML report of the robustness tests, seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        started = time.perf_counter()
        # xunit1: the JUnit flavour in which a test case carries the properties it recorded
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
                        "-o", "junit_family=xunit1", *FILES], cwd=PROJECT, capture_output=True, text=True)
        return ET.parse(junit).getroot(), time.perf_counter() - started


def outcomes_of(report: ET.Element) -> dict[str, Counter]:
    """Per test module: outcome (passed, failed, skipped, xfailed) -> count."""
    outcomes: dict[str, Counter] = {}
    for case in report.iter("testcase"):
        module = case.get("classname", "").split(".")[-1] or "?"
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "xfailed" if "xfail" in (case.find("skipped").get("type") or "") else "skipped"
        else:
            outcome = "passed"
        outcomes.setdefault(module, Counter())[outcome] += 1
    return outcomes


def damage_found(report: ET.Element) -> dict[str, str]:
    """{damage (how:file kind): where it was found (open, scrub)}, as test_faults recorded it."""
    return {prop.get("name", "").removeprefix("damage:"): prop.get("value", "")
            for prop in report.iter("property") if prop.get("name", "").startswith("damage:")}


def verify_cost(name: str, rounds: int = 5) -> dict:
    """Opening a corpus's index for searching (IndexView) with every file summed (a process's first open)
    and with sizes only (its later opens), and the sums alone: medians of `rounds`, in seconds."""
    import statistics

    from bench.common import ensure_index
    from indexer import integrity
    from indexer.indexing import Indexer
    from indexer.store import IndexStore
    from indexer.view import IndexView, TextCache

    settings, _ = ensure_index(name)
    store = IndexStore(settings)
    folder = store.live_build()

    def open_view() -> int:
        ix = store.open()
        view = IndexView(ix, str(folder), TextCache(10**8), {})
        documents = view.doc_count
        view.close()
        ix.close()
        return documents

    if not integrity.summed_names(folder):
        Indexer(settings).merge_segments()     # an index built before checksums gets them at its next commit
        folder = store.live_build()
    times = []
    for _ in range(rounds):
        integrity._summed.clear()       # as a new process
        started = time.perf_counter()
        documents = open_view()
        summed = time.perf_counter() - started
        started = time.perf_counter()
        open_view()
        sizes = time.perf_counter() - started
        seen = integrity.verify(folder, integrity.summed_names(folder), force=True)
        times.append((summed, sizes, seen.seconds, seen.bytes))
    summed, sizes, sums, nbytes = (statistics.median(column) for column in zip(*times))
    return {"corpus": name, "documents": documents, "bytes": nbytes, "summed": summed, "sizes": sizes, "sums": sums}


def recorded_totals(report: ET.Element) -> tuple[Counter, int]:
    """(queries fuzzed per surface, distinct hostile files and upload names tried), from the properties
    each test recorded of its own input."""
    surfaces: Counter = Counter()
    hostile: set[str] = set()
    for prop in report.iter("property"):
        name, value = prop.get("name", ""), prop.get("value", "")
        if name.startswith("fuzzed:"):
            surfaces[name.removeprefix("fuzzed:")] += int(value)
        elif name == "hostile":
            hostile.add(value)
    return surfaces, len(hostile)


def slow_loris(port: int, connections: int, seconds: float, header_every: float = 2.0,
               probe_every: float = 0.25, probe_timeout: float = 5.0) -> dict:
    """`connections` clients that never finish a request (one header line every `header_every` s) while
    /healthz is asked on a fresh connection every `probe_every` s; the probes' latencies and failures.

    A connection the server closes is opened again, so the pressure stays for the whole run.
    """
    request_head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"

    def open_slow() -> socket.socket | None:
        try:
            slow = socket.create_connection(("127.0.0.1", port), timeout=2)
            slow.sendall(request_head)
            return slow
        except OSError:
            return None

    stop = threading.Event()
    reopened = [0]

    def attack() -> None:
        sockets = [open_slow() for _ in range(connections)]
        n = 0
        while not stop.wait(header_every):
            for i, slow in enumerate(sockets):
                try:
                    if slow is None:
                        raise OSError
                    slow.sendall(f"X-Slow-{n}: {'a' * 8}\r\n".encode())
                except OSError:
                    if slow is not None:
                        slow.close()
                    sockets[i] = open_slow()
                    reopened[0] += 1
            n += 1
        for slow in sockets:
            if slow is not None:
                slow.close()

    attacker = threading.Thread(target=attack, name="slow-loris")
    attacker.start()
    time.sleep(min(3.0, header_every * 1.5))      # every slow connection is open and half-sent
    latencies, failures = [], Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=probe_timeout)
        try:
            connection.request("GET", "/healthz")
            answer = connection.getresponse()
            answer.read()
            if answer.status == 200:
                latencies.append((time.perf_counter() - began) * 1000)
            else:
                failures[str(answer.status)] += 1
        except (OSError, http.client.HTTPException) as exc:
            failures["timeout" if isinstance(exc, TimeoutError) else type(exc).__name__] += 1
        finally:
            connection.close()
        time.sleep(max(0.0, probe_every - (time.perf_counter() - began)))
    stop.set()
    attacker.join(30)
    latencies.sort()
    return {"connections": connections, "probes": len(latencies) + sum(failures.values()), "answered": len(latencies),
            "failures": dict(failures), "reopened": reopened[0],
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan"),
            "max": latencies[-1] if latencies else float("nan")}


def slow_loris_runs(seconds: float) -> dict[str, list[dict]]:
    """worker class -> slow_loris() at each of SLOW_CONNECTIONS, served over a fresh index of the sample reports."""
    from bench.load_bench import serve_prod
    from indexer.config import DEFAULT_CONFIG, load_settings
    from indexer.indexing import Indexer

    runs = {}
    with tempfile.TemporaryDirectory(prefix="robustness-") as tmp:
        shutil.copytree(PROJECT / "samples" / "reports", Path(tmp) / "archive")
        settings = load_settings(DEFAULT_CONFIG, environ={}, overrides={
            "archive": {"root": str(Path(tmp) / "archive")}, "index": {"dir": str(Path(tmp) / "var" / "index")}})
        Indexer(settings).build()
        for worker_class in SLOW_WORKER_CLASSES:
            folder = Path(tmp) / worker_class
            folder.mkdir()
            served = serve_prod(settings, 2, 4, folder, worker_class=worker_class)
            try:
                served.wait_healthy()
                runs[worker_class] = []
                for connections in SLOW_CONNECTIONS:
                    print(f"slow-loris: {worker_class}, {connections} slow connections, {seconds:.0f} s ...", flush=True)
                    runs[worker_class].append(slow_loris(served.port, connections, seconds))
            finally:
                served.stop()
    return runs


def slow_loris_table(runs: dict[str, list[dict]]) -> str:
    rows = []
    for worker_class, results in runs.items():
        shape = f"{worker_class} 2" + ("×4" if worker_class == "gthread" else "")
        for r in results:
            failed = ", ".join(f"{n} {kind}" for kind, n in sorted(r["failures"].items())) or "0"
            rows.append(f"| {shape} | {r['connections']} | {r['probes']} | {r['answered']} | {failed} | "
                        f"{r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} | {r['reopened']} |")
    return "\n".join(["| workers | slow connections | /healthz probes | answered 200 | failed | p50 ms | p99 ms "
                      "| max ms | slow connections the server closed |",
                      "|---|---|---|---|---|---|---|---|---|", *rows])


def figure(pattern: str) -> str:
    """The first group of `pattern` in another benchmark's section of REPORT.md ('not run' if missing)."""
    found = re.search(pattern, REPORT.read_text(encoding="utf-8"), re.M) if REPORT.exists() else None
    return found.group(1).strip() if found else "not run"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow-seconds", type=float, default=15.0,
                        help="probing time per slow-loris run (0: no attack)")
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument("--corpus", default="gator_reports", help="the benchmark index whose checksums are timed")
    args = parser.parse_args()
    print(f"running {' '.join(FILES)} ...", flush=True)
    report, seconds = run_tests()
    outcomes = outcomes_of(report)
    surfaces, hostile = recorded_totals(report)
    fuzzed = sum(surfaces.values())
    damages = damage_found(report)
    cost = verify_cost(args.corpus)
    damage_rows = "\n".join(f"| {how} | {kind} | {where} |" for how, kind, where in
                             sorted((d.split(":")[0], d.split(":")[1], w) for d, w in damages.items()))
    failed = sum(c["failed"] for c in outcomes.values())
    rows = "\n".join(f"| `{module}` | {c['passed']} | {c['failed']} | {c['skipped']} | {c['xfailed']} |"
                     for module, c in sorted(outcomes.items()))
    kills = figure(r"^\| watcher SIGKILLs during the burst[^|]*\| ([^|]+)\|")
    lost = figure(r"^\| reports lost \(never searchable\) \| ([^|]+)\|")
    doubled = figure(r"^\| reports indexed twice \| ([^|]+)\|")
    kill_5xx = figure(r"^\| searches during the run / 5xx answers \| ([^|]+)\|")
    soak_errors = figure(r"^\| 0 errors \| ([^|]*client/poll errors[^|]*)\|")
    soak_visible = figure(r"^\| every change visible within 1 s \| ([^|]+\|[^|]+)\|")
    soak_memory = figure(r"^\| RSS growth ≤ 10% per process[^|]*\| ([^|]+\|[^|]+)\|")
    soak_lost = figure(r"^\| nothing lost or doubled \| ([^|]+\|[^|]+)\|")
    runs = slow_loris_runs(args.slow_seconds) if args.slow_seconds > 0 else {}
    from indexer.config import OPTIONS

    default_class = OPTIONS["server"]["worker_class"][1]
    attack_missed = any(r["failures"] for r in runs.get(default_class, []))
    attack = "" if not runs else f"""
Slow-loris, in the same run: `python -m server --prod --no-watch` (2 workers) over the 5 sample reports, first with
the gthread workers (the default until this run, 4 threads each: a thread per request being read), then with
gevent (`[server].worker_class`, the default: a greenlet per connection). Each row: for {args.slow_seconds:.0f} s,
that many clients hold connections that never finish a request (request line, then a header line every 2 s;
a connection the server closes is opened again) while `/healthz` is asked every 0.25 s on a fresh connection
with a 5 s timeout.

{slow_loris_table(runs)}
"""
    body = f"""
Runs the suite's robustness tests in one pytest process ({seconds:.0f} s): {', '.join(f'`{f}`' for f in FILES)}.
The figures in the first table are what the tests recorded of their own input (JUnit properties); the full-disk tests
(test_faults.py, marker `full_disk`) mount a 32 MB tmpfs for the index and skip where mounting is not allowed.

| measure | value |
|---|---|
| queries fuzzed (hypothesis; parser, GET /api/search, GET /search) | {fuzzed:,} |
| ... per surface | {', '.join(f'{k}: {v:,}' for k, v in sorted(surfaces.items())) or 'none recorded'} |
| hostile files tried (markup, script, bombs, fake PDFs, hostile names, symlinks out, uploads) | {hostile:,} |
| tests failed | {failed} |
| watcher SIGKILLs survived during 500 drops (kill_bench.py) | {kills} |
| files lost / indexed twice after the kills | {lost} / {doubled} |
| searches / 5xx answers during the kills | {kill_5xx} |
| soak (soak_bench.py, 5 min of load while files change): errors | {soak_errors} |
| soak: changes visible within 1 s | {soak_visible.replace('|', '—')} |
| soak: memory growth | {soak_memory.replace('|', '—')} |
| soak: files lost or doubled | {soak_lost.replace('|', '—')} |

Damage inside the index (test_faults.py; 64 KB of noise over the middle of a file, its last quarter cut off, one
byte flipped; "in place" keeps size and mtime, as a failing disk would): where each was found. Every one answered 503
with the envelope on /healthz, /api/status, the pages and /api/search, and a build recovered.

| damage | file | found by |
|---|---|---|
{damage_rows}

Checksums on `{cost['corpus']}` ({cost['documents']:,} documents, {cost['bytes'] / 1e6:.1f} MB summed; medians of 5):
opening it for searching takes {cost['sizes'] * 1000:.0f} ms checking sizes (a process's later opens) and
{cost['summed'] * 1000:.0f} ms summing every file (its first open); the sums alone {cost['sums'] * 1000:.0f} ms
({cost['bytes'] / max(cost['sums'], 1e-9) / 1e6:,.0f} MB/s, {cost['sums'] / max(cost['sizes'], 1e-9):.2f}× the open). The scrub re-reads
them at {SCRUB_RATE_MB} MB/s every {SCRUB_PAUSE_MIN} minutes: {cost['bytes'] / (SCRUB_RATE_MB * 1e6):.1f} s a pass.

| test file | passed | failed | skipped | xfailed |
|---|---|---|---|---|
{rows}

The kill and soak rows are copied from those scripts' own sections below (their latest runs).
{attack}"""
    print(body)
    if not args.no_report:
        replace_section(TITLE, body)
        print(f"wrote the section '{TITLE}' of bench/REPORT.md")
    return 1 if failed or fuzzed <= 0 or hostile <= 0 or attack_missed or not damages else 0


if __name__ == "__main__":
    sys.exit(main())
