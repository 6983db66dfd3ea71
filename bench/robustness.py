"""Robustness figures: runs the suite's hostile-input, fuzz and fault tests and reports what they tried.

Usage: python bench/robustness.py [--no-report]

Runs `pytest tests/test_fuzz.py tests/test_hostile.py tests/test_schemathesis.py tests/test_faults.py`
(JUnit XML) in a subprocess, then counts from the XML how many tests passed, failed and skipped per file
(a skipped full-disk test means mounting a tmpfs was not allowed) and what each test recorded of its own
input as properties of its test case: the queries it sent per surface (`fuzzed:<surface>`, summed) and the
hostile files and upload names it tried (`hostile`, counted once each across the tests). The crash and load figures come
from kill_bench.py and soak_bench.py, whose sections of bench/REPORT.md this one sums up. Writes its
section of bench/REPORT.md; exits 1 when a test failed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import REPORT, replace_section  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
FILES = ["tests/test_fuzz.py", "tests/test_hostile.py", "tests/test_schemathesis.py", "tests/test_faults.py"]
TITLE = "Robustness: hostile input, faults, crashes, load (robustness.py)"


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


def figure(pattern: str) -> str:
    """The first group of `pattern` in another benchmark's section of REPORT.md ('not run' if missing)."""
    found = re.search(pattern, REPORT.read_text(encoding="utf-8"), re.M) if REPORT.exists() else None
    return found.group(1).strip() if found else "not run"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    print(f"running {' '.join(FILES)} ...", flush=True)
    report, seconds = run_tests()
    outcomes = outcomes_of(report)
    surfaces, hostile = recorded_totals(report)
    fuzzed = sum(surfaces.values())
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

| test file | passed | failed | skipped | xfailed |
|---|---|---|---|---|
{rows}

The kill and soak rows are copied from those scripts' own sections below (their latest runs).
"""
    print(body)
    if not args.no_report:
        replace_section(TITLE, body)
        print(f"wrote the section '{TITLE}' of bench/REPORT.md")
    return 1 if failed or fuzzed <= 0 or hostile <= 0 else 0


if __name__ == "__main__":
    sys.exit(main())
