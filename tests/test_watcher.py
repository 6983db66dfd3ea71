"""Tests of indexer.watcher: the real watcher over a tmp archive, real file operations, real inotify.

Every test asserts what a user sees: the search results (and the status), not only receipts.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SAMPLES, make_settings, poll
from indexer.status import status_report
from indexer.config import PROJECT_ROOT
from indexer.search import ArchiveSearcher
from indexer.query import parse_request
from indexer.store import IndexStore
from indexer.watcher import ArchiveWatcher

# Real report text: the bundled plain-text samples (the .md one has front matter).
REPORTS = [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt"))]
SEED = sorted(SAMPLES.glob("*.txt"))[0]
DEADLINE = 8.0      # generous: the machine may be busy; a passing run takes well under a second
FAST = {"settle_seconds": 0.2, "batch_seconds": 0.05, "rescan_seconds": 3600.0}


def report(n: int, chars: int = 1500) -> str:
    """A report of real Chinese text (a window of a sample report) ending in a unique marker."""
    text = REPORTS[n % len(REPORTS)]
    start = (n * 137) % max(1, len(text) - chars)
    return f"{text[start:start + chars]}\n\n本报告标记编号{n:04d}。\n"


class Archive:
    """A watched archive folder: its settings, its watcher and a searcher, as a user would use it."""

    def __init__(self, settings):
        self.settings = settings
        self.root: Path = settings.archive.root
        self.watcher: ArchiveWatcher | None = None
        self._searcher: ArchiveSearcher | None = None

    def start(self) -> ArchiveWatcher:
        self.watcher = ArchiveWatcher(self.settings)
        self.watcher.start()
        return self.watcher

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def write(self, relpath: str, text: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def search(self, query: str) -> dict:
        if self._searcher is None:
            self._searcher = ArchiveSearcher(self.settings)
        return self._searcher.search(parse_request({"q": query, "size": 100}, self.settings))

    def paths(self, query: str) -> list[list[str]]:
        """Every hit's list of file paths, sorted: one inner list per search hit."""
        return sorted(sorted(hit["paths"]) for hit in self.search(query)["hits"])

    def wait_for(self, query: str, expected: list[list[str]], timeout: float = DEADLINE) -> None:
        """Retry the search until it returns exactly `expected` (or the deadline passes)."""
        deadline = time.monotonic() + timeout
        while (got := self.paths(query)) != expected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert got == expected, f"search {query!r} returned {got}, expected {expected}"

    def wait_gone(self, query: str, path: str, timeout: float = DEADLINE) -> None:
        """Retry the search until no hit lists `path` any more."""
        deadline = time.monotonic() + timeout
        while (listed := [hit for hit in self.paths(query) if path in hit]) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not listed, f"search {query!r} still lists {path}: {listed}"

    def status(self) -> dict:
        return status_report(self.settings)

    def generation(self) -> int:
        ix = IndexStore(self.settings).open()
        try:
            return ix.latest_generation()
        finally:
            ix.close()


@pytest.fixture
def archive(settings_factory):
    """A tmp archive seeded with one sample report, watched with short delays; stopped after."""
    settings = settings_factory(watcher=FAST)
    shutil.copyfile(SEED, settings.archive.root / SEED.name)
    arc = Archive(settings)
    arc.start()
    yield arc
    arc.stop()


def test_start_indexes_the_existing_archive(archive):
    archive.wait_for("智能车", [[SEED.name]])


def test_created_file(archive):
    archive.write("新建/晨会纪要.md", report(1))
    archive.wait_for("标记编号0001", [["新建/晨会纪要.md"]])


def test_slowly_written_file_is_indexed_only_once_complete(archive):
    text = "开篇标记编号0002。\n" + REPORTS[1] + "\n结尾处的独特短语：慢速写入完成标记编号0003。\n"
    chunks = [text[i:i + len(text) // 20 + 1] for i in range(0, len(text), len(text) // 20 + 1)]
    started = time.monotonic()
    with open(archive.root / "慢速写入.txt", "w", encoding="utf-8") as fh:
        for chunk in chunks:
            fh.write(chunk)
            fh.flush()
            # Half a file must never be searchable: neither its end nor its beginning.
            assert archive.paths("标记编号0003") == []
            assert archive.paths("开篇标记编号0002") == []
            time.sleep(2.0 / len(chunks))
    assert time.monotonic() - started >= 2.0
    archive.wait_for("慢速写入完成标记编号0003", [["慢速写入.txt"]])
    archive.wait_for("开篇标记编号0002", [["慢速写入.txt"]])


def test_file_moved_in_from_outside(archive, tmp_path):
    outside = tmp_path / "downloads"
    outside.mkdir()
    (outside / "券商晨报.md").write_text(report(4), encoding="utf-8")
    os.rename(outside / "券商晨报.md", archive.root / "券商晨报.md")
    archive.wait_for("标记编号0004", [["券商晨报.md"]])


def test_renamed_inside(archive):
    archive.write("旧名.md", report(5))
    archive.wait_for("标记编号0005", [["旧名.md"]])
    (archive.root / "归档").mkdir()
    os.rename(archive.root / "旧名.md", archive.root / "归档" / "新名.md")
    archive.wait_for("标记编号0005", [["归档/新名.md"]])
    hit = archive.search("标记编号0005")["hits"][0]
    assert hit["path"] == "归档/新名.md"


def test_atomic_replace(archive):
    archive.write("行业周报.md", report(6))
    archive.wait_for("标记编号0006", [["行业周报.md"]])
    archive.write(".行业周报.md.tmp", report(7))
    archive.wait_for("标记编号0007", [])     # the temp file is never indexed
    os.replace(archive.root / ".行业周报.md.tmp", archive.root / "行业周报.md")
    archive.wait_for("标记编号0007", [["行业周报.md"]])
    archive.wait_for("标记编号0006", [])
    assert archive.search("行业周报")["total"] == 1


def test_modified_in_place(archive):
    path = archive.write("公司点评.txt", report(8))
    archive.wait_for("标记编号0008", [["公司点评.txt"]])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n补充：维持买入评级，追加标记编号0009。\n")
    archive.wait_for("标记编号0009", [["公司点评.txt"]])
    archive.wait_for("标记编号0008", [["公司点评.txt"]])
    path.write_text(report(10), encoding="utf-8")
    archive.wait_for("标记编号0010", [["公司点评.txt"]])
    archive.wait_for("标记编号0008", [])


def test_deleted(archive):
    path = archive.write("待删除.md", report(11))
    archive.wait_for("标记编号0011", [["待删除.md"]])
    path.unlink()
    archive.wait_for("标记编号0011", [])
    archive.wait_for("智能车", [[SEED.name]])


def test_folder_moved_in_whole(archive, tmp_path):
    folder = tmp_path / "staging" / "二月研报"
    (folder / "子目录").mkdir(parents=True)
    names = ["a.md", "b.txt", "子目录/c.md"]
    for n, name in enumerate(names, start=12):
        (folder / name).write_text(report(n), encoding="utf-8")
    os.rename(folder, archive.root / "二月研报")
    for n, name in enumerate(names, start=12):
        archive.wait_for(f"标记编号{n:04d}", [[f"二月研报/{name}"]])


def test_folder_renamed_inside(archive):
    for n in (70, 71):
        archive.write(f"旧目录/{n}.md", report(n))
    for n in (70, 71):
        archive.wait_for(f"标记编号{n:04d}", [[f"旧目录/{n}.md"]])
    os.rename(archive.root / "旧目录", archive.root / "新目录")
    for n in (70, 71):
        archive.wait_for(f"标记编号{n:04d}", [[f"新目录/{n}.md"]])


def test_folder_deleted_whole(archive):
    for n in range(15, 18):
        archive.write(f"一月研报/子目录{n}/{n}.md", report(n))
    for n in range(15, 18):
        archive.wait_for(f"标记编号{n:04d}", [[f"一月研报/子目录{n}/{n}.md"]])
    shutil.rmtree(archive.root / "一月研报")
    for n in range(15, 18):
        archive.wait_for(f"标记编号{n:04d}", [])
    archive.wait_for("智能车", [[SEED.name]])


def test_folder_moved_out_whole(archive, tmp_path):
    archive.write("移出/a.md", report(18))
    archive.wait_for("标记编号0018", [["移出/a.md"]])
    os.rename(archive.root / "移出", tmp_path / "移出")
    archive.wait_for("标记编号0018", [])


def test_hidden_temp_and_partial_files_are_ignored(archive):
    ignored = [".hidden.md", "x.part", "~$x.docx", "a.swp", "b.crdownload", ".隐藏目录/c.md"]
    for n, name in enumerate(ignored, start=20):
        archive.write(name, report(n))
    archive.write("正常.md", report(30))   # written last: once it is found, the others were seen
    archive.wait_for("标记编号0030", [["正常.md"]])
    assert archive.watcher.wait_idle(DEADLINE)
    for n in range(20, 20 + len(ignored)):
        assert archive.paths(f"标记编号{n:04d}") == []
    status = archive.status()
    mentioned = {f["path"] for f in status["failed"]} | {r["path"] for r in status["recent"]}
    assert mentioned.isdisjoint(ignored)
    assert status["queue"] == 0


def test_duplicate_content_is_one_hit_listing_both_paths(archive):
    text = report(31)
    archive.write("原版.md", text)
    archive.write("副本/同一篇.md", text)
    archive.wait_for("标记编号0031", [["副本/同一篇.md", "原版.md"]])
    def receipts():
        found = {r["path"]: r["status"] for r in archive.status()["recent"] if r["path"] in ("原版.md", "副本/同一篇.md")}
        return found if len(found) == 2 else None
    assert sorted(poll(receipts, DEADLINE).values()) == ["duplicate", "indexed"]
    (archive.root / "原版.md").unlink()
    archive.wait_for("标记编号0031", [["副本/同一篇.md"]])


@pytest.mark.slow
def test_burst_of_300_files_is_batched(archive):
    before = archive.generation()
    for n in range(1, 301):
        archive.write(f"批量/{n:04d}.md", report(n))
    # Indexing 300 reports takes seconds (more on a busy machine).
    poll(lambda: archive.search('"标记编号"')["total"] >= 300, 60)
    assert archive.watcher.wait_idle(DEADLINE)
    assert archive.search('"标记编号"')["total"] == 300
    for n in range(1, 301):
        assert archive.paths(f"标记编号{n:04d}") == [[f"批量/{n:04d}.md"]]
    commits = archive.generation() - before
    assert 1 <= commits <= 30, f"{commits} commits for 300 files"
    assert poll(lambda: archive.status()["queue"] == 0, DEADLINE)


def test_bad_file_among_good_ones(archive):
    for n in range(40, 43):
        archive.write(f"混合/{n}.md", report(n))
    (archive.root / "混合" / "乱码.txt").write_bytes(bytes(range(256)) * 16)
    for n in range(40, 43):
        archive.wait_for(f"标记编号{n:04d}", [[f"混合/{n}.md"]])
    failed = poll(lambda: archive.status()["failed"], DEADLINE)
    assert [f["path"] for f in failed] == ["混合/乱码.txt"]
    assert "binary" in failed[0]["reason"]
    # Fixed by its owner: the same name becomes searchable and leaves the failed list.
    (archive.root / "混合" / "乱码.txt").write_text(report(43), encoding="utf-8")
    archive.wait_for("标记编号0043", [["混合/乱码.txt"]])
    assert poll(lambda: archive.status()["failed"] == [], DEADLINE)


def test_queue_is_reported_while_a_file_is_being_written(archive):
    with open(archive.root / "写入中.md", "w", encoding="utf-8") as fh:
        fh.write(report(44))
        fh.flush()
        assert poll(lambda: archive.status()["queue"] == 1, DEADLINE)
        assert archive.paths("标记编号0044") == []
    archive.wait_for("标记编号0044", [["写入中.md"]])
    assert poll(lambda: archive.status()["queue"] == 0, DEADLINE)


def test_restart_catches_up_with_changes_made_while_stopped(archive):
    for n in range(50, 53):
        archive.write(f"{n}.md", report(n))
    for n in range(50, 53):
        archive.wait_for(f"标记编号{n:04d}", [[f"{n}.md"]])
    archive.stop()
    archive.write("53.md", report(53))                         # added
    archive.write("50.md", report(54))                         # changed
    (archive.root / "51.md").unlink()                          # deleted
    os.rename(archive.root / "52.md", archive.root / "52改名.md")  # renamed
    archive.start()
    archive.wait_for("标记编号0053", [["53.md"]])
    archive.wait_for("标记编号0054", [["50.md"]])
    archive.wait_for("标记编号0050", [])
    archive.wait_for("标记编号0051", [])
    archive.wait_for("标记编号0052", [["52改名.md"]])


def test_rescan_catches_missed_events(settings_factory, caplog):
    """The lister compares its listing with the index (Indexer.changed_paths): the worker syncs only
    what differs, and a new, rewritten or deleted file whose events were missed is still caught."""
    settings = settings_factory(watcher={**FAST, "rescan_seconds": 0.5})
    shutil.copyfile(SEED, settings.archive.root / SEED.name)
    for n in range(12):
        (settings.archive.root / f"旧{n:02d}.md").write_text(report(300 + n), encoding="utf-8")
    arc = Archive(settings)
    watcher = arc.start()
    caplog.set_level(logging.INFO, logger="indexer.watcher")
    try:
        # No events from now on: only the periodic rescan can notice the new file.
        watcher.observer.stop()
        watcher.observer.join()
        arc.write("漏掉的事件.md", report(60))
        arc.wait_for("标记编号0060", [["漏掉的事件.md"]])
        arc.write("漏掉的事件.md", report(61))
        arc.wait_for("标记编号0061", [["漏掉的事件.md"]])
        (arc.root / SEED.name).unlink()
        arc.wait_gone("智能车", SEED.name)
    finally:
        arc.stop()
    synced = [int(n) for n in re.findall(r"rescan: synced (\d+) paths", caplog.text)]
    assert synced and max(synced) <= 1, synced      # of 14 files, only the one that changed each time


def test_the_listing_child_hands_back_only_what_differs(settings_factory):
    """list_changes lists and compares in a forked child: the paths that differ from the index (a
    rewritten, a new and a deleted file) with their listing, and how many files it listed; every
    listed file when the indexer has not read the index yet."""
    from indexer.indexing import Indexer
    from indexer.watcher import list_changes

    settings = settings_factory(watcher=FAST)
    root = settings.archive.root
    for n in range(6):
        (root / f"旧{n:02d}.md").write_text(report(400 + n), encoding="utf-8")
    indexer = Indexer(settings)
    indexer.sync()                  # the first sync builds the index
    indexer.known_paths()           # and this reads its state, as the watcher's start does
    (root / "旧00.md").write_text(report(500), encoding="utf-8")
    os.utime(root / "旧00.md", (1, 1))          # another time than indexed, whatever the clock's grain
    (root / "新的.md").write_text(report(501), encoding="utf-8")
    (root / "旧05.md").unlink()
    listing, changed, count, list_s, compare_s = list_changes(root, indexer)
    assert changed == {"旧00.md", "新的.md", "旧05.md"} and set(listing) == {"旧00.md", "新的.md"}
    assert count == 6 and listing["新的.md"].size == (root / "新的.md").stat().st_size
    assert list_s >= 0 and compare_s >= 0
    listing, changed, count, _, _ = list_changes(root, Indexer(settings))     # no state read yet
    assert changed is None and count == 6 and len(listing) == 6


@pytest.mark.slow
def test_a_steady_trickle_of_drops_does_not_pile_up_segments(settings_factory):
    """Drops closer together than the quiet pause that triggers a merge: the watcher merges
    after MERGE_AFTER_COMMITS commits anyway, so searches do not slow down segment by segment.
    Each drop follows the last one's visibility at once, so merges run beside the drops."""
    from indexer.watcher import MERGE_AFTER_COMMITS, MERGE_QUIET_SECONDS

    settings = settings_factory(watcher=FAST)
    shutil.copyfile(SEED, settings.archive.root / SEED.name)
    arc = Archive(settings)
    watcher = arc.start()
    drops = 3 * MERGE_AFTER_COMMITS
    try:
        started = time.monotonic()
        for n in range(drops):
            arc.write(f"快讯{n:02d}.md", report(200 + n, chars=300))
            arc.wait_for(f"标记编号{200 + n:04d}", [[f"快讯{n:02d}.md"]])
        assert time.monotonic() - started < drops * MERGE_QUIET_SECONDS   # never quiet long enough, on average
        assert watcher.commits >= drops
        ix = IndexStore(settings).open()
        try:
            with ix.reader() as reader:
                segments = len(reader.leaf_readers()) if not reader.is_atomic() else 1
        finally:
            ix.close()
        # the commits since the last merge began (MERGE_AFTER_COMMITS before one is due), the seed's
        # and the merged segments, and a few committed while a merge ran beside them (9 measured)
        assert segments <= MERGE_AFTER_COMMITS + 3, segments
        assert arc.search("\"标记编号02\"")["total"] == drops       # markers 0200-0223
    finally:
        arc.stop()


def test_watch_command_indexes_drops_and_stops_on_sigterm(tmp_path):
    root = tmp_path / "archive"
    root.mkdir()
    shutil.copyfile(SEED, root / SEED.name)
    config = tmp_path / "config.toml"
    config.write_text('[archive]\nroot = "archive"\n[index]\ndir = "var/index"\nworkers = 1\n'
                      "[watcher]\nsettle_seconds = 0.2\nbatch_seconds = 0.05\n", encoding="utf-8")
    from indexer.config import load_settings

    arc = Archive(load_settings(config, environ={}))
    proc = subprocess.Popen([sys.executable, "-m", "indexer", "--config", str(config), "watch"],
                            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while not IndexStore(arc.settings).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        arc.write("命令行.md", report(61))
        arc.wait_for("标记编号0061", [["命令行.md"]], timeout=15)
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, output
    assert "indexed 命令行.md" in output
    assert "watching" in output


def test_a_file_name_with_a_newline_cannot_forge_a_log_line():
    from indexer.watcher import loggable

    assert loggable("研报\nindexed 伪造.md") == "研报\\nindexed 伪造.md"
    assert loggable("开源证券-周报.md") == "开源证券-周报.md"


def test_a_missing_archive_folder_stops_the_watcher_instead_of_being_created(tmp_path):
    from indexer.errors import ArchiveError

    settings = make_settings(tmp_path, tmp_path / "mistyped" / "reports")
    (tmp_path / "mistyped" / "reports").rmdir()          # make_settings creates it; a typo would not exist
    with pytest.raises(ArchiveError, match="does not exist or is not a folder"):
        ArchiveWatcher(settings).start()
    assert not (tmp_path / "mistyped" / "reports").exists()
