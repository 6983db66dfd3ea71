"""Query feeds (/search.atom), exports (/search.csv) and similar reports: other shapes of what the index knows."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta

import feedparser
import pytest

from indexer.indexing import Indexer

from conftest import make_settings


def parse_feed(client, **params):
    answer = client.get("/search.atom", query_string=params)
    assert answer.status_code == 200 and answer.mimetype == "application/atom+xml"
    feed = feedparser.parse(answer.data)
    assert not feed.bozo, feed.bozo_exception          # well-formed XML
    assert feed.version == "atom10"
    return feed


def test_a_query_feed_lists_what_the_query_finds_as_valid_atom(sample_client):
    feed = parse_feed(sample_client, q="DeepSeek", broker="开源证券")
    answer = sample_client.get("/api/search", query_string={"q": "DeepSeek", "broker": "开源证券"}).json
    assert len(feed.entries) == answer["total"] == 2
    assert "DeepSeek" in feed.feed.title and "开源证券" in feed.feed.title
    assert feed.feed.id and feed.feed.updated_parsed
    links = {link.rel: link.href for link in feed.feed.links}
    assert links["self"].startswith("http://localhost/search.atom?") and "/search?" in links["alternate"]
    for entry in feed.entries:
        assert entry.id == entry.link and re.fullmatch(r"http://localhost/documents/[0-9a-f]{12}", entry.link)
        assert entry.author == "开源证券" and entry.updated_parsed
        assert entry.summary_detail.type == "text/html" and "DeepSeek" in entry.summary
        assert sample_client.get(entry.link.removeprefix("http://localhost")).status_code == 200


def test_feed_entries_are_newest_in_the_archive_first_with_when_they_entered(tmp_path):
    settings = make_settings(tmp_path)
    archive = tmp_path / "archive"
    (archive / "old.txt").write_text("旧报告\n固态电池产业化进展缓慢。" * 3, encoding="utf-8")
    indexer = Indexer(settings)
    indexer.build()
    (archive / "new.txt").write_text("新报告\n固态电池产业化提速。" * 3, encoding="utf-8")
    indexer.sync()
    from server import create_app

    client = create_app(settings).test_client()
    feed = parse_feed(client, q="固态电池")
    assert [entry.title for entry in feed.entries] == ["new", "old"]     # titles from the file names
    document = client.get(feed.entries[0].link.removeprefix("http://localhost").replace("/documents/", "/api/documents/")).json
    assert feed.entries[0].updated == document["added_at"]
    # Times are in the archive's zone (Asia/Shanghai by default), with the offset.
    assert document["added_at"].endswith("+08:00")
    assert abs(datetime.fromisoformat(document["added_at"]) - datetime.now().astimezone()) < timedelta(minutes=5)


def test_an_empty_query_feeds_the_whole_archive(sample_client):
    assert len(parse_feed(sample_client).entries) == 5


def test_a_bad_feed_request_is_a_400(sample_client):
    answer = sample_client.get("/search.atom", query_string={"q": "模型", "from": "2025-02-30"})
    assert answer.status_code == 400 and "日期格式不对" in answer.data.decode()


def read_csv(answer) -> list[dict]:
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    text = answer.data.decode("utf-8")
    assert text.startswith("\ufeff")        # the BOM that makes Excel read UTF-8
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_results_export_as_csv_in_the_requested_order(sample_client):
    params = {"q": "DeepSeek", "sort": "date"}
    rows = read_csv(sample_client.get("/search.csv", query_string=params))
    answer = sample_client.get("/api/search", query_string=params).json
    assert [row["标题"] for row in rows] == [hit["title"] for hit in answer["hits"]]
    assert list(rows[0]) == ["标题", "日期", "券商", "行业", "评级", "入库时间", "文件", "链接"]
    assert rows[0]["链接"].startswith("http://localhost/documents/")


def test_an_export_stops_at_the_configured_rows(built_samples):
    from dataclasses import replace

    from server import create_app

    settings = replace(built_samples, search=type(built_samples.search)({**built_samples.search._values, "export_rows": 2}))
    answer = create_app(settings).test_client().get("/search.csv", query_string={"q": "DeepSeek"})
    assert len(read_csv(answer)) == 2 and answer.headers["X-Total-Count"] == "5"


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://evil\")", "+cmd", "@SUM(A1)", "-2+3"])
def test_a_csv_cell_never_runs_as_a_formula(tmp_path, name):
    settings = make_settings(tmp_path)
    (tmp_path / "archive" / "r.md").write_text(f"---\ntitle: '{name}'\n---\n算力需求持续增长。\n", encoding="utf-8")
    Indexer(settings).build()
    from server import create_app

    rows = read_csv(create_app(settings).test_client().get("/search.csv", query_string={"q": "算力"}))
    assert rows[0]["标题"] == "'" + name


def test_results_page_links_its_feed_and_export(sample_client):
    page = sample_client.get("/search", query_string={"q": "DeepSeek", "broker": "开源证券", "page": "1"}).data.decode()
    feed = re.search(r'<link rel="alternate" type="application/atom\+xml" title="[^"]*" href="([^"]+)">', page).group(1)
    assert feed.replace("&amp;", "&") == "/search.atom?q=DeepSeek&broker=%E5%BC%80%E6%BA%90%E8%AF%81%E5%88%B8"
    assert 'class="quiet feed-link"' in page and 'class="quiet csv-link"' in page


def test_a_report_lists_the_reports_most_like_it_and_why(tmp_path):
    settings = make_settings(tmp_path)
    archive = tmp_path / "archive"
    sodium = "钠离子电池产业化提速，层状氧化物正极与硬碳负极的成本优势显现，{}环节的龙头受益。"
    (archive / "a.txt").write_text("钠电池专题\n" + sodium.format("正极材料") * 4, encoding="utf-8")
    (archive / "b.txt").write_text("钠电池跟踪\n" + sodium.format("负极材料") * 3, encoding="utf-8")
    (archive / "c.txt").write_text("白酒点评\n" + "白酒渠道库存去化，高端白酒批价企稳，次高端白酒仍承压。" * 4, encoding="utf-8")
    (archive / "d.txt").write_text("白酒周报\n" + "高端白酒批价企稳，渠道库存去化顺利，消费场景修复。" * 4, encoding="utf-8")
    Indexer(settings).build()
    from server import create_app

    client = create_app(settings).test_client()
    ids = {hit["path"]: hit["id"] for hit in client.get("/api/search", query_string={"q": "电池 OR 白酒", "size": 10}).json["hits"]}
    similar = client.get(f"/api/documents/{ids['a.txt']}").json["similar"]
    assert similar[0]["id"] == ids["b.txt"]
    assert ids["a.txt"] not in {other["id"] for other in similar}
    assert set(similar[0]["words"]) & {"钠离子", "层状", "氧化物", "硬碳", "负极", "正极"}
    assert all(other["id"] not in (ids["c.txt"], ids["d.txt"]) for other in similar)
    page = client.get(f"/documents/{ids['c.txt']}").data.decode()
    assert "相似报告" in page and f'/documents/{ids["d.txt"]}' in page and "共同词：" in page
