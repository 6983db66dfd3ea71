"""Shared helpers of the benchmarks: corpus indexes, stored texts, REPORT.md sections, a served archive."""

from __future__ import annotations

import json
import math
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from bench.corpus import DATA, write_archive  # noqa: E402
from indexer.config import DEFAULT_CONFIG, load_settings  # noqa: E402
from indexer.errors import IndexUnavailable  # noqa: E402
from indexer.normalize import fold  # noqa: E402
from indexer.textrules import CJK_CHARS  # noqa: E402

REPORT = BENCH / "REPORT.md"


def settings_for(name: str):
    """Settings of the benchmark index of one corpus: bench/data/<name>/{archive,var/index}."""
    root = DATA / name / "archive"
    return load_settings(DEFAULT_CONFIG, overrides={
        "archive": {"root": str(root)},
        "index": {"dir": str(DATA / name / "var" / "index"), "workers": 2},
    }, environ={})


def ensure_index(name: str, rebuild: bool = False, log=print):
    """Settings of the corpus's index, built once (again only with rebuild or if unreadable).

    Returns (settings, build_seconds or None when an existing index was reused).
    """
    from indexer.indexing import Indexer
    from indexer.store import IndexStore

    write_archive(name)
    settings = settings_for(name)
    store = IndexStore(settings)
    if not rebuild and store.exists():
        try:
            store.open().close()
            return settings, None
        except IndexUnavailable as exc:
            log(f"[{name}] existing index unusable ({exc}); rebuilding")
    log(f"[{name}] building the index (workers=2) ...")
    started = time.perf_counter()
    result = Indexer(settings).build()
    seconds = time.perf_counter() - started
    failed = result.count("failed")
    log(f"[{name}] built {result.documents} documents in {seconds:.1f} s ({failed} failed)")
    return settings, seconds


@dataclass
class Doc:
    docnum: int
    id: str
    title: str
    date: str
    text: str           # cleaned display text (stored field "text")
    folded: str         # its matching form
    folded_title: str
    broker: str = ""


def load_docs(searcher) -> tuple[object, list[Doc]]:
    """The searcher's current view and every live document's stored text, folded once, ordered by id."""
    view = searcher.view()
    docs = []
    for docnum in sorted(view.live):
        stored = view.stored(docnum)
        docs.append(Doc(docnum, stored["id"], stored["title"], stored.get("date", ""),
                        stored["text"], fold(stored["text"]), fold(stored["title"]), stored.get("broker", "") or ""))
    docs.sort(key=lambda d: d.id)     # stable across rebuilds (docnums are not)
    return view, docs


def figure_phrase(line: str, number: str, left: str, right: str, cjk: str = CJK_CHARS) -> str | None:
    """The phrase a figure makes with its words on one visual line of a reference reader: up to two
    CJK characters before, the number, up to two after, when the line holds the number (whole, not
    part of a longer one) next to `left` or `right`, the characters another reader put around it."""
    for m in re.finditer(re.escape(number), line):
        s, e = m.span()
        if (s and re.match(r"[\d.,]", line[s - 1])) or (e < len(line) and re.match(r"[\d.,%]", line[e])):
            continue                    # part of a longer number
        if (left and s and line[s - 1] == left) or (right and e < len(line) and line[e] == right):
            pre = re.search(f"[{cjk}]{{0,2}}$", line[:s]).group()
            post = re.match(f"[{cjk}]{{0,2}}", line[e:]).group()
            return pre + number + post
    return None


def machine() -> str:
    return f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}"


def code_version() -> str:
    """The commit the benchmark ran against, and whether indexer/ had uncommitted changes (read-only git)."""
    try:
        head = subprocess.run(["git", "--no-optional-locks", "rev-parse", "--short", "HEAD"], cwd=PROJECT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", "--", "indexer"], cwd=PROJECT, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown commit"
    return f"commit {head}" + (" + uncommitted changes in indexer/" if dirty else "")


def stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()) + ", " + code_version()


def write_section(title: str, script: str, body: str) -> None:
    """Replace (or append) the section `## <title> (<script>)` of bench/REPORT.md, others untouched."""
    heading = f"## {title} ({script})"
    text = REPORT.read_text(encoding="utf-8") if REPORT.exists() else "# Benchmark report\n\n"
    section = f"{heading}\n\n{body.strip()}\n\n"
    pattern = re.compile(rf"^## [^\n]*\({re.escape(script)}\)[ \t]*\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    REPORT.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def md_table(header: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", "⏎")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# -- a served archive: ports, JSON, latencies, the server process --------------------------

def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str, timeout: float = 5.0) -> dict:
    """GET a JSON answer (urllib raises HTTPError on 4xx/5xx)."""
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.loads(answer.read())


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (NaN of no values)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def child_pids(pid: int) -> list[int]:
    """The children of `pid`, read from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return sorted(children)


def command_line(pid: int) -> list[str]:
    """The command line of a process ([] once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


class Served:
    """`python -m server <options> --config CONFIG` on a free loopback port, its output in a log file.

    The config's [server] host and port are overridden on the command line; ARCHIVE_* variables of the
    caller are left out, so the config alone decides.
    """

    def __init__(self, config: Path, *options: str, log_path: Path):
        self.config, self.log_path, self.port = config, log_path, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
        with open(log_path, "w", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server", *options, "--config", str(config), "--host", "127.0.0.1",
                 "--port", str(self.port)],
                cwd=PROJECT, env={**environ, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)     # its own process group: stop() can end every child

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise SystemExit(f"the server exited ({self.process.returncode}); see {self.log_path}")

    def wait_healthy(self, seconds: float = 60) -> dict:
        """The first ok /healthz answer; SystemExit when the server exits or `seconds` pass."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                health = get_json(f"{self.base}/healthz")
                if health.get("ok"):
                    return health
            except (OSError, ValueError):       # not listening yet, or 503 while the index is built
                pass
            time.sleep(0.2)
        raise SystemExit(f"the server did not become healthy in {seconds:.0f} s; see {self.log_path}")

    def gunicorn(self) -> tuple[int, list[int]]:
        """(master pid, worker pids) of a --prod server."""
        masters = [pid for pid in child_pids(self.process.pid) if any("gunicorn" in a for a in command_line(pid))]
        assert len(masters) == 1, masters
        return masters[0], child_pids(masters[0])

    def watcher(self) -> int | None:
        """The pid of the watcher child (`python -m indexer watch`), None while it is being restarted."""
        found = [pid for pid in child_pids(self.process.pid) if "watch" in command_line(pid)]
        return found[0] if found else None

    def stop(self) -> None:
        """SIGTERM (the server stops its children), SIGKILL to the whole group after 20 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
