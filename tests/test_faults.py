"""Faults: a writer killed mid-commit or mid-build, a damaged index, a full disk; nothing live is lost."""

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import traceback
import urllib.error
import urllib.parse
from pathlib import Path

import pytest

from conftest import (HUAAN, KAIYUAN, PROJECT_ROOT, SAMPLES, child_pids, get_json, kill_process_tree, make_settings,
                      poll, running_server, scramble_postings)
from indexer import integrity
from indexer.status import status_report
from indexer.errors import IndexUnavailable
from indexer.indexing import Indexer
from indexer.search import ArchiveSearcher
from indexer.query import parse_request
from indexer.store import IndexStore
from server import create_app


def write_config(settings, path):
    path.write_text(f'[archive]\nroot = "{settings.archive.root}"\n[index]\ndir = "{settings.index.dir}"\nworkers = 1\n',
                    encoding="utf-8")
    return path


def total(settings, q):
    return ArchiveSearcher(settings).search(parse_request({"q": q}, settings))["total"]


def test_writer_killed_holding_the_lock_leaves_no_stale_lock(sample_index, tmp_path):
    """Whoosh's lock is an fcntl lock: the kernel drops it with the process, the index stays."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(PROJECT_ROOT)!r})
        from indexer.config import load_settings
        from indexer.store import IndexStore
        settings = load_settings({str(write_config(sample_index, tmp_path / "c.toml"))!r})
        ix = IndexStore(settings).open()
        writer = ix.writer()
        writer.add_document(id="half", content_hash="half", path="half.md", text="写了一半", body_len=4)
        print("locked", flush=True)
        time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        holder.kill()
    (sample_index.archive.root / "after.md").write_text("# 之后\n\n钠离子电池装机。\n", encoding="utf-8")
    result = Indexer(sample_index).sync()
    assert result.committed and [r.status for r in result.receipts] == ["indexed"]
    assert total(sample_index, "钠离子") == 1
    assert total(sample_index, "写了一半") == 0       # the killed writer's document never landed
    assert total(sample_index, "DeepSeek") == 5


@pytest.mark.slow
def test_build_killed_half_way_leaves_the_live_index_untouched(sample_index, tmp_path):
    root = sample_index.archive.root
    body = (PROJECT_ROOT / "samples" / "reports").glob("*.txt")
    text = next(iter(body)).read_text(encoding="utf-8")
    for i in range(300):
        (root / f"批量{i:03d}.txt").write_text(f"批量标记{i:03d}。\n{text}", encoding="utf-8")
    live_before = IndexStore(sample_index).live_build()
    config = write_config(sample_index, tmp_path / "c.toml")
    build = subprocess.Popen([sys.executable, "-m", "indexer", "--config", str(config), "build"],
                             cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    builds = IndexStore(sample_index).builds
    while time.monotonic() < deadline and len(list(builds.iterdir())) < 2:
        time.sleep(0.05)
    time.sleep(1.0)                       # well into reading and writing the new generation
    build.send_signal(signal.SIGKILL)
    build.wait(timeout=10)
    assert IndexStore(sample_index).live_build() == live_before
    assert status_report(sample_index)["documents"] == 5
    assert total(sample_index, "DeepSeek") == 5
    result = Indexer(sample_index).build()           # and a new build recovers everything
    assert result.documents == 305 and total(sample_index, '"批量标记299"') == 1


@pytest.mark.slow
def test_a_build_whose_worker_dies_stops_with_a_message_instead_of_hanging(sample_index, tmp_path):
    root = sample_index.archive.root
    text = next(iter((PROJECT_ROOT / "samples" / "reports").glob("*.txt"))).read_text(encoding="utf-8")
    for i in range(1500):
        (root / f"批量{i:04d}.txt").write_text(f"批量标记{i:04d}。\n{text}", encoding="utf-8")
    live_before = IndexStore(sample_index).live_build()
    config = write_config(sample_index, tmp_path / "c.toml")
    config.write_text(config.read_text(encoding="utf-8").replace("workers = 1", "workers = 2"), encoding="utf-8")
    build = subprocess.Popen([sys.executable, "-m", "indexer", "--config", str(config), "build"],
                             cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        workers = poll(lambda: [pid for pid, cmd in child_pids(build.pid).items()
                                if any("spawn_main" in part for part in cmd)], 30)
        assert workers, "the build started no worker processes"
        time.sleep(0.5)
        os.kill(workers[0], signal.SIGKILL)   # as the kernel's OOM killer would
        output, _ = build.communicate(timeout=60)
    finally:
        kill_process_tree(build)
    assert build.returncode != 0, output
    assert "worker process died" in output and "Traceback" not in output
    assert IndexStore(sample_index).live_build() == live_before
    assert total(sample_index, "DeepSeek") == 5


NOISE = 64 * 1024


def damage_index(live: Path, damage: str) -> str:
    """Damage the live generation's files as `damage` says; the kind of file damaged."""
    how, _, kind = damage.partition(":")
    pattern = {"seg": "*.seg", "postings": "*.post", "columns": "*.cols", "toc": "*.toc", "sums": "reports_*.sums"}.get(kind, "")
    for path in sorted(live.glob(pattern)) if pattern else []:
        data = bytearray(path.read_bytes())
        stat = path.stat()
        middle = len(data) // 2
        if how == "remove":
            path.unlink()
            continue
        if how in ("noise", "noise_in_place"):
            # random bytes over the middle, the size unchanged: only a checksum can tell
            data[middle:middle + NOISE] = random.Random(damage).randbytes(min(NOISE, len(data) - middle))
        elif how == "truncate":
            del data[len(data) * 3 // 4:]
        elif how in ("flip", "flip_in_place"):
            data[middle] ^= 0x10
        path.write_bytes(bytes(data))
        if how.endswith("_in_place"):   # as a failing disk would: size and mtime as they were
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return kind


DAMAGES = ["remove_toc", "truncate_segments", "remove_postings", "truncate_postings", "remove_live",
           "noise:seg", "noise:postings", "truncate:seg", "truncate:postings",
           "flip:seg", "flip:postings", "flip:toc", "flip:sums", "flip_in_place:seg", "noise_in_place:postings",
           "remove_columns", "noise:columns", "truncate:columns", "noise_in_place:columns"]


@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_index_gives_a_clear_message_everywhere_and_build_recovers(sample_index, damage, record_property):
    store = IndexStore(sample_index)
    live = store.live_build()
    client = create_app(sample_index).test_client()
    found_by = "open"
    if damage == "remove_toc":
        for toc in live.glob("*.toc"):
            toc.unlink()
    elif damage == "truncate_segments":
        for segment in live.glob("*.seg"):
            segment.write_bytes(segment.read_bytes()[:100])
    elif damage == "remove_postings":
        for postings in live.glob("*.post"):
            postings.unlink()
    elif damage == "truncate_postings":
        for postings in live.glob("*.post"):
            postings.write_bytes(postings.read_bytes()[:-10])
    elif damage == "remove_columns":
        for columns in live.glob("*.cols"):
            columns.unlink()
    elif damage == "remove_live":
        store.live.unlink()
    else:
        assert client.get("/api/search", query_string={"q": "需求"}).json["total"] == 4    # opened, then damaged
        kind = damage_index(live, damage)
        if damage.partition(":")[0].endswith("_in_place"):
            # Size and mtime unchanged, the files summed when they were written: opening again does not
            # sum them again; the scrub finds it.
            store.open().close()
            assert store.scrubber().scrub() is None
            found_by = "scrub"
        suffix = {"seg": ".seg", "postings": ".post", "columns": ".cols", "toc": ".toc", "sums": ".sums"}[kind]
        report = status_report(sample_index)
        assert report["code"] == "index_damaged" and report["params"]["file"].endswith(suffix), report
        record_property(f"damage:{damage}", found_by)
    report = status_report(sample_index)
    assert report["ok"] is False and "build" in report["error"]
    answer = client.get("/api/search", query_string={"q": "模型"})
    assert answer.status_code == 503 and answer.json["ok"] is False and "build" in answer.json["error"]
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json["code"] == report.get("code", "index_unavailable")
    api_status = client.get("/api/status")
    assert api_status.status_code == 503 and api_status.json["ok"] is False
    page = client.get("/search", query_string={"q": "模型"})
    text = page.get_data(as_text=True)
    assert page.status_code == 503 and "Traceback" not in text
    if report.get("code") == "index_damaged":
        assert "已损坏" in text and "python -m indexer build" in text and report["params"]["file"] in text
        assert "已损坏" in client.get("/status").get_data(as_text=True)
        assert answer.json["code"] == "index_damaged"
    with pytest.raises(IndexUnavailable):
        ArchiveSearcher(sample_index).search(parse_request({"q": "模型"}, sample_index))
    assert Indexer(sample_index).build().documents == 5
    assert total(sample_index, "DeepSeek") == 5
    assert json.loads(json.dumps(status_report(sample_index)))["ok"] is True
    assert client.get("/api/search", query_string={"q": "需求"}).json["total"] == 4


def test_a_damaged_postings_file_read_at_search_time_is_a_503_not_a_500(sample_index):
    """The second line of defence: damage the checksums have not caught yet (size and mtime kept, before
    the next scrub) fails the search that reads it with the 503 envelope, names the file, stops the index."""
    client = create_app(sample_index).test_client()
    assert client.get("/api/search", query_string={"q": "需求"}).json["total"] == 4
    scramble_postings(sample_index, "data")     # every n-gram's posting list
    answer = client.get("/api/search", query_string={"q": "需求"})
    assert answer.status_code == 503 and answer.json["code"] == "index_damaged", answer.json
    assert answer.json["params"]["file"].endswith(".post")
    assert client.get("/healthz").status_code == 503
    assert Indexer(sample_index).build().documents == 5
    assert client.get("/api/search", query_string={"q": "需求"}).json["total"] == 4


def test_a_generation_failing_to_open_is_answered_from_the_last_one_until_it_is_not_a_race(sample_index, monkeypatch):
    """A reader that lists a segment the writer's commit then deletes fails to open that generation: the
    searcher keeps answering from the one it has (a soak saw one 503 for it) for OPEN_RETRY_SECONDS, then
    reports it; the next good generation is taken as usual."""
    searcher = ArchiveSearcher(sample_index)
    request = parse_request({"q": "需求"}, sample_index)
    assert searcher.search(request)["total"] == 4
    live = IndexStore(sample_index).live_build()
    before = set(live.glob("*.post"))
    (Path(sample_index.archive.root) / "新增.txt").write_text("需求回暖，新增一篇报告。\n" * 5, encoding="utf-8")
    assert Indexer(sample_index).sync().count("indexed") == 1
    for postings in set(live.glob("*.post")) - before:     # the new generation's segment is gone
        postings.unlink()
    assert searcher.search(request)["total"] == 4           # the last generation answers, no error
    monkeypatch.setattr("indexer.search.OPEN_RETRY_SECONDS", 0.0)
    time.sleep(0.01)
    with pytest.raises(IndexUnavailable):
        searcher.search(request)
    assert Indexer(sample_index).build().documents == 6
    assert searcher.search(request)["total"] == 5


def test_a_file_written_over_after_the_server_opened_it_is_found_by_the_next_search(sample_index):
    client = create_app(sample_index).test_client()
    assert client.get("/api/search", query_string={"q": "需求"}).json["total"] == 4
    damage_index(IndexStore(sample_index).live_build(), "noise:postings")
    answer = poll(lambda: (a := client.get("/api/search", query_string={"q": "需求"})).status_code == 503 and a,
                  3 * integrity.RECHECK_SECONDS)
    assert answer and answer.json["code"] == "index_damaged" and answer.json["params"]["file"].endswith(".post")


def test_the_memo_of_summed_files_forgets_the_files_that_merges_deleted(sample_index, monkeypatch):
    """A long-running writer commits new files and merges old ones away: what it remembers as summed stays
    about the size of the live index instead of growing by every file it ever wrote."""
    monkeypatch.setattr(integrity, "_summed", {})
    monkeypatch.setattr(integrity, "_prune_at", 16, raising=False)
    monkeypatch.setattr(integrity, "_SUMMED_PRUNE_AT", 16, raising=False)
    indexer = Indexer(sample_index)
    note = Path(sample_index.archive.root) / "变动.txt"
    for round_ in range(40):
        note.write_text(f"第{round_}次改写的报告，需求回暖。\n" * 3, encoding="utf-8")
        indexer.sync()
    remembered = list(integrity._summed)
    live = [p for p in IndexStore(sample_index).live_build().iterdir()]
    assert sum(1 for name in remembered if not Path(name).exists()) <= 16, remembered
    assert len(remembered) <= 2 * len(live) + 16, (len(remembered), len(live))


def test_every_file_of_a_commit_is_summed_before_its_table_of_contents(sample_index):
    live = IndexStore(sample_index).live_build()
    (sample_index.archive.root / "after.md").write_text("# 之后\n\n钠离子电池装机。\n", encoding="utf-8")
    assert Indexer(sample_index).sync().committed
    segments = {p.stem for p in live.glob("reports_*.seg")}
    assert len(segments) == 2 and {p.stem for p in live.glob("reports_*.sums")} == segments
    assert [p.name for p in live.glob("_reports_*.sums")] == [p.stem + ".sums" for p in live.glob("*.toc")]
    for name in [p.stem for p in live.glob("*.sums")]:
        assert integrity.verify(live, [name], force=True).files >= 1


# -- A full disk during indexing -------------------------------------------------------------
#
# The service's var folder (index, status, jieba cache) goes on a small tmpfs; the archive stays
# on the normal disk. The disk is made full in several ways: no free block or no free inode
# before the writer starts, blocks running out part-way through a file (a sweep of how much room
# is left), the disk becoming full just before the writer's 1st, 2nd, 3rd ... file (every point
# of a commit in turn), and another process taking every block the writer frees. Whatever the
# point, the writer must fail and change the index all or nothing, the live index must keep
# answering, the status must survive, and once space is back the next sync or build must catch
# up: nothing lost, nothing doubled. The tests look at behaviour only (searches, status, the
# CLI, HTTP, free space), not at the index's files, whose layout is changing. The last three
# tests: a failed writer releases the write lock, a failed build gives back all its space, and a
# sync cut short at any byte fails with the full disk's own error. They need root (mount): elsewhere they skip; `-m "not full_disk"` leaves them out (about 60 s).

DISK_MB = 32            # room for the jieba cache (about 9 MB) and several generations of the samples
DISK_INODES = 100_000
QUERIES = ["DeepSeek", "智能车", '"大模型"', "AI OR 算力", "满盘标记"]
FILLER_TEXT = (SAMPLES / KAIYUAN).read_text(encoding="utf-8")[:3000]     # real report text, short: quick rounds

# A process that takes every free block it can, as soon as it can, after a delay: the disk fills
# while the writer works, and each block the writer frees (temporary files) is taken again.
HOG = """
import errno, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
chunk = bytes(int(sys.argv[3]))
print("ready", flush=True)
time.sleep(float(sys.argv[2]))
while True:
    try:
        os.write(fd, chunk)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        time.sleep(0.0002)
"""
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT
_armed: list = []       # the SmallDisk whose trap is set (at most one)


def _before_a_file_is_made(event: str, args: tuple) -> None:
    """Audit hook: count the files opened for writing, folders and links made on an armed disk."""
    if not _armed:
        return
    if event == "open":
        path, _mode, flags = args
        if not isinstance(flags, int) or not flags & _WRITE_FLAGS:
            return
    elif event in ("os.mkdir", "os.symlink"):
        path = args[0] if event == "os.mkdir" else args[1]
    else:
        return
    if isinstance(path, (str, bytes, os.PathLike)):
        _armed[0].sprung(os.path.abspath(os.fsdecode(path)))


class SmallDisk:
    """A tmpfs mounted on `path`: fill it, starve it of inodes, race a hog against the writer, free it."""

    hooked = False

    def __init__(self, path: Path):
        self.path = path
        self.filler = path / "filler.bin"
        self.hog_file = path / "hog.bin"
        self.hog: subprocess.Popen | None = None
        self.inodes_limited = False
        self.countdown = 0

    def usage(self) -> tuple[int, int]:
        """(bytes, inodes) in use."""
        st = os.statvfs(self.path)
        return (st.f_blocks - st.f_bfree) * st.f_frsize, st.f_files - st.f_ffree

    def fill(self, leave: int = 0) -> None:
        """Write a filler file until only `leave` bytes are free (or none: the server under test
        writes to the same disk meanwhile, and may take the last bytes first)."""
        with open(self.filler, "ab", buffering=0) as fh:
            remaining = shutil.disk_usage(self.path).free - leave
            while remaining > 0:
                try:
                    remaining -= fh.write(bytes(min(remaining, 1 << 20)))
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    return

    def limit_inodes(self, spare: int = 0) -> None:
        """Allow only `spare` more files and folders."""
        self._remount(f"nr_inodes={self.usage()[1] + spare}")
        self.inodes_limited = True

    def fill_before_file(self, n: int) -> None:
        """Fill the disk just before this process makes its n-th file (or folder, or link) on it."""
        if not SmallDisk.hooked:
            sys.addaudithook(_before_a_file_is_made)      # for the rest of the process; inert unless armed
            SmallDisk.hooked = True
        self.countdown = n
        _armed[:] = [self]

    def sprung(self, path: str) -> None:
        if not path.startswith(str(self.path) + os.sep):
            return
        self.countdown -= 1
        if self.countdown == 0:
            _armed.clear()               # before filling: the filler's own open must not count
            self.fill(0)

    def start_hog(self, delay: float, chunk: int = 1 << 20) -> None:
        """Start taking every free block `delay` seconds from now, `chunk` bytes at a time."""
        self.hog = subprocess.Popen([sys.executable, "-c", HOG, str(self.hog_file), str(delay), str(chunk)],
                                    stdout=subprocess.PIPE, text=True)
        assert self.hog.stdout.readline().strip() == "ready"

    def free(self) -> None:
        """Give all the space back: disarm, stop the hog, delete the filler, lift the inode limit."""
        _armed.clear()
        if self.hog is not None:
            self.hog.kill()
            self.hog.wait()
            self.hog.stdout.close()
            self.hog = None
        self.hog_file.unlink(missing_ok=True)
        self.filler.unlink(missing_ok=True)
        if self.inodes_limited:
            self._remount(f"nr_inodes={DISK_INODES}")
            self.inodes_limited = False

    def _remount(self, option: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{option}", str(self.path)], check=True, capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    """A small tmpfs on tmp_path/var (the index, its status, the jieba cache); skips where mounting is not allowed."""
    var = tmp_path / "var"
    var.mkdir()
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("no mount command: cannot simulate a full disk")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m,nr_inodes={DISK_INODES}", "tmpfs",
                              str(var)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here, so a full disk cannot be simulated: "
                    f"{(mounted.stderr or mounted.stdout).strip()}")
    disk = SmallDisk(var)
    try:
        yield disk
    finally:
        try:
            disk.free()
        finally:
            if subprocess.run(["umount", str(var)], capture_output=True).returncode != 0:
                # A file is still open in this process (an index a test kept): detach the mount now anyway.
                subprocess.run(["umount", "--lazy", str(var)], check=True, capture_output=True)


@pytest.fixture
def full_disk_settings(tmp_path, small_disk):
    """Settings over a copy of the samples (on the normal disk) plus one unreadable file; var on the small disk."""
    root = tmp_path / "archive"
    shutil.copytree(SAMPLES, root)
    (root / "空白报告.txt").write_text("  \n", encoding="utf-8")      # a failed file the status must keep
    return make_settings(tmp_path, root)


def failure_of(call) -> str | None:
    """Run call(); None if it succeeded, else what it raised and where (the exception itself is not
    kept: what keeping it does is test_a_sync_failing_on_a_full_disk_releases_the_write_lock)."""
    try:
        call()
    except Exception as exc:
        where = [f"{Path(f.filename).stem}.{f.name}" for f in traceback.extract_tb(exc.__traceback__)
                 if f"{os.sep}indexer{os.sep}" in f.filename]
        return f"{type(exc).__name__}: {exc} (in {' > '.join(where)})"
    return None


def is_enospc(error: str) -> bool:
    return error.startswith(f"OSError: [Errno {errno.ENOSPC}]")


def answers(settings, queries) -> dict[str, tuple[int, list[str]]]:
    """What each query returns (total, and the ids of the first 100 hits), as a user would see it."""
    searcher = ArchiveSearcher(settings)
    found = {}
    for q in queries:
        answer = searcher.search(parse_request({"q": q, "size": 100}, settings))
        found[q] = (answer["total"], [hit["id"] for hit in answer["hits"]])
    return found


def marker_query(marker: str) -> str:
    return f'"{marker}"'


class Drops:
    """Reports dropped into, rewritten in and deleted from the archive, with the marker each must be found by."""

    def __init__(self, root: Path):
        self.root = root
        self.current: dict[str, str] = {}      # relative path -> the marker its current text holds
        self.latest: list[str] = []            # markers written by the latest change
        self.replaced: list[str] = []          # markers the latest change took out of the archive
        self.made = 0

    def change(self, new: int = 3) -> None:
        """Drop `new` reports, rewrite the oldest dropped one, delete the next oldest."""
        self.latest, self.replaced = [], []
        older = sorted(self.current)
        if older:
            self._write(older[0])
        if len(older) > 1:
            (self.root / older[1]).unlink()
            self.replaced.append(self.current.pop(older[1]))
        for _ in range(new):
            self._write(f"满盘{self.made:03d}.txt")

    def _write(self, relpath: str) -> None:
        marker = f"满盘标记{self.made:03d}号"
        self.made += 1
        if relpath in self.current:
            self.replaced.append(self.current[relpath])
        (self.root / relpath).write_text(f"{marker}\n{FILLER_TEXT}", encoding="utf-8")
        self.current[relpath] = marker
        self.latest.append(marker)

    def queries(self) -> list[str]:
        """The fixed queries (one of them finds every dropped report) and the latest change's markers."""
        return QUERIES + [marker_query(m) for m in self.latest + self.replaced]


def index_holds(settings, drops: Drops, samples: int = 5) -> bool:
    """Every dropped report is found once at its path; the latest change's markers find exactly the
    reports that hold them now; the index counts the samples and the dropped reports."""
    searcher = ArchiveSearcher(settings)

    def paths(q):
        return [hit["path"] for hit in searcher.search(parse_request({"q": q, "size": 100}, settings))["hits"]]

    where = {marker: relpath for relpath, marker in drops.current.items()}
    every = sorted(paths("满盘标记")) == sorted(drops.current) if len(drops.current) <= 100 else True
    return (every
            and all(paths(marker_query(m)) == ([where[m]] if m in where else []) for m in drops.latest + drops.replaced)
            and status_report(settings)["documents"] == samples + len(drops.current))


def make_full(disk: SmallDisk, how: str, step: int, round_: int, seconds: float, rng: random.Random) -> None:
    """Make the disk full the way `how` says, for round `round_` of a sweep."""
    if how == "no_space":
        disk.fill(0)
    elif how == "no_inodes":
        disk.limit_inodes(0)
    elif how == "space_runs_out":                # 0, 1, 2 ... steps left free: a file is cut part-way
        disk.fill(round_ * step)
    elif how == "full_before_each_file":         # full before the writer's 1st, 2nd, 3rd ... file
        disk.fill_before_file(round_ + 1)
    else:                                        # another process takes the disk while the writer works
        disk.start_hog(0.0 if round_ == 0 else rng.uniform(0, seconds))


def sweep_over(how: str, round_: int, error: str | None) -> bool:
    """Whether a sweep of full-disk rounds is done."""
    if how in ("no_space", "no_inodes"):
        assert error is not None, "an index write with no room at all succeeded"
        return round_ == 1
    if how == "disk_fills_while_writing":
        return round_ == 4
    return error is None          # the sweep reached enough room, or the point after the last file


def full_disk(test):
    """Marks a test that mounts a small tmpfs and fills it: full_disk, and slow (seconds each)."""
    return pytest.mark.slow(pytest.mark.full_disk(test))


HOW = ["no_space", "no_inodes", "space_runs_out", "full_before_each_file", "disk_fills_while_writing"]


@full_disk
@pytest.mark.parametrize("how", HOW)
def test_a_sync_on_a_full_disk_loses_nothing(full_disk_settings, small_disk, how):
    settings = full_disk_settings
    indexer = Indexer(settings)       # one writer for the whole test, as the watcher keeps one
    assert indexer.build().documents == 5
    drops = Drops(settings.archive.root)
    drops.change()
    used_before = small_disk.usage()[0]
    result = indexer.sync()           # with room: how much space and time a round of changes takes
    step, seconds = max(4096, (small_disk.usage()[0] - used_before) // 8), result.seconds
    rng = random.Random(7)
    failures = []
    for round_ in range(80):
        before = answers(settings, drops.queries())
        status_before = status_report(settings)
        assert [f["path"] for f in status_before["failed"]] == ["空白报告.txt"]
        drops.change()
        make_full(small_disk, how, step, round_, seconds, rng)
        error = failure_of(indexer.sync)
        small_disk.free()
        if error is not None:
            failures.append(error)
            # All or nothing: the index answers exactly as before, or holds every change (the
            # failure came after the commit); the status keeps what it knew.
            committed = answers(settings, before) != before
            assert not committed or index_holds(settings, drops), error
            status = status_report(settings)
            assert status["ok"] is True and status["failed"] == status_before["failed"], error
            if not committed:
                assert status["documents"] == status_before["documents"], error
                assert status["last_sync"] == status_before["last_sync"], error
        used_before = small_disk.usage()[0]
        result = indexer.sync()           # room again: the pending changes are indexed
        assert index_holds(settings, drops), error
        assert status_report(settings)["last_sync"] is not None
        if result.committed:
            step = max(4096, (small_disk.usage()[0] - used_before) // 8)
            seconds = result.seconds
        if sweep_over(how, round_, error):
            break
    else:
        pytest.fail(f"the sweep never reached a sync with enough room: {failures[-3:]}")
    assert failures


@full_disk
@pytest.mark.parametrize("how", HOW)
def test_a_build_on_a_full_disk_keeps_the_live_index(full_disk_settings, small_disk, how):
    settings = full_disk_settings
    indexer = Indexer(settings)
    drops = Drops(settings.archive.root)
    drops.change(new=6)
    used_before = small_disk.usage()[0]
    result = indexer.build()
    step, seconds = max(4096, (small_disk.usage()[0] - used_before) // 6), result.seconds
    rng = random.Random(11)
    failures = []
    for round_ in range(80):
        before = answers(settings, drops.queries())
        status_before = status_report(settings)
        drops.change(new=1)
        make_full(small_disk, how, step, round_, seconds, rng)
        error = failure_of(indexer.build)
        small_disk.free()
        if error is not None:
            failures.append(error)
            status = status_report(settings)
            assert status["ok"] is True, error
            if status["build"] == status_before["build"]:
                assert answers(settings, before) == before, error
                assert status["last_sync"] == status_before["last_sync"], error
                assert status["failed"] == status_before["failed"], error
            else:       # the new generation went live whole; only recording it in the status failed
                assert index_holds(settings, drops), error
        if sweep_over(how, round_, error):
            break
        if error is None:
            assert index_holds(settings, drops)
    else:
        pytest.fail(f"the sweep never reached a build with enough room: {failures[-3:]}")
    assert failures
    assert indexer.build().documents == 5 + len(drops.current)
    assert index_holds(settings, drops)


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    return subprocess.run([sys.executable, "-m", "indexer", "--config", str(config), *args], cwd=PROJECT_ROOT,
                          env=environ, capture_output=True, text=True, timeout=120)


@full_disk
def test_the_cli_reports_a_full_disk_in_one_line_and_catches_up(full_disk_settings, small_disk, tmp_path):
    settings = full_disk_settings
    config = tmp_path / "c.toml"
    # Two workers and more than 64 files: `build` takes the parallel path, `sync` of a few files the serial one.
    config.write_text(f'[archive]\nroot = "{settings.archive.root}"\n[index]\ndir = "{settings.index.dir}"\n'
                      f'workers = 2\n', encoding="utf-8")
    drops = Drops(settings.archive.root)
    drops.change(new=70)
    built = run_cli(config, "build")
    assert built.returncode == 0, built.stderr
    before = answers(settings, drops.queries())
    drops.change()
    small_disk.fill(0)
    for command in ("sync", "build"):
        failed = run_cli(config, command)
        assert failed.returncode == 2 and failed.stdout == ""
        assert "Traceback" not in failed.stderr
        assert failed.stderr.count("\n") == 1 and failed.stderr.startswith("error: no space left"), failed.stderr
        status = run_cli(config, "status", "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["documents"] == 75
        assert answers(settings, before) == before
    small_disk.free()
    synced = run_cli(config, "sync")
    assert synced.returncode == 0 and "4 indexed" in synced.stdout and "1 deleted" in synced.stdout, synced.stdout
    assert index_holds(settings, drops)


@full_disk
def test_served_searches_go_on_while_the_watcher_meets_a_full_disk(small_disk, tmp_path):
    """`python -m server --prod` (gunicorn + the watcher) on a disk that fills up: no 5xx, the same answers,
    and the changes made meanwhile are indexed once space is back (the watcher's rescan retries them)."""
    root = tmp_path / "archive"
    shutil.copytree(SAMPLES, root)
    tables = "workers = 2\nthreads = 2\n[watcher]\nrescan_seconds = 1.0\n"
    with running_server(tmp_path, "--prod", tables=tables) as (base, process, output):
        def served(q: str) -> list[str]:
            answer = get_json(f"{base}/api/search?" + urllib.parse.urlencode({"q": q, "size": 100}))
            return [hit["path"] for hit in answer["hits"]]

        assert poll(lambda: get_json(f"{base}/api/status")["documents"] == 5, 60), output.text()[-2000:]
        drops = Drops(root)
        before = {q: served(q) for q in QUERIES}
        assert served(f'"{HUAAN[:-4]}"') == [HUAAN]        # its title, to see it go
        small_disk.fill(0)
        # the space a failed write gives back is taken again at once, page by page: the disk stays
        # full (else a later, smaller commit fits in it and the answers change, as they may)
        small_disk.start_hog(0.0, chunk=4096)
        drops.change(new=3)
        (root / HUAAN).unlink()
        statuses: dict[int, int] = {}
        deadline = time.monotonic() + 5.0      # two failed batches and several failed rescans
        while time.monotonic() < deadline:
            for q in QUERIES:
                try:
                    assert served(q) == before[q], q
                    statuses[200] = statuses.get(200, 0) + 1
                except urllib.error.HTTPError as exc:
                    statuses[exc.code] = statuses.get(exc.code, 0) + 1
            assert get_json(f"{base}/healthz")["ok"] and get_json(f"{base}/api/status")["ok"]
        assert set(statuses) == {200}, statuses
        assert "No space left on device" in "".join(output.lines)      # the watcher did meet the full disk
        small_disk.free()
        caught_up = poll(lambda: all(served(marker_query(m)) == [p] for p, m in drops.current.items())
                         and served(f'"{HUAAN[:-4]}"') == [], 30)
        assert caught_up, output.text()[-3000:]
        status = get_json(f"{base}/api/status")
        assert status["ok"] and status["documents"] == 5 - 1 + 3


@full_disk
def test_a_sync_failing_on_a_full_disk_releases_the_write_lock(full_disk_settings, small_disk):
    settings = full_disk_settings
    Indexer(settings).build()
    Drops(settings.archive.root).change()
    small_disk.fill(0)
    with pytest.raises(OSError) as failure:       # the caller keeps the error, as pytest and error reporters do
        Indexer(settings).sync()
    assert failure.value.errno == errno.ENOSPC
    small_disk.free()
    ix = IndexStore(settings).open()
    try:
        ix.writer(timeout=0).cancel()             # another writer (the CLI, a restarted watcher) may write now
    finally:
        ix.close()


@full_disk
def test_a_build_failing_on_a_full_disk_gives_its_space_back(full_disk_settings, small_disk):
    settings = full_disk_settings
    indexer = Indexer(settings)
    Drops(settings.archive.root).change(new=6)
    indexer.build()
    indexer.build()                  # a previous generation kept for readers, as after any build
    left_behind = []
    for n in range(1, 80):
        before = small_disk.usage()
        small_disk.fill_before_file(n)
        error = failure_of(indexer.build)
        small_disk.free()
        if error is None:
            break
        if small_disk.usage() != before:
            left_behind.append(f"full before file {n}: {before} -> {small_disk.usage()} (bytes, files); {error}")
    assert not left_behind, "\n".join(left_behind)


@full_disk
def test_a_sync_cut_short_at_any_byte_fails_with_enospc(full_disk_settings, small_disk):
    """Room for 0, 1, 2 ... pages: the sync is cut short at every write in turn, and says why."""
    settings = full_disk_settings
    indexer = Indexer(settings)
    indexer.build()
    drops = Drops(settings.archive.root)
    errors = []
    for page in range(400):
        drops.change(new=1)
        small_disk.fill(page * 4096)
        error = failure_of(indexer.sync)
        small_disk.free()
        if error is None:
            break
        errors.append(error)
        indexer.sync()
        assert index_holds(settings, drops), error
    assert errors and [e for e in errors if not is_enospc(e)] == [], "\n".join(errors)


@full_disk
def test_jieba_leaves_no_cache_dump_behind_on_a_full_disk(small_disk):
    var = small_disk.path / "var"
    var.mkdir()
    small_disk.fill(leave=512 * 1024)            # the 8 MB dictionary cache cannot be written
    code = ("import sys; from pathlib import Path; from indexer.analysis import init_jieba; "
            "init_jieba(Path(sys.argv[1])); print('ok')")
    for _ in range(2):                            # a watcher restarting onto a full disk
        done = subprocess.run([sys.executable, "-c", code, str(var / "jieba.cache")], cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.stdout.strip() == "ok", done.stderr[-2000:]
    assert sorted(p.name for p in var.iterdir()) == []


def test_a_stored_html_that_does_not_decode_is_a_503_not_a_500(sample_index):
    """The Markdown HTML rendered at index time is stored as JSON beside the text: one that does not
    decode (damage the checksums have not caught yet) is reported as damage, like any stored field."""
    view = ArchiveSearcher(sample_index).view()
    assert view.markup({"markup": '{"body": "<p>x</p>", "boilerplate": "", "note": ""}'})["body"] == "<p>x</p>"
    with pytest.raises(IndexUnavailable) as caught:
        view.markup({"markup": '{"body": "<p>截断'})
    assert caught.value.message.code == "index_damaged"
