"""Crash safety: SIGKILL the watcher (the index's only writer) again and again during a burst.

Starts a real `python -m server` (web server + supervised watcher) on a tmp archive, drops
500 real reports while killing the watcher child 20 times at random moments (the server
restarts it), searches all the while, then checks that every report is searchable exactly
once, that the index opens, and that no search answered 5xx. Writes its section of
bench/REPORT.md. Usage: python bench/kill_bench.py [--drops 500] [--kills 20]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Served  # noqa: E402
from bench.corpus import records  # noqa: E402
from bench.report import replace_section  # noqa: E402



def get(port: int, path: str, **params) -> tuple[int, dict]:
    url = f"http://127.0.0.1:{port}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except (urllib.error.URLError, OSError):
        return 0, {}            # not listening yet / connection reset


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drops", type=int, default=500)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    texts = [r["text"] for r in records("gator_reports")]
    tmp = Path(tempfile.mkdtemp(prefix="kill-bench-"))
    archive = tmp / "archive"
    archive.mkdir()
    config = tmp / "config.toml"
    config.write_text(f'[archive]\nroot = "{archive}"\n[index]\ndir = "{tmp / "var" / "index"}"\n'
                      '[watcher]\nrescan_seconds = 5.0\n', encoding="utf-8")
    server = Served(config, log_path=tmp / "server.log")
    port = server.port
    statuses: dict[int, int] = {}
    stop = threading.Event()

    def poll_searches() -> None:
        while not stop.is_set():
            code, _ = get(port, "/api/search", q=rng.choice(["市场", "增长", "行业"]))
            statuses[code] = statuses.get(code, 0) + 1
            time.sleep(0.02)

    try:
        server.wait_healthy(60)
        poller = threading.Thread(target=poll_searches, daemon=True)
        poller.start()
        kill_at = sorted(rng.sample(range(1, args.drops), args.kills))
        kills = attempts = 0
        started = time.monotonic()
        for i in range(args.drops):
            name = archive / f"报告{i:04d}.md"
            tmp_name = archive / f".报告{i:04d}.md.part"
            tmp_name.write_text(f"# 崩溃测试{i:04d}\n\n崩溃标记{i:04d}号。\n\n{texts[i % len(texts)]}\n", encoding="utf-8")
            tmp_name.rename(name)
            if attempts < len(kill_at) and i == kill_at[attempts]:
                attempts += 1
                # Wait for the restarted watcher (the server waits a few seconds), then kill it
                # somewhere in settling, indexing or committing.
                wait_until = time.monotonic() + 15
                pid = server.watcher()
                while not pid and time.monotonic() < wait_until:
                    time.sleep(0.1)
                    pid = server.watcher()
                time.sleep(rng.uniform(0.0, 0.6))
                if pid and subprocess.run(["kill", "-9", str(pid)], check=False).returncode == 0:
                    kills += 1
            time.sleep(0.01)
        drop_seconds = time.monotonic() - started
        # Everything must end up indexed exactly once.
        deadline = time.monotonic() + 300
        missing = set(range(args.drops))
        doubled: set[int] = set()
        while missing and time.monotonic() < deadline:
            time.sleep(1.0)
            for i in sorted(missing):
                code, answer = get(port, "/api/search", q=f'"崩溃标记{i:04d}号"')
                if code == 200 and answer.get("total", 0) >= 1:
                    missing.discard(i)
                    if answer["total"] > 1:
                        doubled.add(i)
        settled = time.monotonic() - started
        code, status = get(port, "/api/status")
        stop.set()
        poller.join(timeout=5)
    finally:
        stop.set()
        server.stop()
    server_errors = sum(n for c, n in statuses.items() if c >= 500)
    rows = [
        ("reports dropped (atomic rename into the archive)", args.drops),
        ("watcher SIGKILLs during the burst (server restarts it)", kills),
        ("reports lost (never searchable)", len(missing)),
        ("reports indexed twice", len(doubled)),
        ("documents in the index at the end", status.get("documents")),
        ("failed receipts", len(status.get("failed", []))),
        ("searches during the run / 5xx answers", f"{sum(statuses.values())} / {server_errors}"),
        ("other statuses seen", ", ".join(f"{c}: {n}" for c, n in sorted(statuses.items()) if c != 200) or "none"),
        ("drop burst / until all searchable", f"{drop_seconds:.1f} s / {settled:.1f} s"),
    ]
    body = ("`python -m server` (web + supervised watcher) over a tmp archive; real gator_reports texts; "
            "the watcher process SIGKILLed at random moments (seeded); searches polled all along.\n\n"
            "| measure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows))
    print(body)
    replace_section("Crash safety: watcher killed during drops (kill_bench.py)", body)
    if missing or doubled or server_errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
