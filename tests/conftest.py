"""Shared fixtures: settings on tmp_path, a copy of the sample archive, a real built index."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterator

import pytest

warnings.filterwarnings("ignore", category=SyntaxWarning)

from indexer.config import DEFAULT_CONFIG, PROJECT_ROOT, load_settings  # noqa: E402

SAMPLES = PROJECT_ROOT / "samples" / "reports"
# The five sample reports, by the broker that wrote them.
KAIYUAN = "DeepSeek-R1横空出世，智能车产业升级加速.txt"
DONGGUAN = "Deepseek撼动全球AI产业，助力AI应用、AI端侧落地加速.txt"
WEEKLY = "中小盘周报：DeepSeek横空出世，AI产业发展至新阶段.md"
SPDBI = "DeepSeek之AI大模型解读：模型成本大幅下降，国产化全方位加速.txt"
HUAAN = "DeepSeek取得AI模型性能和成本的双重突破.txt"
ALL_SAMPLES = {KAIYUAN, DONGGUAN, WEEKLY, SPDBI, HUAAN}
SHARED = PROJECT_ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
ADMIN_TOKEN = "s3cret-token"       # the upload token of the apps the tests build
ERROR_KEYS = {"ok", "error", "code", "params", "status"}


def pytest_addoption(parser):
    parser.addoption("--container", action="store_true",
                     help="also run the tests marked container: build the image and run it with podman")


def pytest_collection_modifyitems(config, items):
    """Skip the container tests unless --container asks for them (make container-test)."""
    if config.getoption("--container"):
        return
    skip = pytest.mark.skip(reason="builds and runs the container image: make container-test")
    for item in items:
        if "container" in item.keywords:
            item.add_marker(skip)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_settings(tmp_path: Path, root: Path | None = None, **tables) -> object:
    """Settings whose archive and index live under tmp_path; extra tables override keys."""
    overrides = {
        "archive": {"root": str(root or tmp_path / "archive")},
        "index": {"dir": str(tmp_path / "var" / "index"), "workers": 1},
    }
    for table, values in tables.items():
        overrides.setdefault(table, {}).update(values)
    (root or tmp_path / "archive").mkdir(parents=True, exist_ok=True)
    return load_settings(DEFAULT_CONFIG, overrides=overrides, environ={})


def child_pids(pid: int) -> dict[int, list[str]]:
    """The children of `pid` and their command lines, read from /proc."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                children[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().decode().split("\0")
        except (OSError, IndexError, ValueError):
            continue
    return children


def descendant_pids(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, ...), parents first."""
    found, frontier = [], [pid]
    while frontier:
        children = [child for parent in frontier for child in child_pids(parent)]
        found.extend(children)
        frontier = children
    return found


def is_running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_process_tree(process) -> None:
    """SIGKILL a Popen and everything below it (a failed test must not leave servers behind)."""
    below = descendant_pids(process.pid)
    if process.poll() is None:
        process.kill()
        process.wait()
    for pid in below:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def get_json(url: str) -> dict:
    """GET a JSON answer (urllib raises HTTPError on 4xx/5xx)."""
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.load(answer)


def poll(check, seconds: float, every: float = 0.1):
    """check() until it returns something truthy, for at most `seconds`; the last result.

    A server that is not listening yet, or answers 503 while it builds, counts as a falsy result.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = check()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            result = None
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(every)


class OutputReader(threading.Thread):
    """Collects a process's output lines; text() waits (briefly) for the end of the stream."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.lines = stream, []
        self.start()

    def run(self):
        self.lines.extend(self.stream)

    def text(self) -> str:
        self.join(5)
        return "".join(self.lines)


@contextmanager
def running_server(folder: Path, *options: str, tables: str = "") -> Iterator[tuple[str, subprocess.Popen, OutputReader]]:
    """`python -m server <options>` over folder/archive (index in folder/var/index) on a free port.

    Yields (base url, process, its output); the process and its children are killed on the way out.
    `tables` is appended to the config (TOML) it writes in folder/config.toml.
    """
    port = free_port()
    config = folder / "config.toml"
    config.write_text(f'[archive]\nroot = "archive"\n[index]\ndir = "var/index"\nworkers = 1\n'
                      f'[server]\nhost = "127.0.0.1"\nport = {port}\n{tables}', encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_") and k != "MALLOC_ARENA_MAX"}
    process = subprocess.Popen([sys.executable, "-m", "server", *options, "--config", str(config)], env=environ,
                               cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield f"http://127.0.0.1:{port}", process, OutputReader(process.stdout)
    finally:
        kill_process_tree(process)


def post_file(client, name: str, content: bytes, token: str | None = ADMIN_TOKEN, field: str = "file"):
    """POST one file to /api/documents as a form upload, with `Bearer token` (no header for None)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post("/api/documents", headers=headers, data={field: (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def scramble_postings(settings, region: str) -> None:
    """Overwrite part of the ngrams field ("data": every term's entry, "positions": the positions that end
    each bigram's entry) in each live postings file with noise, keeping size and mtime: damage the
    checksums have not caught yet (no scrub since), which only decoding finds."""
    import random

    from indexer.postings import SegmentPostings
    from indexer.store import IndexStore

    noise = random.Random(7)
    for path in IndexStore(settings).live_build().glob("*.post"):
        postings = SegmentPostings(path)
        start, length = postings.header["fields"]["ngrams"]["data"]
        extents = [(postings.header_end + start, length)]
        if region == "positions":
            extents = [postings.positions_extent(slot) for _, slot in postings.items("ngrams")
                       if postings.has_positions(slot)]
        postings.close()
        stat, data = path.stat(), bytearray(path.read_bytes())
        for start, length in extents:
            data[start:start + length] = noise.randbytes(length)
        path.write_bytes(bytes(data))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def assert_error(answer, status: int) -> dict:
    """The answer is the JSON error envelope with this status (and no traceback); its body."""
    assert answer.status_code == status, answer.data[:300]
    assert answer.mimetype == "application/json"
    assert set(answer.json) == ERROR_KEYS
    assert answer.json["ok"] is False and answer.json["status"] == status
    assert answer.json["error"] and "Traceback" not in answer.json["error"]
    return answer.json


@pytest.fixture
def settings_factory(tmp_path):
    """Build settings on tmp_path: settings_factory(root=None, search={...}, ...)."""
    return lambda root=None, **tables: make_settings(tmp_path, root, **tables)


@pytest.fixture
def sample_archive(tmp_path) -> Path:
    """A copy of the bundled five sample reports in tmp_path/archive."""
    root = tmp_path / "archive"
    shutil.copytree(SAMPLES, root)
    return root


@pytest.fixture
def sample_settings(tmp_path, sample_archive):
    return make_settings(tmp_path, sample_archive)


@pytest.fixture
def sample_index(sample_settings):
    """Settings of a real index built over the five sample reports."""
    from indexer.indexing import Indexer

    result = Indexer(sample_settings).build()
    assert result.documents == 5
    return sample_settings


@pytest.fixture(scope="session")
def built_samples(tmp_path_factory):
    """Settings of one real index over a copy of the five samples, shared by read-only tests."""
    from indexer.indexing import Indexer

    tmp = tmp_path_factory.mktemp("samples")
    shutil.copytree(SAMPLES, tmp / "archive")
    settings = make_settings(tmp, tmp / "archive")
    Indexer(settings).build()
    return settings


@pytest.fixture(scope="session")
def sample_client(built_samples):
    """A Flask test client of the app over `built_samples` (read-only tests)."""
    from server import create_app

    return create_app(built_samples).test_client()


CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")


@pytest.fixture(scope="session")
def cjk_font() -> str:
    """The name of a registered CJK font for reportlab, or skip when Debian's is not installed."""
    if not CJK_FONT.exists():
        pytest.skip(f"CJK font {CJK_FONT} is not installed (Debian: fonts-wqy-zenhei)")
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont("WQY", str(CJK_FONT), subfontIndex=0))
    return "WQY"


def make_pdf(font: str, pages: list[str], encrypt=None) -> bytes:
    """A PDF with one line of text per page (a page of drawing and no text for an empty string)."""
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, encrypt=encrypt)
    for line in pages:
        if line:
            page.setFont(font, 12)
            page.drawString(50, 700, line)
        else:
            page.rect(50, 50, 400, 600, fill=1)  # a "scan": drawing, no text
        page.showPage()
    page.save()
    return buffer.getvalue()


def layout_pdf(font: str, pages: list[list[tuple[float, float, float, str]]]) -> bytes:
    """A PDF laid out by hand: per page, (x, y from the top, type size, text) for each piece of text."""
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=(595, 842))
    for items in pages:
        for x, y, size, text in items:
            page.setFont(font, size)
            page.drawString(x, 842 - y, text)
        page.showPage()
    page.save()
    return buffer.getvalue()


def pdf_bomb(megabytes: int) -> bytes:
    """A PDF of a few tens of KB whose one content stream expands to `megabytes` MB of text operators."""
    import zlib

    packer = zlib.compressobj(9)
    piece = b"(abcdefgh) Tj " * 75_000  # about 1 MB
    stream = packer.compress(b"BT /F1 12 Tf 10 10 Td ")
    stream += b"".join(packer.compress(piece) for _ in range(megabytes)) + packer.compress(b" ET") + packer.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)


@pytest.fixture
def corpus_dir() -> Path:
    """../shared/corpus, or skip when the shared folder is not beside the project."""
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not available")
    return CORPUS


class TagCollector(HTMLParser):
    """The start tags of a page, to check that no query or document text became markup."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_no_injected_markup(html: str) -> None:
    """No event handler, no inline or foreign script, no injected element: escaped text is fine."""
    collector = TagCollector()
    collector.feed(html)
    for tag, attrs in collector.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert tag not in ("svg", "img", "iframe", "object", "embed", "style"), (tag, attrs)
        if tag == "script":
            assert (attrs.get("src") or "").startswith("/static/"), (tag, attrs)
        for name in ("href", "src", "action", "formaction"):   # a form field may hold the text
            assert not (attrs.get(name) or "").strip().lower().startswith("javascript:"), (tag, attrs)
    lowered = html.lower()
    for raw in ("<script>alert", "<img src=x", "<svg onload", "<iframe"):
        assert raw not in lowered
