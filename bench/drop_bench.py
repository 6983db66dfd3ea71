"""Drop to searchable: the time from writing a report into the archive until /api/search returns it.

Starts the real service (`python -m server --config <tmp config>`: web server plus watcher)
on a free port over a tmp archive seeded with real reports, drops real reports one by one
(each with a unique marker at its end, so the whole file must be indexed) and polls
GET /api/search?q=<marker> until the report is returned. Prints a table and writes it into
bench/REPORT.md under "## Drop to searchable (drop_bench.py)".

With --archive DIR it runs over a big existing archive instead (e.g. the 100,000 documents of
bench/scale_bench.py, hard-linked into bench/data: `cp -al`): the index lives beside it
(DIR/../var/index), is built by the service's first start and reused by every later run; drops go
into a new subfolder of DIR, deleted (and so dropped from the index) before the service stops. It
also times the start (the watcher's initial sync over the unchanged archive, and the first drop
made as soon as the API answers) and, from the watcher's log, each rescan's listing and sync
(`--rescan S` makes them frequent) and the drops that overlapped one. Its table goes into a
subsection of the section, one per archive and rescan interval.

    python bench/drop_bench.py [--drops 100] [--seed 300] [--settle S] [--batch S]
    python bench/drop_bench.py --archive bench/data/scale_100000/archive [--rescan 15]
    python bench/drop_bench.py --archive DIR --commits 30    # in process: what one drop's commit costs
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
WATCHER_LINE = re.compile(r"indexed (drops\S*/\S+) \((\d+) ms\)")
LOG_TIME = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) "
# the lister's line: the listing, then its comparison with the index (`Indexer.changed_paths`)
LISTED_LINE = re.compile(LOG_TIME + r".*rescan: listed (\d+) files \((\d+) ms\)(?:, (?:all|\d+) to look at \((\d+) ms\))?",
                         re.M)
RESCAN_LINE = re.compile(LOG_TIME + r".*rescan: synced (\d+) paths \((\d+) ms\)", re.M)
MERGE_LINE = re.compile(LOG_TIME + r".*merged small index segments \((\d+) ms\)", re.M)
START_LINE = re.compile(LOG_TIME + r".*initial sync: (\d+) documents.*\(([\d.]+) s\)", re.M)
START_TIMEOUT = 1800.0      # a first start over a big archive builds its index (100,000: 8-15 min)


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


def wait_ready(base: str, service: Served, documents: int, timeout: float = START_TIMEOUT) -> float:
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


def drop_one_by_one(base: str, root: Path, service: Served, drops: list[dict], folder: str, gap: float,
                    latencies: list[float], spans: list[tuple[float, float]] | None = None) -> list[str]:
    """Drop each report into `folder` with a unique marker and time it until searchable (appended to
    `latencies`, and its (start, end) wall times to `spans`), `gap` seconds apart; the markers."""
    markers = []
    for i, record in enumerate(drops):
        marker = f"投递编号{i:04d}"
        markers.append(marker)
        relpath = f"{folder}/{record['id']}.md"
        begun = time.time()
        latency = drop_and_time(base, root, relpath, report_markdown(record, marker), marker)
        if spans is not None:
            spans.append((begun, begun + (latency if math.isfinite(latency) else DROP_TIMEOUT)))
        latencies.append(latency)
        if not math.isfinite(latency):
            print(f"  {relpath}: not searchable after {DROP_TIMEOUT:.0f} s")
        service.check_alive()
        time.sleep(gap)
    return markers


def drop_and_time(base: str, root: Path, relpath: str, text: str, marker: str, timeout: float = DROP_TIMEOUT) -> float:
    """Write one report (write + close, as a user's copy does) and time it until search returns it."""
    path = root / relpath
    started = time.perf_counter()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    while not found(base, marker, relpath):
        if time.perf_counter() - started > timeout:
            return math.inf
        time.sleep(POLL)
    return time.perf_counter() - started


def log_seconds(stamp: str) -> float:
    """A log line's asctime (local time, milliseconds) as seconds since the epoch."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def rescans_of(log_text: str) -> tuple[list[tuple[int, float]], list[tuple[int, float]], list[tuple[float, float]],
                                       list[tuple[int, float]]]:
    """The watcher's rescans: (files, listing ms), (paths, sync ms), the intervals (epoch s) they ran,
    and (files, comparison ms) where the lister compared its listing with the index."""
    found = [(log_seconds(t), int(n), int(ms), int(cmp or 0)) for t, n, ms, cmp in LISTED_LINE.findall(log_text)]
    synced = [(log_seconds(t), int(n), int(ms)) for t, n, ms in RESCAN_LINE.findall(log_text)]
    spans = [(end - (ms + cmp) / 1000, end) for end, _, ms, cmp in found] + [(end - ms / 1000, end) for end, _, ms in synced]
    return ([(n, ms) for _, n, ms, _ in found], [(n, ms) for _, n, ms in synced], spans,
            [(n, cmp) for _, n, _, cmp in found])


def overlaps(span: tuple[float, float], spans: list[tuple[float, float]]) -> bool:
    return any(start < span[1] and span[0] < end for start, end in spans)


def remove_drops(base: str, service: Served, folder: Path, documents: int, timeout: float = 120.0) -> bool:
    """Delete the drops' folder and wait until the watcher has taken them out of the index."""
    shutil.rmtree(folder, ignore_errors=True)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        service.check_alive()
        try:
            if get_json(f"{base}/api/status").get("documents") == documents:
                return True
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.5)
    return False


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def search_round_trip(base: str, markers: list[str], rounds: int = 50) -> float:
    """Median seconds of one GET /api/search for an indexed marker: the polling's own cost."""
    times = []
    for i in range(rounds):
        query = urllib.parse.urlencode({"q": markers[i % len(markers)], "size": 5})
        started = time.perf_counter()
        get_json(f"{base}/api/search?{query}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def write_report(section: str, subheading: str | None = None) -> None:
    """Replace (or append) this bench's section of bench/REPORT.md, leaving the others alone.

    Without a subheading `section` replaces the section up to its first `### ` subsection (the big
    archives' runs, kept); with one, `section` replaces (or is appended as) that subsection."""
    text = REPORT.read_text(encoding="utf-8") if REPORT.exists() else "# Benchmark report\n"
    start = text.find(HEADING)
    if start < 0:
        body = section if subheading is None else f"{HEADING}\n\n{section}"
        text = text.rstrip("\n") + "\n\n" + body.rstrip("\n") + "\n"
        REPORT.write_text(text, encoding="utf-8")
        return
    end = text.find("\n## ", start + len(HEADING))
    end = len(text) if end < 0 else end + 1
    current = text[start:end]
    if subheading is None:
        first_sub = current.find("\n### ")
        kept = current[first_sub + 1:] if first_sub >= 0 else ""
        current = section.rstrip("\n") + "\n\n" + kept
    else:
        at = current.find(subheading)
        if at < 0:
            current = current.rstrip("\n") + "\n\n" + section
        else:
            after = current.find("\n### ", at + len(subheading))
            current = current[:at] + section.rstrip("\n") + "\n\n" + (current[after + 1:] if after >= 0 else "")
    text = text[:start] + current.rstrip("\n") + "\n" + ("\n" if end < len(text) else "") + text[end:]
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
    parser.add_argument("--archive", type=Path, help="an existing big archive to drop into (its index: ../var/index)")
    parser.add_argument("--rescan", type=float, help="override [watcher].rescan_seconds")
    parser.add_argument("--commits", type=int, help="with --archive: time this many one-file syncs in process "
                                                    "(no service; printed, not written to the report)")
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
    if args.archive is not None and args.commits:
        return measure_commits(args.archive.resolve(), drops[:args.commits])
    if args.archive is not None:
        rescan = defaults.rescan_seconds if args.rescan is None else args.rescan
        return run_on_archive(args, drops, settle, batch, rescan)

    tmp = Path(tempfile.mkdtemp(prefix="drop_bench-"))
    root = tmp / "archive"
    (root / "seed").mkdir(parents=True)
    (root / "drops").mkdir()
    for record in seed:
        (root / "seed" / f"{record['id']}.md").write_text(report_markdown(record), encoding="utf-8")
    config = tmp / "config.toml"
    config.write_text(
        f'[archive]\nroot = "archive"\n[index]\ndir = "var/index"\n'
        f"[watcher]\nsettle_seconds = {settle}\nbatch_seconds = {batch}\n"
        + (f"rescan_seconds = {args.rescan}\n" if args.rescan is not None else ""), encoding="utf-8")
    service = Served(config, log_path=tmp / "service.log")
    base = service.base
    latencies: list[float] = []
    try:
        ready = wait_ready(base, service, len(seed))
        print(f"service ready in {ready:.1f} s ({len(seed)} seed reports); {SERVICE}")
        markers = drop_one_by_one(base, root, service, drops, "drops", args.gap, latencies)
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


def measure_commits(root: Path, drops: list[dict]) -> int:
    """One drop's sync in process (`Indexer.sync([path])`, as the watcher calls it), and the parts of
    it that visit every document: what grows with the archive per commit."""
    import cProfile
    import pstats

    from indexer.config import DEFAULT_CONFIG, load_settings
    from indexer.documents import list_archive
    from indexer.indexing import Indexer

    settings = load_settings(DEFAULT_CONFIG, overrides={
        "archive": {"root": str(root)}, "index": {"dir": str(root.parent / "var" / "index")}}, environ={})
    indexer = Indexer(settings)
    folder = root / f"commits-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}"
    folder.mkdir()
    print(f"load average {load_average()}")
    try:
        started = time.perf_counter()
        first = indexer.sync([], merge=False)      # reads the state from the index (as a start does)
        print(f"{first.documents:,} documents; first sync (state read from the index): "
              f"{time.perf_counter() - started:.2f} s")
        times, profile = [], cProfile.Profile()
        for i, record in enumerate(drops):
            relpath = f"{folder.name}/{record['id']}.md"
            (root / relpath).write_text(report_markdown(record, f"投递编号{i:04d}"), encoding="utf-8")
            if i == len(drops) - 1:
                profile.enable()
            started = time.perf_counter()
            result = indexer.sync([relpath], merge=False)
            times.append(time.perf_counter() - started)
            profile.disable()
            assert result.committed, result.receipts
        started = time.perf_counter()
        listing = {s.relpath: s for s in list_archive(root)}
        listed = time.perf_counter() - started
        started = time.perf_counter()       # the watcher's rescan: the lister compares, the worker syncs what differs
        changed = indexer.changed_paths(listing)
        compared = time.perf_counter() - started
        started = time.perf_counter()
        rescan = indexer.sync(changed, merge=False, sources=listing)
        print(f"rescan: listing {listed * 1000:.0f} ms ({len(listing):,} files), comparison with the index "
              f"{compared * 1000:.0f} ms (both in the lister's thread; {len(changed)} paths differ), then the "
              f"worker's sync {(time.perf_counter() - started) * 1000:.0f} ms ({len(rescan.receipts)} receipts)")
        state = indexer._state
        started = time.perf_counter()
        _ = {p: tuple(stamp) for doc in state.values() for p, stamp in doc.files.items()}
        every_path = time.perf_counter() - started
        print(f"one-file sync: p50 {percentile(times, 50) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms "
              f"({len(times)} commits); one pass over every document's paths: {every_path * 1000:.1f} ms")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        gone = indexer.sync([f"{folder.name}/{record['id']}.md" for record in drops], merge=True)
        print(f"removed the {gone.count('deleted')} drops in {time.perf_counter() - started:.1f} s; "
              f"load average {load_average()}")
    return 0


def run_on_archive(args, drops: list[dict], settle: float, batch: float, rescan: float) -> int:
    """The drops into a new subfolder of a big existing archive, with the start and the rescans timed."""
    root = args.archive.resolve()
    if not root.is_dir():
        raise SystemExit(f"--archive {root}: no such folder")
    index_dir = root.parent / "var" / "index"
    tmp = Path(tempfile.mkdtemp(prefix="drop_bench-"))
    config = tmp / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{root}"\n[index]\ndir = "{index_dir}"\n'
        f"[watcher]\nsettle_seconds = {settle}\nbatch_seconds = {batch}\nrescan_seconds = {rescan}\n",
        encoding="utf-8")
    folder = root / f"drops-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}"
    load_before = load_average()
    started_at = time.time()
    service = Served(config, log_path=tmp / "service.log")
    base = service.base
    latencies: list[float] = []
    spans: list[tuple[float, float]] = []
    try:
        api_ready = wait_ready(base, service, 1)
        documents = get_json(f"{base}/api/status")["documents"]
        folder.mkdir()
        # The first drop as soon as the API answers: searchable once the watcher's initial sync is over.
        first = drop_and_time(base, root, f"{folder.name}/start-probe.md",
                              report_markdown(drops[0], "投递编号启动"), "投递编号启动", timeout=START_TIMEOUT)
        print(f"API answered {api_ready:.1f} s after the start ({documents:,} documents); first drop searchable "
              f"after {first:.1f} s more; {SERVICE}")
        markers = drop_one_by_one(base, root, service, drops, folder.name, args.gap, latencies, spans)
        round_trip = search_round_trip(base, markers)
        cleaned = remove_drops(base, service, folder, documents)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        service.stop()
    load_after = load_average()

    log_text = (tmp / "service.log").read_text(encoding="utf-8", errors="replace")
    watcher_ms = [int(ms) for _, ms in WATCHER_LINE.findall(log_text)]
    listed, synced, rescan_spans, compared = rescans_of(log_text)
    merges = [(log_seconds(t), int(ms)) for t, ms in MERGE_LINE.findall(log_text)]
    merge_spans = [(end - ms / 1000, end) for end, ms in merges]
    start = START_LINE.search(log_text)
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}")
    missed = sum(1 for x in latencies if not math.isfinite(x))
    done = [x for x in latencies if math.isfinite(x)]
    if not done:
        raise SystemExit("no dropped report became searchable")
    during = [x for x, span in zip(latencies, spans) if math.isfinite(x) and overlaps(span, rescan_spans)]
    apart = [x for x, span in zip(latencies, spans) if math.isfinite(x) and not overlaps(span, rescan_spans)]
    merging = [x for x, span in zip(latencies, spans) if math.isfinite(x) and overlaps(span, merge_spans)]
    quiet = [x for x, span in zip(latencies, spans)
             if math.isfinite(x) and not overlaps(span, rescan_spans + merge_spans)]

    def stats(values: list[float]) -> str:
        if not values:
            return "none"
        return (f"{percentile(values, 50) * 1000:.0f} / {percentile(values, 99) * 1000:.0f} / "
                f"{max(values) * 1000:.0f} ms ({len(values)} drops)")

    def ms_range(values: list[tuple[int, float]]) -> str:
        if not values:
            return "none ran"
        times = [ms for _, ms in values]
        return (f"{statistics.median(times):,.0f} ms median, {min(times):,.0f}-{max(times):,.0f} ms "
                f"({len(values)} rescans of {values[-1][0]:,})")

    p99 = percentile(done, 99)
    rows = [
        ("archive", f"{root.name} of {root.parent.name}: {documents:,} documents indexed before the drops"),
        ("drops (one by one, into a new subfolder)", f"{len(latencies)} ({missed} never found)"),
        ("watcher settings", f"settle {settle:g} s, batch {batch:g} s, rescan every {rescan:g} s"),
        ("load average (1, 5, 15 min)", f"before {load_before}; after {load_after}"),
        ("**drop → searchable p50 / p99 / max, all drops**", f"**{stats(done)}**"),
        ("p99 / target (1 s)", f"{p99 / TARGET_P99:.2f} ({'met' if p99 <= TARGET_P99 else 'missed'})"),
        ("drops overlapping a rescan's listing or sync", stats(during)),
        ("drops overlapping no rescan", stats(apart)),
        ("drops overlapping a merge of small segments (written by a child beside the drops)", stats(merging)),
        ("drops overlapping neither a rescan nor a merge", stats(quiet)),
        ("rescan listing (lister thread)", ms_range(listed)),
        ("rescan: the listing compared with the index (lister thread)", ms_range(compared)),
        ("merges of small segments", f"{len(merges)}, " + (f"{statistics.median(ms for _, ms in merges):,.0f} ms median, "
                                                           f"{max(ms for _, ms in merges):,} ms max" if merges else "none")),
        ("rescan sync (worker: drops wait for it)", ms_range(synced)),
        ("start: the watcher's initial sync (unchanged archive)",
         f"{float(start.group(3)):.1f} s over {int(start.group(2)):,} documents, done "
         f"{log_seconds(start.group(1)) - started_at:.1f} s after the service started" if start else "not in the log"),
        ("start: the API answered / a drop made then was searchable",
         f"{api_ready:.1f} s after the service started / {first:.1f} s after that"),
    ]
    if watcher_ms:
        rows.append(("watcher: first event → commit (p50 / p99)",
                     f"{percentile(watcher_ms, 50):.0f} / {percentile(watcher_ms, 99):.0f} ms ({len(watcher_ms)} log lines)"))
    rows.append(("one GET /api/search round trip (p50, the polling's own cost)", f"{round_trip * 1000:.1f} ms"))
    if not cleaned:
        rows.append(("cleanup", "the drops were not all out of the index 120 s after their folder was deleted"))
    table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    subheading = f"### {documents // 1000:,}k documents, rescan every {rescan:g} s"
    section = (f"{subheading}\n\n"
               f"_{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M')} UTC_, {os.cpu_count()} CPUs shared with "
               f"other work (load average in the table); `python bench/drop_bench.py --archive {args.archive}"
               f"{f' --rescan {args.rescan:g}' if args.rescan is not None else ''}`. "
               f"Drops as above, into a new folder of the big archive; the rescans' and merges' times are the "
               f"watcher's log lines; a drop overlaps one when its write-to-searchable interval meets a listing, "
               f"a rescan sync or a merge.\n\n{table}\n")
    print("\n" + table)
    if not args.no_report:
        write_report(section, subheading)
        print(f"\nwritten to {REPORT.relative_to(PROJECT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
