"""The HTML pages through Flask's test client: search, results, document view, raw files, status, safety."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from conftest import DONGGUAN, KAIYUAN as R1, WEEKLY, layout_pdf, make_settings
from indexer.indexing import Indexer
from indexer.normalize import fold
from server import create_app

HOSTILE_TEXT = ('研报标题<script>alert(1)</script>\n\n恶意内容<img src=x onerror="window.__xss=1">测试正文。'
                '<a href="javascript:alert(1)">链接</a> <b onmouseover="alert(1)">粗体</b>\n')
HOSTILE_MD = ('---\ntitle: "<script>alert(1)</script>标题"\nbroker: "<img src=x onerror=alert(1)>证券"\n---\n\n'
              '# 恶意<script>alert(1)</script>报告\n\n正文<img src=x onerror="window.__xss=1">测试。\n\n'
              '[点我](javascript:alert(1)) <iframe src="https://example.com"></iframe>\n\n'
              '<div onclick="alert(1)" style="color:red">样式</div>\n')


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, and the page's visible text."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag: str, **attrs) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    def with_class(self, tag: str, css: str) -> list[dict]:
        return [a for t, a in self.tags if t == tag and css in (a.get("class") or "").split()]


@pytest.fixture
def client(sample_client):
    return sample_client


def get_page(client, url, status=200, **params):
    answer = client.get(url, query_string=params or None)
    assert answer.status_code == status, answer.data[:500].decode("utf-8", "replace")
    assert answer.mimetype == "text/html"
    page = answer.data.decode("utf-8")
    assert "Traceback" not in page
    return page


def report_ids(client) -> dict[str, str]:
    hits = client.get("/api/search", query_string={"q": "DeepSeek", "size": 10}).json["hits"]
    return {hit["path"]: hit["id"] for hit in hits}


def result_count(page: str) -> int:
    return int(re.search(r"共 <strong>(\d+)</strong> 条结果", page).group(1))


def hit_links(page: str) -> list[str]:
    return re.findall(r'<h2 class="hit-title"><a href="([^"]+)">', page)


# -- search page ----------------------------------------------------------------------------

def test_home_page_has_the_search_box_help_and_newest_reports(client):
    page = get_page(client, "/")
    elements = Elements(page)
    assert elements.find("form", action="/search")
    assert elements.find("input", name="q")
    assert elements.find("link", rel="search", type="application/opensearchdescription+xml", href="/opensearch.xml")
    assert "检索语法" in page and "5 篇研报" in page
    assert len(hit_links(page)) == 5
    assert "开源证券" in page


@pytest.mark.parametrize("url", ["/search", "/search?q=", "/search?q=%20%20"])
def test_search_without_a_query_shows_the_start_page(client, url):
    page = get_page(client, url)
    assert "检索语法" in page


@pytest.mark.parametrize("q, count, marked", [
    ("模型", 5, "<mark>模型</mark>"),
    ('"横空出世"', 2, "<mark>横空出世</mark>"),
    ("DeepSeek", 5, "<mark>DeepSeek</mark>"),
    ("智能车", 3, "<mark>智能</mark>"),
])
def test_results_show_count_time_snippets_and_keep_the_query(client, q, count, marked):
    page = get_page(client, "/search", q=q)
    elements = Elements(page)
    assert result_count(page) == count
    assert re.search(r"用时 (&lt;1|\d+) 毫秒", page)
    assert marked in page
    assert elements.find("input", name="q", value=q)
    assert len(hit_links(page)) == count
    assert all(f"q={quote(q, safe='')}" in link or "q=" in link for link in hit_links(page))


def test_results_show_title_broker_date_and_rating(client):
    page = get_page(client, "/search", q="智能车产业")
    assert "DeepSeek-R1横空出世，智能车产业升级加速" in page
    assert '<span class="tag tag-broker">开源证券</span>' in page
    assert '<time datetime="2025-02-04">2025-02-04</time>' in page
    assert '<span class="tag tag-rating">看好</span>' in page


def test_segmentation_is_shown_in_one_quiet_line(client):
    page = get_page(client, "/search", q="智能车")
    assert re.search(r'<p class="understood">\s*分词：<span class="seg">智能 / 车</span>', page)


def test_clicking_a_broker_facet_filters_and_changes_the_count(client):
    page = get_page(client, "/search", q="DeepSeek")
    assert result_count(page) == 5
    href = facet_link(page, "开源证券", 2)
    assert parse_qs(urlsplit(href).query) == {"q": ["DeepSeek"], "broker": ["开源证券"]}
    filtered = get_page(client, href)
    assert result_count(filtered) == 2
    assert '<li class="active">' in filtered and 'aria-checked="true"' in filtered
    assert "去掉这个筛选" in filtered
    # A second broker is added to the first (no 清除 needed), and clicking a selected one removes it.
    both = facet_link(filtered, "东莞证券", 1)
    assert parse_qs(urlsplit(both).query) == {"q": ["DeepSeek"], "broker": ["开源证券", "东莞证券"]}
    both_page = get_page(client, both)
    assert result_count(both_page) == 3 and both_page.count('<li class="active">') == 2
    assert parse_qs(urlsplit(facet_link(both_page, "开源证券", 2)).query) == {"q": ["DeepSeek"], "broker": ["东莞证券"]}


def facet_link(page: str, value: str, count: int) -> str:
    link = re.search(r'<a href="([^"]+)" role="checkbox"[^>]*><span class="facet-value">' + value
                     + f'</span><span class="count">{count}</span>', page)
    assert link, value
    return link.group(1).replace("&amp;", "&")


def test_every_facet_value_is_reachable(tmp_path):
    settings = make_settings(tmp_path)
    archive = tmp_path / "archive"
    brokers = [f"测试券商{i:02d}" for i in range(15)]
    for i, broker in enumerate(brokers):
        (archive / f"r{i}.md").write_text(f"---\ntitle: 报告{i}\nbroker: {broker}\n---\n算力需求持续增长。\n",
                                          encoding="utf-8")
    Indexer(settings).build()
    page = get_page(create_app(settings).test_client(), "/search", q="算力")
    more = re.search(r'<details class="facet-more">(.*?)</details>', page, re.S)
    assert more and "更多（3 项）" in more.group(1)
    listed = re.findall(r'<span class="facet-value">(测试券商\d+)</span>', page)
    assert sorted(listed) == brokers


def test_date_range_form_keeps_the_other_state(client):
    page = get_page(client, "/search", q="DeepSeek", broker="开源证券", sort="date")
    form = re.search(r'<form class="daterange".*?</form>', page, re.S).group(0)
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))
    assert hidden == {"q": "DeepSeek", "broker": "开源证券", "sort": "date"}
    ranged = get_page(client, "/search", q="DeepSeek", **{"from": "2025-02-05", "to": "2025-12-31"})
    assert result_count(ranged) == 1
    assert 'value="2025-02-05"' in ranged


def test_sort_switches_between_relevance_and_date(client):
    page = get_page(client, "/search", q="DeepSeek")
    assert '<strong aria-current="true">相关度</strong>' in page
    by_date = get_page(client, "/search", q="DeepSeek", sort="date")
    assert '<strong aria-current="true">日期</strong>' in by_date
    dates = re.findall(r'<time datetime="([^"]+)">', by_date)
    assert dates == sorted(dates, reverse=True) and dates


def test_pagination_moves_through_the_results(client):
    first = get_page(client, "/search", q="模型", size=2)
    assert re.search(r'<strong aria-current="page">1</strong>', first)
    next_link = re.search(r'<a rel="next" href="([^"]+)">', first).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(next_link).query) == {"q": ["模型"], "size": ["2"], "page": ["2"]}
    second = get_page(client, next_link)
    assert re.search(r'<strong aria-current="page">2</strong>', second)
    assert set(hit_links(first)).isdisjoint(hit_links(second))
    last = get_page(client, "/search", q="模型", size=2, page=3)
    assert len(hit_links(last)) == 1 and '<span class="disabled">下一页 ›</span>' in last


@pytest.mark.parametrize("params, message", [
    ({"q": "模型", "page": "9"}, "第 9 页超出了范围"),
    ({"q": "模型", "size": "101"}, "每页条数须在 1 到 100 之间"),
    ({"q": "模型", "size": "x"}, "须为整数"),
    ({"q": "模型", "from": "2025-02-30"}, "日期格式不对"),
    ({"q": "模型", "from": "2025-03-01", "to": "2025-01-01"}, "晚于结束日期"),
    ({"q": "模型", "sort": "hot"}, "排序方式"),
    ({"q": "模" * 501}, "查询太长"),
])
def test_caller_errors_are_friendly_400_pages(client, params, message):
    page = get_page(client, "/search", 400, **params)
    assert message in page
    assert "搜索条件有误" in page and "检索语法" in page
    assert Elements(page).find("input", name="q", value=params["q"])
    # The page words the message's code in Chinese: none of the API's English shows.
    api_error = client.get("/api/search", query_string=params).json
    assert api_error["error"] not in page and " must " not in page and "beyond" not in page


def test_an_error_page_links_away_from_the_failing_url(client):
    past_end = get_page(client, "/search", 400, q="模型", broker="开源证券", page="9")
    first = re.search(r'<a href="([^"]+)">回到第一页</a>', past_end).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(first).query) == {"q": ["模型"], "broker": ["开源证券"]}
    assert get_page(client, first).count('class="hit"') >= 1
    # A bad date is not fixed by going to page 1: no link back to the same failing URL.
    bad_date = get_page(client, "/search", 400, q="模型", **{"from": "2025-02-30"})
    assert "回到第一页" not in bad_date and "重新开始" in bad_date


def test_query_notes_are_worded_in_chinese(client):
    page = get_page(client, "/search", q='模型 "未闭合 OR')
    assert "忽略了一个不成对的引号" in page and "忽略了末尾的 OR" in page
    assert "was ignored" not in page
    notes = client.get("/api/search", query_string={"q": '模型 "未闭合 OR'}).json["parsed"]["notes"]
    assert [note["code"] for note in notes] == ["unmatched_quote", "or_at_end"]
    assert notes[0]["text"] == "an unmatched quote was ignored" and notes[0]["params"] == {}


def test_not_found_pages_are_chinese(client):
    page = get_page(client, "/documents/0000deadbeef", 404)
    assert "没有这个页面或报告" in page and "not found" not in page.lower()


def test_no_results_suggest_what_to_try(client):
    page = get_page(client, "/search", q='"完全不存在的短语"', broker="开源证券")
    assert result_count(page) == 0
    assert "没有找到" in page and "去掉所有筛选条件" in page and "去掉引号" in page


def test_opensearch_description(client):
    answer = client.get("/opensearch.xml")
    assert answer.status_code == 200
    assert answer.mimetype == "application/opensearchdescription+xml"
    body = answer.data.decode()
    assert "<ShortName>研报档案</ShortName>" in body
    assert 'template="http://localhost/search?q={searchTerms}"' in body
    assert answer.headers["Cache-Control"] == "no-store"    # the Host it follows is the asker's own


def test_opensearch_description_uses_the_public_url_not_the_host_header(sample_index, tmp_path):
    settings = make_settings(tmp_path, sample_index.archive.root, server={"public_url": "https://reports.example.com/archive/"})
    answer = create_app(settings).test_client().get("/opensearch.xml", headers={"Host": "evil.example"})
    body = answer.data.decode()
    assert 'template="https://reports.example.com/archive/search?q={searchTerms}"' in body
    assert 'template="https://reports.example.com/archive/api/search?q={searchTerms}"' in body
    assert "evil.example" not in body and "Cache-Control" not in answer.headers


# -- document view --------------------------------------------------------------------------

def test_document_page_shows_metadata_text_and_download_link(client):
    report_id = report_ids(client)[DONGGUAN]
    page = get_page(client, f"/documents/{report_id}")
    elements = Elements(page)
    assert "<h1>Deepseek撼动全球AI产业，助力AI应用、AI端侧落地加速</h1>" in page
    for shown in ("东莞证券", "2025-02-04", "超配", "计算机", "罗炜斌", "S0340521020001", DONGGUAN, "入库时间"):
        assert shown in page
    assert elements.find("a", href=f"/documents/{report_id}/raw")
    assert elements.with_class("details", "boilerplate")
    assert "<mark" not in page and "matchbar" not in page


def test_boilerplate_is_collapsed_after_the_body(client):
    report_id = report_ids(client)[DONGGUAN]
    page = get_page(client, f"/documents/{report_id}")
    details = page.index('<details class="boilerplate"')
    assert page.index("东莞证券研究报告评级体系") > details
    assert page.index("<h1>") < details


def test_arriving_from_a_search_marks_the_matches_with_ids(client):
    report_id = report_ids(client)[R1]
    page = get_page(client, f"/documents/{report_id}", q="横空出世 智能车")
    marks = re.findall(r'<mark class="match" id="m(\d+)">([^<]+)</mark>', page)
    assert len(marks) >= 3
    assert [int(n) for n, _ in marks] == list(range(1, len(marks) + 1))
    assert {fold(text) for _, text in marks} <= {"横空出世", "智能", "车", "智能车"}
    assert f"共 <strong>{len(marks)}</strong> 处匹配" in page
    elements = Elements(page)
    assert elements.find("button", id="next-mark") and elements.find("button", id="prev-mark")
    assert elements.find("a", href="#m1")
    back = elements.find("a", href="/search?q=%E6%A8%AA%E7%A9%BA%E5%87%BA%E4%B8%96+%E6%99%BA%E8%83%BD%E8%BD%A6")
    assert back


def test_latin_matches_are_whole_words_and_case_insensitive(client):
    report_id = report_ids(client)[DONGGUAN]
    page = get_page(client, f"/documents/{report_id}", q="deepseek")
    marked = re.findall(r'<mark class="match" id="m\d+">([^<]+)</mark>', page)
    assert marked and {m.lower() for m in marked} == {"deepseek"}


def test_markdown_report_is_rendered_from_its_markdown(client):
    report_id = report_ids(client)[WEEKLY]
    page = get_page(client, f"/documents/{report_id}", q="DeepSeek")
    body = re.search(r'<div class="doc-body markdown">(.*?)</div>', page, re.S).group(1)
    assert "<p>本周市场表现及要闻" in body
    assert "sidebar" not in body and "thumbnail" not in body       # the front matter is not text
    assert "hibor" not in body                                    # portal watermark links are dropped
    # The title's match is the page's first; the body's follow it.
    assert re.search(r'<h1>[^<]*<mark class="match" id="m1">DeepSeek</mark>', page)
    assert '<mark class="match" id="m2">DeepSeek</mark>' in body


def test_unknown_document_is_a_friendly_404(client):
    page = get_page(client, "/documents/000000000000", 404)
    assert "找不到页面" in page and "回到首页" in page


@pytest.mark.parametrize("url", ["/documents/..%2F..%2Fetc%2Fpasswd/raw", "/documents/../../etc/passwd/raw",
                                 "/documents/000000000000/raw", "/nowhere"])
def test_paths_never_reach_files(client, url):
    answer = client.get(url)
    assert answer.status_code == 404
    assert b"root:" not in answer.data


@pytest.mark.parametrize("path, mime", [
    (R1, "text/plain; charset=utf-8"),
    (DONGGUAN, "text/plain; charset=utf-8"),
    (WEEKLY, "text/markdown; charset=utf-8"),
])
def test_raw_serves_the_original_file_with_its_chinese_name(client, built_samples, path, mime):
    report_id = report_ids(client)[path]
    answer = client.get(f"/documents/{report_id}/raw")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == mime
    disposition = answer.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=\"")
    assert f"filename*=UTF-8''{quote(path, safe='')}" in disposition
    assert disposition.encode("latin-1")     # the header itself is plain ASCII
    assert disposition.isascii()
    assert answer.data == (Path(built_samples.archive.root) / path).read_bytes()


def test_raw_of_a_vanished_file_is_404(sample_index):
    client = create_app(sample_index).test_client()
    report_id = report_ids(client)[R1]
    (Path(sample_index.archive.root) / R1).unlink()
    assert client.get(f"/documents/{report_id}/raw").status_code == 404
    assert client.get(f"/documents/{report_id}").status_code == 200     # the index still has its text


# -- status, health, errors -----------------------------------------------------------------

def test_status_page_lists_counts_failures_and_receipts(sample_index):
    root = Path(sample_index.archive.root)
    (root / "坏文件.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    Indexer(sample_index).sync()
    page = get_page(create_app(sample_index).test_client(), "/status")
    assert re.search(r'<span class="card-num">5</span><span class="card-label">篇报告</span>', page)
    assert "坏文件.pdf" in page and "无法读取的文件" in page
    assert page.count('<span class="receipt receipt-indexed">已入库</span>') == 5
    assert '<span class="receipt receipt-failed">失败</span>' in page


def test_pages_say_the_index_is_being_built(settings_factory):
    client = create_app(settings_factory()).test_client()
    for url in ("/", "/search?q=模型", "/documents/abc"):
        page = get_page(client, url, 503)
        assert "索引正在建立中" in page
        assert '<meta http-equiv="refresh" content="5">' in page
    assert get_page(client, "/status").count("索引暂不可用") == 1


def test_unexpected_errors_are_a_friendly_500_page(built_samples, caplog):
    app = create_app(built_samples)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    page = get_page(app.test_client(), "/boom", 500)
    assert "服务器内部出错了" in page and "secret internals" not in page
    assert "RuntimeError: secret internals" in caplog.text


@pytest.mark.parametrize("url", ["/", "/search?q=模型", "/search?q=模型&page=99", "/status", "/opensearch.xml",
                                 "/documents/000000000000", "/static/style.css", "/static/app.js", "/healthz",
                                 "/nowhere"])
def test_every_answer_has_the_security_headers(client, url):
    answer = client.get(url)
    policy = answer.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'",
                      "frame-ancestors 'none'"):
        assert directive in policy
    assert "unsafe-inline" not in policy
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_use_only_local_assets_and_no_inline_script(client):
    report_id = report_ids(client)[R1]
    for url in ("/", "/search?q=模型", f"/documents/{report_id}?q=模型", "/status"):
        elements = Elements(get_page(client, url))
        scripts = elements.find("script")
        assert scripts and all(s.get("src", "").startswith("/static/") for s in scripts)
        for tag, attrs in elements.tags:
            assert not any(name.startswith("on") for name in attrs), (tag, attrs)
            assert "style" not in attrs, (tag, attrs)
            if tag in ("link", "img", "script"):
                assert not re.match(r"(https?:)?//", attrs.get("href") or attrs.get("src") or ""), attrs
    page = get_page(client, "/")
    assert page.count("<script") == 1


# -- hostile content ------------------------------------------------------------------------

@pytest.fixture
def hostile(sample_index):
    """The sample index plus a .txt and a .md report whose text carries script and event-handler markup."""
    root = Path(sample_index.archive.root)
    (root / "恶意<script>报告.txt").write_text(HOSTILE_TEXT, encoding="utf-8")
    (root / "恶意报告.md").write_text(HOSTILE_MD, encoding="utf-8")
    result = Indexer(sample_index).sync()
    assert result.count("indexed") == 2, result.receipts
    return sample_index


def assert_harmless(page: str) -> None:
    elements = Elements(page)
    assert "<script>alert" not in page
    assert "<iframe" not in page and "<img" not in page
    for tag, attrs in elements.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "style" not in attrs, (tag, attrs)
        assert not (attrs.get("href") or "").lower().startswith("javascript:"), (tag, attrs)
        if tag == "script":
            assert attrs.get("src") == "/static/app.js"


def test_hostile_reports_are_escaped_in_results(hostile):
    client = create_app(hostile).test_client()
    page = get_page(client, "/search", q="恶意")
    assert result_count(page) == 2
    assert_harmless(page)
    assert "&lt;script&gt;" in page          # the markup is shown as text


def test_hostile_reports_are_harmless_in_the_document_view(hostile):
    client = create_app(hostile).test_client()
    ids = report_ids_for(client, "恶意")
    assert len(ids) == 2
    for report_id in ids:
        page = get_page(client, f"/documents/{report_id}", q="恶意")
        assert_harmless(page)
        assert "<mark" in page
        assert client.get(f"/documents/{report_id}/raw").status_code == 200


def test_hostile_markdown_keeps_its_text_but_loses_its_markup(hostile):
    client = create_app(hostile).test_client()
    md_id = next(hit["id"] for hit in client.get("/api/search", query_string={"q": "恶意"}).json["hits"]
                 if hit["path"] == "恶意报告.md")
    page = get_page(client, f"/documents/{md_id}")
    assert "恶意" in page and "样式" in page and "点我" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;标题" in page       # front-matter title, escaped
    assert_harmless(page)


def test_hostile_query_is_escaped_everywhere(client):
    q = '"><script>alert(1)</script><img src=x onerror=alert(1)>'
    for url in ("/search", "/documents/" + report_ids(client)[R1]):
        page = get_page(client, url, q=q)
        assert_harmless(page)
        assert "&lt;script&gt;" in page


def report_ids_for(client, q: str) -> list[str]:
    return [hit["id"] for hit in client.get("/api/search", query_string={"q": q}).json["hits"]]


# -- other kinds of report -----------------------------------------------------------------

def test_pdf_report_is_shown_as_paragraphs_and_served_as_pdf(sample_index, cjk_font):
    root = Path(sample_index.archive.root)
    lines = ["储能行业周报：固态电池产业化提速。", "本周固态电池板块上涨。", "风险提示：技术进展不及预期。"]
    data = layout_pdf(cjk_font, [[(50, 92 + 20 * row, 12, line) for row, line in enumerate(lines)]])
    (root / "储能周报.pdf").write_bytes(data)
    Indexer(sample_index).sync()
    client = create_app(sample_index).test_client()
    report_id = report_ids_for(client, "固态电池")[0]
    page = get_page(client, f"/documents/{report_id}", q="固态电池")
    assert re.search(r'<p[^>]*>本周<mark class="match" id="m\d+">固态电池</mark>板块上涨。</p>', page)
    raw = client.get(f"/documents/{report_id}/raw")
    assert raw.headers["Content-Type"] == "application/pdf"
    assert raw.headers["Content-Disposition"].endswith("filename*=UTF-8''" + quote("储能周报.pdf", safe=""))
    assert raw.data == data


def test_gb18030_report_is_served_with_its_charset(sample_index):
    root = Path(sample_index.archive.root)
    text = "国标编码的研报：光伏组件价格企稳，行业出清加速。\n" * 20
    (root / "光伏周报.txt").write_bytes(text.encode("gb18030"))
    Indexer(sample_index).sync()
    client = create_app(sample_index).test_client()
    report_id = report_ids_for(client, "光伏组件")[0]
    raw = client.get(f"/documents/{report_id}/raw")
    assert raw.headers["Content-Type"] == "text/plain; charset=gb18030"
    assert raw.data.decode("gb18030") == text
    assert "光伏组件价格企稳" in get_page(client, f"/documents/{report_id}")


def test_empty_archive_start_page_says_how_to_add_reports(settings_factory):
    settings = settings_factory()
    Indexer(settings).build()
    page = get_page(create_app(settings).test_client(), "/")
    assert "档案还是空的" in page


def test_markdown_boilerplate_is_collapsed(sample_index):
    root = Path(sample_index.archive.root)
    (root / "算力点评.md").write_text(
        "# 算力点评\n\n国产算力需求旺盛，**智算中心**建设提速。\n\n## 投资建议\n\n关注算力基础设施。\n\n"
        "## 免责声明\n\n本报告仅供本公司客户使用，不构成投资建议。\n\n## 评级说明\n\n买入：预期涨幅超过 15%。\n",
        encoding="utf-8")
    Indexer(sample_index).sync()
    client = create_app(sample_index).test_client()
    report_id = report_ids_for(client, "智算中心")[0]
    page = get_page(client, f"/documents/{report_id}", q="算力")
    body, boilerplate = page.split('<details class="boilerplate"', 1)
    assert "<strong>智算中心</strong>" in body and "<h2>投资建议</h2>" in body
    assert "免责声明" not in body.split('<div class="doc-body markdown">', 1)[1]
    assert "<h2>免责声明</h2>" in boilerplate and "买入：预期涨幅超过 15%" in boilerplate


@pytest.mark.slow
def test_hostile_markdown_is_rendered_once_within_a_budget_and_never_breaks_the_page(sample_index):
    root = Path(sample_index.archive.root)
    (root / "方括号.md").write_text("# 方括号研报\n\n标记词甲乙。\n\n" + "[" * 20_000, encoding="utf-8")
    nested = "".join("    " * depth + "- 层\n" for depth in range(260))
    (root / "深层列表.md").write_text("# 深层列表研报\n\n标记词丙丁。\n\n" + nested, encoding="utf-8")
    result = Indexer(sample_index).sync()
    assert {r.path: r.status for r in result.receipts} == {"方括号.md": "indexed", "深层列表.md": "indexed"}
    client = create_app(sample_index).test_client()
    for q, note, kind in (("标记词甲乙", "未能在时限内排版", "timeout"), ("标记词丙丁", "嵌套过深", "recursion")):
        [report_id] = report_ids_for(client, q)
        page = get_page(client, f"/documents/{report_id}", q=q)   # 200, no traceback
        assert note in page and '<mark class="match" id="m1">' in page
        document = client.get(f"/api/documents/{report_id}").json
        assert document["html"] is None and document["render_note"] == kind


def test_the_document_view_shows_what_was_indexed_not_the_file_as_it_is_now(sample_index):
    root = Path(sample_index.archive.root)
    path = root / "算力周报.md"
    path.write_text("# 算力周报\n\n国产算力需求旺盛，**智算中心**建设提速。\n", encoding="utf-8")
    Indexer(sample_index).sync()
    client = create_app(sample_index).test_client()
    [report_id] = report_ids_for(client, "智算中心")
    path.write_text("# 算力周报\n\n这句话是索引之后才写进文件的。\n", encoding="utf-8")   # not yet re-indexed
    page = get_page(client, f"/documents/{report_id}")
    assert "<strong>智算中心</strong>" in page and "索引之后" not in page


def test_pages_say_why_the_first_build_keeps_failing(settings_factory, sample_archive):
    """A first build that fails (here: builds/ is a file, as a broken mount or a full disk would
    leave it) is reported on status and the pages, not shown as "being built" for ever."""
    from indexer.errors import IndexUnavailable
    from indexer.watcher import ArchiveWatcher

    settings = settings_factory(root=sample_archive)
    index_dir = Path(settings.index.dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    (index_dir / "builds").write_text("not a folder", encoding="utf-8")
    with pytest.raises((OSError, IndexUnavailable)):
        ArchiveWatcher(settings).start()
    client = create_app(settings).test_client()
    page = get_page(client, "/search?q=模型", 503)
    assert "索引建立失败" in page and "索引正在建立中" not in page and "builds" in page
    assert '<meta http-equiv="refresh" content="30">' in page
    assert "监视程序未能启动" in get_page(client, "/status")
    assert client.get("/api/status").json["start_error"]["reason"]
    # Once the cause is gone the next start builds the index and the error is over.
    (index_dir / "builds").unlink()
    watcher = ArchiveWatcher(settings)
    try:
        watcher.start()
    finally:
        watcher.stop()
    assert client.get("/api/status").json["start_error"] is None
    assert client.get("/healthz").json == {"ok": True, "documents": 5}


def test_each_markdown_report_renders_as_if_alone():
    """One Markdown converter serves every report of a process (reset between them): a link
    definition, a table or a fenced block of one report must not shape the next one's HTML."""
    import markdown

    from indexer.markup import markdown_to_html, sanitize_html

    reports = [
        "见[研报][r1]。\n\n[r1]: https://example.com/a\n\n| 指标 | 值 |\n|:--|--:|\n| 营收 | 12 |\n",
        "再见[研报][r1]，没有定义。\n\n```\ncode\n```\n\n1. 一\n2. 二\n",
        "* 要点\n\n    缩进代码\n\n> 引用\n",
    ]

    def alone(source: str) -> str:
        return sanitize_html(markdown.markdown(source, extensions=["tables", "fenced_code", "sane_lists"],
                                               extension_configs={"tables": {"use_align_attribute": True}},
                                               output_format="html"))

    for source in reports + reports[::-1]:
        assert markdown_to_html(source) == alone(source)
    assert 'href="https://example.com/a"' not in markdown_to_html(reports[1])


@pytest.mark.parametrize("boilerplate, body, boiler", [
    ("", "# 钠电池\n\n正文一。\n\n\n正文二。\n", ""),        # blocks as they stand, blank lines between
    ("免责声明\n本报告仅供参考。", "# 钠电池\n\n正文一。\n\n\n正文二。", "## 免责声明\n\n本报告仅供参考。\n"),
])
def test_markdown_blocks_split_into_body_and_boilerplate_as_cleaning_did(boilerplate, body, boiler):
    from indexer.markup import split_markdown

    source = "# 钠电池\n\n正文一。\n\n\n正文二。\n\n## 免责声明\n\n本报告仅供参考。\n"
    if not boilerplate:
        source = source.split("\n\n## ")[0] + "\n"
    assert split_markdown(source, boilerplate) == (body, boiler)
