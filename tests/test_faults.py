"""Faults: a writer killed mid-commit or mid-build, a damaged index; nothing live is lost."""

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import PROJECT_ROOT
from indexer.cli import status_report
from indexer.errors import IndexUnavailable
from indexer.indexing import Indexer
from indexer.search import ArchiveSearcher, parse_request
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


@pytest.mark.parametrize("damage", ["remove_toc", "truncate_segments", "remove_postings", "truncate_postings",
                                    "remove_live"])
def test_damaged_index_gives_a_clear_message_everywhere_and_build_recovers(sample_index, damage):
    store = IndexStore(sample_index)
    live = store.live_build()
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
    else:
        store.live.unlink()
    report = status_report(sample_index)
    assert report["ok"] is False and "build" in report["error"]
    client = create_app(sample_index).test_client()
    answer = client.get("/api/search", query_string={"q": "模型"})
    assert answer.status_code == 503 and answer.json["ok"] is False and "build" in answer.json["error"]
    assert client.get("/healthz").status_code == 503
    page = client.get("/search", query_string={"q": "模型"})
    assert page.status_code == 503 and "Traceback" not in page.get_data(as_text=True)
    with pytest.raises(IndexUnavailable):
        ArchiveSearcher(sample_index).search(parse_request({"q": "模型"}, sample_index))
    assert Indexer(sample_index).build().documents == 5
    assert total(sample_index, "DeepSeek") == 5
    assert json.loads(json.dumps(status_report(sample_index)))["ok"] is True
