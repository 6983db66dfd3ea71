"""Build, sync and status on a real Whoosh index over real files."""

import json
import os
import subprocess
import time

import pytest

from indexer.cli import main as cli_main
from indexer.status import status_report
from indexer.errors import IndexUnavailable
from indexer.indexing import Indexer, report_id
from indexer.search import ArchiveSearcher
from indexer.query import parse_request
from indexer.store import MARKER_FILE, IndexStore

NEW_REPORT = "# 固态电池行业深度\n\n2025年3月1日\n\n固态电池产业化提速，硫化物电解质成为主流路线。\n"


def find(settings, q, **params):
    answer = ArchiveSearcher(settings).search(parse_request({"q": q, **params}, settings))
    return {hit["path"] for hit in answer["hits"]}, answer


def generation(settings):
    ix = IndexStore(settings).open()
    try:
        return ix.latest_generation()
    finally:
        ix.close()


def test_build_indexes_all_samples(sample_index):
    report = status_report(sample_index)
    assert report["ok"] and report["documents"] == 5 and report["failed"] == []
    paths, answer = find(sample_index, "DeepSeek", size=10)
    assert answer["total"] == 5 and len(paths) == 5


def test_second_sync_writes_nothing(sample_index):
    before = generation(sample_index)
    result = Indexer(sample_index).sync()
    assert not result.committed and result.receipts == []
    assert generation(sample_index) == before


def test_sync_adds_changes_and_deletes(sample_index):
    root = sample_index.archive.root
    (root / "sub").mkdir()
    (root / "sub" / "固态电池.md").write_text(NEW_REPORT, encoding="utf-8")
    result = Indexer(sample_index).sync()
    assert [(r.path, r.status) for r in result.receipts] == [("sub/固态电池.md", "indexed")]
    assert find(sample_index, "硫化物电解质")[0] == {"sub/固态电池.md"}

    target = root / "sub" / "固态电池.md"
    target.write_text(NEW_REPORT.replace("硫化物", "氧化物"), encoding="utf-8")
    os.utime(target, (time.time() + 5, time.time() + 5))
    Indexer(sample_index).sync()
    assert find(sample_index, "硫化物电解质")[0] == set()
    assert find(sample_index, "氧化物电解质")[0] == {"sub/固态电池.md"}

    target.unlink()
    result = Indexer(sample_index).sync()
    assert [(r.path, r.status) for r in result.receipts] == [("sub/固态电池.md", "deleted")]
    assert find(sample_index, "氧化物电解质")[0] == set()
    assert status_report(sample_index)["documents"] == 5


def test_bad_files_get_receipts_and_never_stop_the_rest(sample_index):
    root = sample_index.archive.root
    (root / "junk.txt").write_bytes(os.urandom(4096))
    (root / "empty.md").write_bytes(b"")
    (root / "fake.pdf").write_text("not a pdf at all", encoding="utf-8")
    (root / "good.md").write_text(NEW_REPORT, encoding="utf-8")
    result = Indexer(sample_index).sync()
    statuses = {r.path: r.status for r in result.receipts}
    assert statuses == {"junk.txt": "failed", "empty.md": "failed", "fake.pdf": "failed", "good.md": "indexed"}
    failed = {f["path"]: f["reason"] for f in status_report(sample_index)["failed"]}
    assert set(failed) == {"junk.txt", "empty.md", "fake.pdf"}
    assert all(reason for reason in failed.values())
    assert find(sample_index, "固态电池")[0] == {"good.md"}
    # Unchanged failures are not retried; a repaired file is indexed and leaves the list.
    assert not Indexer(sample_index).sync().receipts
    (root / "junk.txt").write_text("修复后的文本：钠离子电池。", encoding="utf-8")
    Indexer(sample_index).sync()
    assert "junk.txt" not in {f["path"] for f in status_report(sample_index)["failed"]}
    assert find(sample_index, "钠离子")[0] == {"junk.txt"}


def test_duplicate_content_is_one_hit_with_both_paths(sample_index):
    root = sample_index.archive.root
    (root / "a.md").write_text(NEW_REPORT, encoding="utf-8")
    (root / "b.md").write_text(NEW_REPORT, encoding="utf-8")
    result = Indexer(sample_index).sync()
    assert sorted(r.status for r in result.receipts) == ["duplicate", "indexed"]
    paths, answer = find(sample_index, "硫化物")
    assert answer["total"] == 1 and answer["hits"][0]["paths"] == ["a.md", "b.md"]
    (root / "a.md").unlink()
    Indexer(sample_index).sync()
    paths, answer = find(sample_index, "硫化物")
    # The report keeps the id it was given (its first file's) while it is in the archive.
    assert paths == {"b.md"} and answer["hits"][0]["id"] == report_id("a.md")


def test_build_swaps_atomically_and_keeps_live_index_on_failure(sample_index, monkeypatch):
    store = IndexStore(sample_index)
    first = store.live_build()
    Indexer(sample_index).build()
    second = store.live_build()
    assert second != first and (second / MARKER_FILE).exists()

    import indexer.indexing as indexing

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(indexing.Indexer, "_reconcile", broken)
    with pytest.raises(RuntimeError):
        Indexer(sample_index).build()
    assert store.live_build() == second
    assert find(sample_index, "横空出世")[1]["total"] == 2


def test_schema_mismatch_asks_for_build(sample_index):
    store = IndexStore(sample_index)
    marker = store.live / MARKER_FILE
    marker.write_text(json.dumps({"schema_version": -1}), encoding="utf-8")
    with pytest.raises(IndexUnavailable, match="python -m indexer build"):
        store.open()
    report = status_report(sample_index)
    assert report["ok"] is False and "build" in report["error"]


def test_missing_index_is_a_clear_error(settings_factory):
    settings = settings_factory()
    with pytest.raises(IndexUnavailable, match="no index"):
        ArchiveSearcher(settings).search(parse_request({"q": "模型"}, settings))


def test_cli_build_status_search(sample_settings, capsys, monkeypatch):
    config = sample_settings.archive.root.parent / "config.toml"
    config.write_text(f'[archive]\nroot = "{sample_settings.archive.root}"\n[index]\ndir = "{sample_settings.index.dir}"\nworkers = 1\n',
                      encoding="utf-8")
    assert cli_main(["--config", str(config), "build"]) == 0
    assert "5 documents" in capsys.readouterr().out
    assert cli_main(["--config", str(config), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["documents"] == 5 and status["last_sync"] and status["generation"] >= 1
    assert cli_main(["--config", str(config), "search", "横空出世", "--json", "--size", "1"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["ok"] and answer["total"] == 2 and len(answer["hits"]) == 1
    assert "<mark>横空出世</mark>" in answer["hits"][0]["snippets"][0]
    assert cli_main(["--config", str(config), "search", ""]) == 2
    assert "empty" in capsys.readouterr().err


@pytest.mark.slow
def test_parallel_build_writes_one_segment_per_worker(tmp_path, settings_factory):
    """Over POOL_THRESHOLD files with two workers: same documents, duplicates, failures."""
    from indexer.indexing import POOL_THRESHOLD
    from conftest import SAMPLES

    root = tmp_path / "many"
    root.mkdir()
    texts = [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.iterdir()) if p.suffix == ".txt"]
    for i in range(POOL_THRESHOLD + 6):
        (root / f"报告{i:03d}.txt").write_text(f"唯一标记{i:03d}号。\n" + texts[i % len(texts)], encoding="utf-8")
    (root / "副本.txt").write_text("唯一标记007号。\n" + texts[7 % len(texts)], encoding="utf-8")
    (root / "坏文件.txt").write_bytes(os.urandom(2048))
    settings = settings_factory(root=root, index={"workers": 2})
    result = Indexer(settings).build()
    assert result.documents == POOL_THRESHOLD + 6
    assert {r.path for r in result.receipts if r.status == "duplicate"} == {"报告007.txt"}  # the first name is primary
    assert {r.path for r in result.receipts if r.status == "failed"} == {"坏文件.txt"}
    paths, answer = find(settings, '"唯一标记007号"')
    assert answer["total"] == 1 and answer["hits"][0]["paths"] == ["副本.txt", "报告007.txt"]
    for i in (0, 33, POOL_THRESHOLD + 5):
        assert find(settings, f'"唯一标记{i:03d}号"')[1]["total"] == 1
    assert not Indexer(settings).sync().receipts      # the state written by workers reads back whole


@pytest.mark.parametrize("isolated", [False, True], ids=["in-process", "in-a-child"])
def test_sync_without_merge_keeps_commits_small_and_merge_folds_them(sample_index, isolated):
    """The watcher merges in a forked child (isolated): the same merge, its memory returned when the child exits."""
    indexer = Indexer(sample_index)
    root = sample_index.archive.root

    def segments():
        ix = IndexStore(sample_index).open()
        try:
            with ix.reader() as reader:
                return len(reader.leaf_readers()) if reader.is_atomic() is False else 1
        finally:
            ix.close()

    for i in range(12):
        (root / f"drop{i:02d}.md").write_text(f"# 快讯{i}\n\n第{i:02d}号快讯：钠电池装机量提升。\n", encoding="utf-8")
        assert indexer.sync([f"drop{i:02d}.md"], merge=False).committed
    before = segments()
    assert before >= 12
    indexer.merge_segments(isolated=isolated)
    assert segments() == 1          # every small segment, not just the five smallest (Whoosh's MERGE_SMALL)
    assert find(sample_index, "钠电池", size=20)[1]["total"] == 12
    assert not indexer.sync().receipts      # the cached state matches the merged index


def test_sync_from_a_stale_listing_trusts_only_what_did_not_change(sample_index):
    """The watcher's rescan syncs from a listing made a moment before: a file indexed, rewritten
    or deleted since must end up as the folder has it now, not as the listing saw it."""
    from indexer.documents import list_archive

    indexer = Indexer(sample_index)
    root = sample_index.archive.root
    (root / "旧.md").write_text("# 旧\n\n旧报告：锂电池。\n", encoding="utf-8")
    indexer.sync(["旧.md"])
    stale = {s.relpath: s for s in list_archive(root)}
    (root / "新.md").write_text(NEW_REPORT, encoding="utf-8")          # arrived after the listing
    indexer.sync(["新.md"])
    (root / "旧.md").unlink()                                           # gone after the listing
    indexer.sync(["旧.md"])
    result = indexer.sync(sorted(set(stale) | {"新.md", "旧.md"}), sources=stale)
    assert [r for r in result.receipts if r.status != "unchanged"] == []
    assert find(sample_index, "硫化物电解质")[0] == {"新.md"}
    assert find(sample_index, "锂电池")[0] == set()
    assert status_report(sample_index)["failed"] == []


def commit_small_segments(indexer: Indexer, root, prefix: str, count: int) -> None:
    """`count` short reports (钠电池), each committed on its own without a merge: as many small segments."""
    for i in range(count):
        (root / f"{prefix}{i}.md").write_text(f"# 快讯{i}\n\n第{i}号快讯：钠电池。\n", encoding="utf-8")
        indexer.sync([f"{prefix}{i}.md"], merge=False)


def test_a_merge_that_fails_in_its_child_is_an_error_here_and_commits_nothing(sample_index):
    """A merge in a child that fails (here: writing past a file-size limit set for it, EFBIG)
    raises in the parent, which goes on; the index keeps its segments, and the next change and
    merge commit (the child's lock released, its partial files cleaned up)."""
    import resource

    from indexer.store import IndexStore

    indexer = Indexer(sample_index)
    root = sample_index.archive.root
    commit_small_segments(indexer, root, "f", 3)
    live = IndexStore(sample_index).live_build()
    tocs = sorted(p.name for p in live.glob("*.toc"))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (512, hard))     # the child inherits it; this process only reads
    try:
        with pytest.raises(RuntimeError, match="a merge in a child process ended with exit code 1"):
            indexer.merge_segments(isolated=True)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert sorted(p.name for p in live.glob("*.toc")) == tocs      # nothing committed
    assert find(sample_index, "钠电池", size=20)[1]["total"] == 3
    (root / "f9.md").write_text("# 快讯9\n\n第9号快讯：固态电池。\n", encoding="utf-8")
    assert indexer.sync(["f9.md"], merge=False).committed
    indexer.merge_segments(isolated=True)
    assert find(sample_index, "钠电池", size=20)[1]["total"] == 3
    assert find(sample_index, "固态电池")[1]["total"] == 1


def merge_folders(settings) -> list[str]:
    return [p.name for p in IndexStore(settings).live_build().glob(".merging-*")]


def test_a_merge_commits_beside_changes_and_keeps_what_they_deleted(sample_index):
    """The watcher's merge writes its segment in a child without the lock (indexer.merging): changes
    commit meanwhile. A document deleted or rewritten in a merged segment after the merge began
    stays deleted once it lands (not merged back to life); one added meanwhile stays too."""
    indexer = Indexer(sample_index)
    root = sample_index.archive.root
    commit_small_segments(indexer, root, "c", 6)
    job = indexer.start_merge()
    assert job is not None and len(job.sources) >= 6
    (root / "c1.md").unlink()
    assert indexer.sync(["c1.md"], merge=False).committed
    (root / "c2.md").write_text("# 快讯2\n\n第2号快讯改：固态电池。\n", encoding="utf-8")
    assert indexer.sync(["c2.md"], merge=False).committed
    (root / "c9.md").write_text("# 快讯9\n\n第9号快讯：钠电池。\n", encoding="utf-8")
    assert indexer.sync(["c9.md"], merge=False).committed
    job.wait()
    assert indexer.land_merge(job)
    assert merge_folders(sample_index) == []
    queries = ["钠电池", "固态电池", '"第2号快讯"', "快讯"]

    def answers():
        return {q: (find(sample_index, q, size=50)[0], find(sample_index, q)[1]["total"]) for q in queries}

    merged = answers()
    assert merged["钠电池"] == ({"c0.md", "c3.md", "c4.md", "c5.md", "c9.md"}, 5)
    assert merged["固态电池"] == ({"c2.md"}, 1)
    assert not indexer.sync().receipts      # the cached state matches the merged index
    indexer.build()
    assert answers() == merged


def test_a_merge_whose_segments_were_merged_meanwhile_is_dropped(sample_index):
    """Another merge (here in-process, as `python -m indexer sync` merges) took the sources first:
    the child's segment would hold their documents twice, so it is dropped and its files removed
    (whether the child finished, or failed because that merge removed its sources under it)."""
    indexer = Indexer(sample_index)
    commit_small_segments(indexer, sample_index.archive.root, "d", 4)
    job = indexer.start_merge()
    indexer.merge_segments()
    job.wait()
    assert indexer.land_merge(job) is False
    assert merge_folders(sample_index) == []
    assert find(sample_index, "钠电池", size=20)[1]["total"] == 4
    assert not indexer.sync().receipts


def test_a_stopped_merge_commits_nothing_and_leaves_nothing(sample_index):
    """The watcher stops a merge in flight when it stops: the child is killed, its folder removed,
    nothing committed. A folder left by a merge whose process died (a killed watcher) is removed
    by the next merge."""
    indexer = Indexer(sample_index)
    root = sample_index.archive.root
    commit_small_segments(indexer, root, "g", 4)
    live = IndexStore(sample_index).live_build()
    tocs = sorted(p.name for p in live.glob("*.toc"))
    job = indexer.start_merge()
    job.cancel()
    assert merge_folders(sample_index) == []
    assert sorted(p.name for p in live.glob("*.toc")) == tocs
    gone = subprocess.Popen(["true"])
    gone.wait()
    (live / f".merging-{gone.pid}-1").mkdir()
    (live / f".merging-{gone.pid}-1" / "reports_x.seg").write_bytes(b"half")
    (live / f".merging-{os.getpid()}-1").mkdir()       # a restarted watcher may get its old process id
    indexer.merge_segments(isolated=True)
    assert merge_folders(sample_index) == []
    assert find(sample_index, "钠电池", size=20)[1]["total"] == 4
    assert not indexer.sync().receipts


@pytest.mark.slow
def test_merging_segments_carries_postings_over_deletions_and_changes(sample_index):
    """Postings live beside each segment (indexer.postings): a merge renumbers documents
    around deleted ones. Every query answers the same before and after, and as a fresh build."""
    indexer = Indexer(sample_index)
    root = sample_index.archive.root
    for i in range(14):
        (root / f"m{i:02d}.md").write_text(f"# 钠电池周报{i}\n\n第{i:02d}号：钠电池装机量提升，标记{i:02d}甲乙。Model{i}\n",
                                           encoding="utf-8")
        indexer.sync([f"m{i:02d}.md"], merge=False)
    for i in (1, 5, 9):
        (root / f"m{i:02d}.md").unlink()
        indexer.sync([f"m{i:02d}.md"], merge=False)
    for i in (2, 6):
        (root / f"m{i:02d}.md").write_text(f"# 钠电池周报{i}\n\n第{i:02d}号改：固态电池，标记{i:02d}丙丁。\n", encoding="utf-8")
        indexer.sync([f"m{i:02d}.md"], merge=False)
    queries = ["钠电池", "装机量", '"标记02甲"', '"标记02丙"', "标记06丙丁", '"标记09"', "model3", "电池", "DeepSeek",
               "固态 电池", "周报 -固态"]

    def answers():
        return {q: (find(sample_index, q, size=50)[0], find(sample_index, q)[1]["total"]) for q in queries}

    before = answers()
    assert before["钠电池"][1] == 14 - 3 and before["装机量"][1] == 14 - 3 - 2
    assert before['"标记02甲"'][1] == 0 and before['"标记02丙"'][0] == {"m02.md"}
    assert before['"标记09"'][1] == 0 and before["model3"][0] == {"m03.md"}
    indexer.merge_segments()
    assert answers() == before
    with writing_all(sample_index):
        pass
    assert answers() == before
    indexer.build()
    assert answers() == before


def writing_all(settings):
    """Merge every segment into one (Whoosh's optimize), postings included."""
    from contextlib import contextmanager

    from indexer.store import writing

    @contextmanager
    def merged():
        ix = IndexStore(settings).open()
        try:
            with writing(ix, optimize=True) as writer:
                yield writer
        finally:
            ix.close()
    return merged()


def test_point_in_time_search_sees_only_reports_that_had_arrived(sample_index):
    """A back-test asks what was known at a moment: later arrivals stay out."""
    from datetime import datetime, timezone

    time.sleep(0.01)
    moment = datetime.now(timezone.utc).isoformat()
    time.sleep(0.01)
    (sample_index.archive.root / "later.md").write_text("# 后来的报告\n\nDeepSeek发布新模型。\n", encoding="utf-8")
    Indexer(sample_index).sync()
    assert find(sample_index, "DeepSeek", indexed_to=moment)[1]["total"] == 5
    assert find(sample_index, "DeepSeek", indexed_from=moment)[0] == {"later.md"}
    assert find(sample_index, "DeepSeek")[1]["total"] == 6


class _Segment:
    """A segment as the merge policy sees it: only its document count."""

    def __init__(self, documents: int):
        self.documents = documents

    def doc_count_all(self) -> int:
        return self.documents


@pytest.mark.parametrize("base", [[300], [5_000, 5_000, 5_000, 5_000]])
def test_merge_policy_keeps_segments_few_and_rewrites_each_document_a_few_times(base):
    """5,000 one-report commits, merged after every MERGE_AFTER_COMMITS (the watcher under a steady trickle): the
    segment count stays bounded, a document is rewritten about once per size tier, and the big
    segments a build or the first sync wrote are seldom (the 300-report one) or never rewritten."""
    from indexer.store import SMALL_SEGMENT_DOCS, TIER_MERGE_FACTOR, small_segments, _tier
    from indexer.watcher import MERGE_AFTER_COMMITS

    segments = [_Segment(n) for n in base]
    originals = set(segments)
    rewritten = merges = touched_base = most = 0
    commits = 5_000
    for commit in range(1, commits + 1):
        segments.append(_Segment(1))
        if commit % MERGE_AFTER_COMMITS == 0:
            chosen = small_segments(segments)
            assert chosen, "a burst of new one-report segments always merges"
            merges += 1
            touched_base += bool(originals & set(chosen))
            assert all(s.doc_count_all() < SMALL_SEGMENT_DOCS for s in chosen)
            rewritten += sum(s.doc_count_all() for s in chosen)
            segments = [s for s in segments if s not in chosen] + [_Segment(sum(s.doc_count_all() for s in chosen))]
        most = max(most, len(segments))
    small_tiers = _tier(SMALL_SEGMENT_DOCS - 1)
    assert most <= len(base) + 1 + (small_tiers - 1) * (TIER_MERGE_FACTOR - 1) + MERGE_AFTER_COMMITS, most
    assert rewritten / commits <= small_tiers + 2, rewritten / commits
    assert touched_base <= merges // 50, (touched_base, merges)
    assert sum(s.doc_count_all() for s in segments) == sum(base) + commits


def test_a_phrase_across_a_title_line_the_pdf_broke_is_found(sample_index):
    """The 浦银国际 sample's title wraps inside 成本 (模型成 / 本大幅下降): the phrase finds it."""
    paths, _ = find(sample_index, '"模型成本大幅下降"')
    assert paths == {"DeepSeek之AI大模型解读：模型成本大幅下降，国产化全方位加速.txt"}


def write_config(settings, folder):
    path = folder / "config.toml"
    path.write_text(f'[archive]\nroot = "{settings.archive.root}"\n[index]\ndir = "{settings.index.dir}"\n', encoding="utf-8")
    return path


def test_an_emptied_archive_folder_does_not_wipe_the_index(settings_factory, tmp_path):
    root = tmp_path / "share"
    root.mkdir()
    for n in range(30):
        (root / f"周报{n:02d}.md").write_text(f"# 周报{n:02d}\n\n保留标记{n:02d}，行业景气回升。\n", encoding="utf-8")
    settings = settings_factory(root=root)
    Indexer(settings).build()
    hidden = tmp_path / "unmounted"
    root.rename(hidden)
    root.mkdir()                                   # the mount point, empty: the share is not mounted
    (root / "新报告.md").write_text("# 新报告\n\n挂载之前写入的新报告。\n", encoding="utf-8")
    result = Indexer(settings).sync()
    assert [(r.path, r.status) for r in result.receipts] == [("新报告.md", "indexed")]
    assert result.documents == 31
    held = status_report(settings)["held"]
    assert held["missing"] == 30 and held["documents"] == 30
    assert cli_main(["--config", str(write_config(settings, tmp_path)), "status"]) == 0
    for path in hidden.iterdir():                  # the share is mounted again
        path.rename(root / path.name)
    result = Indexer(settings).sync()
    assert result.documents == 31 and status_report(settings)["held"] is None
    # an operator who means it deletes them
    for path in list(root.iterdir())[:25]:
        path.unlink()
    assert Indexer(settings).sync().documents == 31
    assert cli_main(["--config", str(write_config(settings, tmp_path)), "sync", "--allow-deletions"]) == 0
    assert status_report(settings)["documents"] == 6 and status_report(settings)["held"] is None


@pytest.mark.parametrize("contents, workers, part_docs, parts", [
    (10, 2, 100, 2),        # fewer contents than a part: one part per worker
    (500, 2, 100, 6),       # 5 full parts would leave one worker alone in the last round: 6 smaller ones
    (400, 2, 100, 4),
    (401, 2, 100, 6),
    (7, 3, 100, 3),
])
def test_a_build_deals_its_contents_into_a_multiple_of_the_workers(contents, workers, part_docs, parts):
    from indexer.indexing import deal_parts

    groups = {f"h{i:04d}": {f"{i:04d}.md": (1000 + i % 17, 0.0), f"copy{i:04d}.md": (1000 + i % 17, 0.0)}
              for i in range(contents)}
    dealt = deal_parts(groups, workers, part_docs)
    assert len(dealt) == parts
    assert sorted(key for part in dealt for key in part) == sorted(groups)      # each content once
    assert max(map(len, dealt)) <= part_docs and max(map(len, dealt)) - min(map(len, dealt)) <= 1


@pytest.mark.slow
def test_a_parallel_rebuild_keeps_each_contents_id_and_arrival(tmp_path, settings_factory):
    """Each build worker gets the past (id, added_at) of the contents it writes: a renamed file keeps
    the id its content had, every other content its own."""
    from indexer.indexing import POOL_THRESHOLD

    root = tmp_path / "many"
    root.mkdir()
    for i in range(POOL_THRESHOLD + 6):
        (root / f"报告{i:03d}.txt").write_text(f"唯一标记{i:03d}号。\n钠离子电池产业化提速。\n", encoding="utf-8")
    settings = settings_factory(root=root, index={"workers": 2})
    Indexer(settings).build()

    def known():
        answer = find(settings, "钠离子电池", size=100)[1]
        assert answer["total"] == POOL_THRESHOLD + 6
        return {hit["path"]: (hit["id"], hit["added_at"]) for hit in answer["hits"]}

    before = known()
    (root / "报告005.txt").rename(root / "改名的报告.txt")
    Indexer(settings).build()
    after = known()
    assert after.pop("改名的报告.txt") == before.pop("报告005.txt")
    assert after == before


def test_a_long_lived_indexer_keeps_its_paths_in_step_with_the_index(sample_index):
    """The watcher's Indexer looks up a drop's paths in a map it keeps between syncs (not rebuilt from
    every document per commit): after each kind of change it must hold what the index holds."""
    indexer = Indexer(sample_index)
    root = sample_index.archive.root
    a, b, c = root / "a.md", root / "b.md", root / "c.md"

    def step(paths, expected):
        result = indexer.sync(paths, merge=False)
        assert sorted((r.path, r.status) for r in result.receipts) == expected
        assert indexer.known_paths() == Indexer(sample_index).known_paths()     # read from the index

    a.write_text(NEW_REPORT, encoding="utf-8")
    step(["a.md"], [("a.md", "indexed")])
    step(["a.md"], [])                                          # unchanged: not read again
    b.write_text(NEW_REPORT, encoding="utf-8")
    step(["b.md"], [("b.md", "duplicate")])
    a.rename(c)                                                 # a name of a duplicate moves
    step(["a.md", "c.md"], [("a.md", "deleted"), ("c.md", "duplicate")])
    b.write_text(NEW_REPORT.replace("硫化物", "氧化物"), encoding="utf-8")
    os.utime(b, (time.time() + 5, time.time() + 5))
    step(["b.md"], [("b.md", "indexed")])                       # rewritten: a content of its own
    c.write_bytes(b"")
    os.utime(c, (time.time() + 10, time.time() + 10))
    step(["c.md"], [("c.md", "failed")])
    step(["c.md"], [])                                          # a known failure is not retried
    b.unlink()
    c.unlink()
    step(["b.md", "c.md"], [("b.md", "deleted")])
    a.write_text(NEW_REPORT, encoding="utf-8")                  # a content that left comes back
    step(["a.md"], [("a.md", "indexed")])
    assert not indexer.sync(sorted(indexer.known_paths()), merge=False).receipts
    assert find(sample_index, "硫化物电解质")[0] == {"a.md"} and find(sample_index, "氧化物")[0] == set()


def test_changed_paths_names_what_a_rescan_must_look_at(sample_index):
    """The watcher's lister compares its listing with the index (Indexer.changed_paths) so that the
    worker syncs only the differences: rewritten, new, deleted, and failed files; nothing else."""
    from indexer.documents import list_archive

    indexer = Indexer(sample_index)
    root = sample_index.archive.root
    assert indexer.changed_paths({s.relpath: s for s in list_archive(root)}) is None    # nothing read yet
    (root / "坏.pdf").write_bytes(b"%PDF-1.4 truncated")
    indexer.sync()
    listing = {s.relpath: s for s in list_archive(root)}
    assert indexer.changed_paths(listing) == {"坏.pdf"}        # a failed file is looked at again (cheaply)
    names = sorted(p for p in listing if p != "坏.pdf")
    touched = root / names[0]
    os.utime(touched, (time.time() + 5, time.time() + 5))
    (root / names[1]).unlink()
    (root / "新.md").write_text(NEW_REPORT, encoding="utf-8")
    changed = indexer.changed_paths({s.relpath: s for s in list_archive(root)})
    assert changed == {"坏.pdf", names[0], names[1], "新.md"}
    result = indexer.sync(sorted(changed), sources={s.relpath: s for s in list_archive(root)})
    assert {r.path: r.status for r in result.receipts if r.status != "unchanged"} == \
        {names[1]: "deleted", "新.md": "indexed"}
    assert indexer.changed_paths({s.relpath: s for s in list_archive(root)}) == {"坏.pdf"}     # all taken in


def test_whoosh_indexes_no_term_and_reports_are_found_by_the_column_files(sample_index):
    """Whoosh keeps no terms (indexer.schema: they were a fifth of the index). A sync's deletions by
    content hash and the document view's look-up by id read the column files instead: a report in
    any segment is found, a deleted one is not, and a content gone from two names is deleted once."""
    import hashlib

    from indexer.store import writing

    indexer = Indexer(sample_index)
    root = sample_index.archive.root
    texts = {f"d{i}.md": f"# 钠电池快讯{i}\n\n第{i}号快讯：装机量提升{i}。\n" for i in range(4)}
    for name, text in texts.items():
        (root / name).write_text(text, encoding="utf-8")
        indexer.sync([name], merge=False)        # a segment each
    (root / "e-copy.md").write_text(texts["d2.md"], encoding="utf-8")
    indexer.sync(["e-copy.md"], merge=False)

    ix = IndexStore(sample_index).open()
    try:
        with ix.reader() as reader:
            assert len(reader.leaf_readers()) >= 5
            assert list(reader.all_terms()) == []
    finally:
        ix.close()
    searcher = ArchiveSearcher(sample_index)
    for name in texts:
        assert searcher.document(report_id(name))["path"] == name
    assert searcher.document("0123456789ab") is None and searcher.document(report_id("d1.md")[:6]) is None

    hash_of = {name: hashlib.sha256(text.encode("utf-8")).hexdigest() for name, text in texts.items()}
    ix = IndexStore(sample_index).open()
    try:
        with writing(ix, merge=False) as writer:
            assert writer.delete_contents([hash_of["d1.md"], hash_of["d3.md"], "f" * 64]) == 2
            assert writer.delete_contents([hash_of["d1.md"]]) == 0         # already deleted
    finally:
        ix.close()
    searcher = ArchiveSearcher(sample_index)
    assert searcher.document(report_id("d1.md")) is None and searcher.document(report_id("d3.md")) is None
    assert searcher.document(report_id("d0.md"))["path"] == "d0.md"
    assert status_report(sample_index)["documents"] == 5 + 2

    (root / "d2.md").unlink()
    (root / "e-copy.md").unlink()
    receipts = {(r.path, r.status) for r in Indexer(sample_index).sync().receipts}
    # d1 and d3, deleted above behind the indexer's back, are indexed again from their files.
    assert receipts == {("d2.md", "deleted"), ("e-copy.md", "deleted"), ("d1.md", "indexed"), ("d3.md", "indexed")}
    assert find(sample_index, "装机量提升2")[1]["total"] == 0
    assert status_report(sample_index)["documents"] == 5 + 3
