"""Drop to searchable: the time from writing a report into the archive until /api/search returns it.

Starts the real service (`python -m server --config <tmp config>`: web server plus watcher)
on a free port over a tmp archive seeded with real reports, drops real reports one by one
(each with a unique marker at its end, so the whole file must be indexed) and polls
GET /api/search?q=<marker> until the report is returned. Prints a table and writes it into
bench/REPORT.md under "## Drop to searchable (drop_bench.py)".

    python bench/drop_bench.py [--drops 100] [--seed 300] [--settle S] [--batch S]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from bench.common import Served, get_json, percentile  # noqa: E402

SERVICE = "`python -m server` (web server + watcher)"
CORPUS = PROJECT.parent / "shared" / "corpus" / "gator_reports.jsonl.gz"
REPORT = PROJECT / "bench" / "REPORT.md"
HEADING = "## Drop to searchable (drop_bench.py)"
TARGET_P99 = 1.0
POLL = 0.01
DROP_TIMEOUT = 15.0
# The watcher logs "indexed <path> (N ms)": N is the time from its first event to the commit.
WATCHER_LINE = re.compile(r"indexed (drops/\S+) \((\d+) ms\)")


def load_records() -> list[dict]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def report_markdown(record: dict, marker: str = "") -> str:
    """One record as a Markdown report with front matter; the marker is its last line."""
    front = [f"title: {json.dumps(record['title'], ensure_ascii=False)}"]
    if record.get("date"):
        front.append(f"date: {json.dumps(record['date'])}")
    tail = f"\n\n（{marker}）\n" if marker else "\n"
    return "---\n" + "\n".join(front) + "\n---\n\n" + record["text"].rstrip() + tail


def wait_ready(base: str, service: Served, documents: int, timeout: float = 600.0) -> float:
    """Wait until the API answers and the initial build holds the seed; the seconds it took."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        service.check_alive()
        try:
            status = get_json(f"{base}/api/status")
            if status.get("ok") and status.get("documents", 0) >= documents:
                return time.perf_counter() - started
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"the service did not get ready within {timeout:.0f} s")


def found(base: str, marker: str, relpath: str) -> bool:
    query = urllib.parse.urlencode({"q": marker, "size": 5})
    try:
        answer = get_json(f"{base}/api/search?{query}")
    except urllib.error.HTTPError:
        return False    # e.g. 503 while the very first index is built
    return any(relpath in hit.get("paths", [hit["path"]]) for hit in answer.get("hits", []))


def drop_and_time(base: str, root: Path, relpath: str, text: str, marker: str) -> float:
    """Write one report (write + close, as a user's copy does) and time it until search returns it."""
    path = root / relpath
    started = time.perf_counter()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    while not found(base, marker, relpath):
        if time.perf_counter() - started > DROP_TIMEOUT:
            return math.inf
        time.sleep(POLL)
    return time.perf_counter() - started


def search_round_trip(base: str, markers: list[str], rounds: int = 50) -> float:
    """Median seconds of one GET /api/search for an indexed marker: the polling's own cost."""
    times = []
    for i in range(rounds):
        query = urllib.parse.urlencode({"q": markers[i % len(markers)], "size": 5})
        started = time.perf_counter()
        get_json(f"{base}/api/search?{query}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def write_report(section: str) -> None:
    """Replace (or append) this bench's section of bench/REPORT.md, leaving the others alone."""
    text = REPORT.read_text(encoding="utf-8") if REPORT.exists() else "# Benchmark report\n"
    start = text.find(HEADING)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    REPORT.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drops", type=int, default=100, help="reports dropped one by one")
    parser.add_argument("--seed", type=int, default=300, help="reports in the archive before the service starts")
    parser.add_argument("--settle", type=float, help="override [watcher].settle_seconds")
    parser.add_argument("--batch", type=float, help="override [watcher].batch_seconds")
    parser.add_argument("--gap", type=float, default=0.2, help="pause between drops (s)")
    parser.add_argument("--no-report", action="store_true", help="print only; leave bench/REPORT.md alone")
    parser.add_argument("--keep", action="store_true", help="keep the tmp folder (config, archive, log)")
    args = parser.parse_args(argv)
    if not CORPUS.exists():
        print(f"skipped: {CORPUS} is missing (the bench needs ../shared/corpus beside the project)")
        return 0

    from indexer.config import DEFAULT_CONFIG, load_settings

    defaults = load_settings(DEFAULT_CONFIG, environ={}).watcher
    settle = defaults.settle_seconds if args.settle is None else args.settle
    batch = defaults.batch_seconds if args.batch is None else args.batch
    records = load_records()
    if args.seed + args.drops > len(records):
        raise SystemExit(f"the corpus has {len(records)} reports: --seed + --drops must not exceed that")
    drops, seed = records[:args.drops], records[args.drops:args.drops + args.seed]

    tmp = Path(tempfile.mkdtemp(prefix="drop_bench-"))
    root = tmp / "archive"
    (root / "seed").mkdir(parents=True)
    (root / "drops").mkdir()
    for record in seed:
        (root / "seed" / f"{record['id']}.md").write_text(report_markdown(record), encoding="utf-8")
    config = tmp / "config.toml"
    config.write_text(
        f'[archive]\nroot = "archive"\n[index]\ndir = "var/index"\n'
        f"[watcher]\nsettle_seconds = {settle}\nbatch_seconds = {batch}\n", encoding="utf-8")
    service = Served(config, log_path=tmp / "service.log")
    base = service.base
    latencies: list[float] = []
    try:
        ready = wait_ready(base, service, len(seed))
        print(f"service ready in {ready:.1f} s ({len(seed)} seed reports); {SERVICE}")
        markers = []
        for i, record in enumerate(drops):
            marker = f"投递编号{i:04d}"
            markers.append(marker)
            relpath = f"drops/{record['id']}.md"
            latency = drop_and_time(base, root, relpath, report_markdown(record, marker), marker)
            latencies.append(latency)
            if not math.isfinite(latency):
                print(f"  {relpath}: not searchable after {DROP_TIMEOUT:.0f} s")
            service.check_alive()
            time.sleep(args.gap)
        round_trip = search_round_trip(base, markers)
    finally:
        service.stop()

    log_text = (tmp / "service.log").read_text(encoding="utf-8", errors="replace")
    watcher_ms = [int(ms) for _, ms in WATCHER_LINE.findall(log_text)]
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    missed = sum(1 for x in latencies if not math.isfinite(x))
    done = [x for x in latencies if math.isfinite(x)]
    if not done:
        raise SystemExit("no dropped report became searchable")
    p50, p99, worst = percentile(done, 50), percentile(done, 99), max(done)
    floor = settle     # a lone drop is committed without waiting for the batch window

    rows = [
        ("drops (one by one, real reports of ../shared/corpus/gator_reports)", f"{len(latencies)} ({missed} never found)"),
        ("archive before the drops", f"{len(seed)} reports"),
        ("watcher settings", f"settle {settle:g} s, batch {batch:g} s"),
        ("**p50 drop → searchable**", f"**{p50 * 1000:.0f} ms**"),
        ("p90", f"{percentile(done, 90) * 1000:.0f} ms"),
        ("**p99**", f"**{p99 * 1000:.0f} ms** (target ≤ {TARGET_P99 * 1000:.0f} ms: "
                    f"{'met' if p99 <= TARGET_P99 else 'missed'}; p99 / target = {p99 / TARGET_P99:.2f})"),
        ("max", f"{worst * 1000:.0f} ms"),
        ("designed floor (settle delay; a lone drop skips the batch window)",
         f"{floor * 1000:.0f} ms; p50 / floor = {p50 / floor:.2f}"),
    ]
    if watcher_ms:
        rows.append(("watcher: first event → commit (p50 / p99)",
                     f"{percentile(watcher_ms, 50):.0f} / {percentile(watcher_ms, 99):.0f} ms "
                     f"({len(watcher_ms)} log lines)"))
    rows.append(("one GET /api/search round trip (p50, the polling's own cost)", f"{round_trip * 1000:.1f} ms"))
    table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    section = (f"{HEADING}\n\n"
               f"_{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M')} UTC_, {os.cpu_count()} CPUs; service: {SERVICE}. "
               f"Time from the start of writing a report into `archive/drops/` until "
               f"`GET /api/search?q=<its marker>` returns it (polled every {POLL * 1000:.0f} ms), "
               f"with a {args.gap:g} s pause between drops.\n\n{table}\n")
    print("\n" + table)
    if not args.no_report:
        write_report(section)
        print(f"\nwritten to {REPORT.relative_to(PROJECT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
