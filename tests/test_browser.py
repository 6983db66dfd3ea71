"""The pages in a real browser: headless Debian Chromium through Playwright, against a real server."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from conftest import PROJECT_ROOT, SAMPLES, make_settings
from indexer.indexing import Indexer
from server import create_app

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# The committed screenshots are refreshed with UPDATE_SCREENSHOTS=1; otherwise the pictures
# go to a temp folder, so that a test run leaves the work tree clean.
DOCS = PROJECT_ROOT / "docs" if os.environ.get("UPDATE_SCREENSHOTS") else Path(tempfile.gettempdir()) / "report-archive-shots"
TOKEN = "browser-token"
R1 = "DeepSeek-R1横空出世，智能车产业升级加速.txt"
WEEKLY = "中小盘周报：DeepSeek横空出世，AI产业发展至新阶段.md"
PAYLOAD = '<script>window.__xss=2;alert(2)</script><img src=x onerror="window.__xss=1"><svg onload="alert(3)"></svg>'
HOSTILE = {
    "恶意报告<b>.txt": f"恶意测试报告\n\n本报告正文带有脚本{PAYLOAD}以及更多文字。\n",
    "恶意报告.md": f"---\ntitle: \"恶意标题{PAYLOAD}\"\n---\n\n# 恶意测试\n\n正文{PAYLOAD}结束。\n\n"
                  f"[点我](javascript:alert(4))\n",
}


@pytest.fixture(scope="module")
def archive_settings(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    root = tmp / "archive"
    shutil.copytree(SAMPLES, root)
    for name, text in HOSTILE.items():
        (root / name).write_text(text, encoding="utf-8")
    settings = make_settings(tmp, root, server={"admin_token": TOKEN})
    assert Indexer(settings).build().documents == 7
    return settings


@pytest.fixture(scope="module")
def base_url(archive_settings):
    """A real threaded HTTP server on a free port serving the app."""
    from werkzeug.serving import make_server

    app = create_app(archive_settings)
    app.config["UPLOAD_RECEIPT_WAIT_SECONDS"] = 0.3
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (make browser installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Watched:
    """A page with every dialog, page error and console error it produced."""

    def __init__(self, page):
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.answer_prompt: str | None = None

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        if dialog.type == "prompt" and self.answer_prompt is not None:
            dialog.accept(self.answer_prompt)
        else:
            dialog.dismiss()


@pytest.fixture
def watched(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield Watched(page)
    context.close()


def result_count(page) -> int:
    return int(page.locator(".summary .count strong").inner_text())


def test_search_facets_sort_and_pages(watched, base_url):
    page = watched.page
    page.goto(base_url + "/")
    box = page.locator("input[name=q]")
    assert box.evaluate("el => el === document.activeElement")        # the start page focuses the box
    box.fill("模型")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    assert page.locator(".hit mark").count() > 0
    assert page.locator(".hit mark").first.inner_text() == "模型"
    assert result_count(page) == 5
    assert page.locator(".understood").inner_text().startswith("分词")
    DOCS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS / "screenshot-results.png"))

    page.locator(".facet[data-facet=broker] a", has_text="开源证券").click()
    page.wait_for_url(re.compile(r"broker="))
    assert result_count(page) == 2
    assert set(page.locator(".hit .tag-broker").all_inner_texts()) == {"开源证券"}
    page.locator(".chip").click()                                        # remove the filter again
    page.wait_for_load_state()
    assert result_count(page) == 5

    page.locator(".sort a", has_text="日期").click()
    page.wait_for_url(re.compile(r"sort=date"))
    dates = page.locator(".hit time").evaluate_all("els => els.map(e => e.getAttribute('datetime'))")
    assert dates and dates == sorted(dates, reverse=True)
    assert page.locator(".sort strong").inner_text() == "日期"

    page.goto(base_url + "/search?q=模型&size=2")
    first_titles = page.locator(".hit-title").all_inner_texts()
    page.locator("a[rel=next]").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert page.locator(".pager strong").inner_text() == "2"
    assert set(page.locator(".hit-title").all_inner_texts()).isdisjoint(first_titles)
    assert not watched.dialogs and not watched.errors


def test_document_view_jumps_between_matches_and_downloads(watched, base_url, archive_settings):
    page = watched.page
    page.goto(base_url + "/search?q=" + "智能车 横空出世")
    page.locator(".hit-title a", has_text="DeepSeek-R1横空出世").click()
    page.wait_for_url(re.compile(r"/documents/\w+\?q="))
    marks = page.locator("mark.match")
    total = marks.count()
    assert total >= 3
    assert page.locator("#mark-pos").inner_text() == f"共 {total} 处"
    page.screenshot(path=str(DOCS / "screenshot-document.png"))

    def current() -> str:
        return page.locator("mark.match.current").get_attribute("id")

    next_button = page.locator("#next-mark")
    next_button.click()
    assert current() == "m1" and page.locator("#mark-pos").inner_text() == f"1 / {total}"
    next_button.click()
    assert current() == "m2"
    top_at_m2 = page.evaluate("window.scrollY")
    for _ in range(total - 2):
        next_button.click()
    assert current() == f"m{total}"
    assert page.evaluate("window.scrollY") > top_at_m2                 # the view followed the marks down
    assert page.locator(f"#m{total}").evaluate(
        "el => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }")
    next_button.click()
    assert current() == "m1"                                           # wraps around
    page.locator("#prev-mark").click()
    assert current() == f"m{total}"
    assert page.locator("mark.match.current").count() == 1

    with page.expect_download() as download_info:
        page.locator(".doc-actions a.button", has_text="下载原文").click()
    download = download_info.value
    assert download.suggested_filename == R1
    assert Path(download.path()).read_bytes() == (Path(archive_settings.archive.root) / R1).read_bytes()
    assert not watched.dialogs and not watched.errors


def test_markdown_document_and_keyboard(watched, base_url):
    page = watched.page
    page.goto(base_url + "/search?q=" + "中小盘周报")
    page.locator(".hit-title a").first.click()
    page.wait_for_url(re.compile(r"/documents/"))
    assert page.locator(".doc-body.markdown p").count() > 3
    assert page.locator("h1").first.inner_text() == WEEKLY.removesuffix(".md")
    page.keyboard.press("/")
    assert page.locator("input[name=q]").evaluate("el => el === document.activeElement")
    assert not watched.dialogs and not watched.errors


def test_hostile_reports_run_no_script(watched, base_url):
    page = watched.page
    csp_reports: list[str] = []
    page.on("console", lambda msg: csp_reports.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(base_url + "/search?q=恶意")
    assert result_count(page) == 2
    assert "<script>" in page.locator(".results").inner_text()            # shown, as text
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator(".results img, .results svg, .results script").count() == 0
    links = page.locator(".hit-title a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    for link in links:
        page.goto(base_url + link)
        assert page.locator("mark.match").count() >= 1
        assert page.evaluate("typeof window.__xss") == "undefined"
        assert page.locator("main img, main svg, main script, main iframe").count() == 0
        assert page.locator("main a[href^='javascript:' i]").count() == 0
        page.locator("#next-mark").click()
    assert watched.dialogs == []
    assert csp_reports == []            # nothing even tried to run: the markup never became elements
    assert not watched.errors


def test_pages_work_without_javascript(browser, base_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(base_url + "/search?q=横空出世&broker=开源证券")
        assert int(page.locator(".summary .count strong").inner_text()) == 2
        page.locator(".hit-title a").first.click()
        page.wait_for_url(re.compile(r"/documents/"))
        assert page.locator("#first-mark").is_visible()
        assert page.locator("#next-mark").is_hidden()
        page.locator("#first-mark").click()
        assert page.url.endswith("#m1")
    finally:
        context.close()


def test_phone_layout_has_no_horizontal_scroll(browser, base_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        for url in ("/", "/search?q=模型", "/status"):
            page.goto(base_url + url)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, url
    finally:
        context.close()


def test_upload_by_choosing_a_file_asks_for_the_token_once(watched, base_url, archive_settings, tmp_path):
    page = watched.page
    watched.answer_prompt = TOKEN
    report = tmp_path / "浏览器上传的研报.txt"
    report.write_text("浏览器上传测试：算力与储能。", encoding="utf-8")
    page.goto(base_url + "/")
    page.locator("#upload-input").set_input_files(str(report))
    page.locator("#upload-log li", has_text="浏览器上传的研报.txt：已保存").wait_for()
    assert len(watched.dialogs) == 1 and watched.dialogs[0].startswith("prompt")
    saved = Path(archive_settings.archive.root) / "浏览器上传的研报.txt"
    assert saved.read_text(encoding="utf-8") == "浏览器上传测试：算力与储能。"
    page.locator("#upload-input").set_input_files(str(report))           # the token is remembered
    page.locator("#upload-log li").nth(1).wait_for()
    assert len(watched.dialogs) == 1
    saved.unlink()


def test_facets_select_several_values_and_the_feed_follows(watched, base_url):
    page = watched.page
    page.goto(base_url + "/search?q=DeepSeek")
    page.locator(".facet[data-facet=broker] a", has_text="开源证券").click()
    page.wait_for_url(re.compile(r"broker="))
    assert result_count(page) == 2
    # The other brokers are still listed: a second one is added without clearing the first.
    page.locator(".facet[data-facet=broker] a", has_text="东莞证券").click()
    page.wait_for_url(re.compile(r"broker=.*broker="))
    assert result_count(page) == 3
    assert set(page.locator(".hit .tag-broker").all_inner_texts()) == {"开源证券", "东莞证券"}
    assert page.locator(".facet[data-facet=broker] a[aria-checked=true]").count() == 2
    feed_url = page.locator("a.feed-link").get_attribute("href")
    assert feed_url == page.locator("link[rel=alternate][type='application/atom+xml']").get_attribute("href")
    feed = page.request.get(base_url + feed_url)
    assert feed.ok and feed.headers["content-type"].startswith("application/atom+xml")
    assert feed.text().count("<entry>") == 3
    page.locator(".chip", has_text="开源证券").click()                     # one chip removes one value
    page.wait_for_load_state()
    assert result_count(page) == 1
    assert not watched.dialogs and not watched.errors


def test_keys_move_through_the_result_pages(watched, base_url):
    page = watched.page
    page.goto(base_url + "/search?q=模型&size=2")
    page.locator("body").click(position={"x": 5, "y": 300})               # focus out of the search box
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"page=2"))
    page.keyboard.press("p")
    page.wait_for_url(re.compile(r"size=2$"))
    page.keyboard.press("/")
    box = page.locator("input[name=q][type=search]")
    assert box.evaluate("el => el === document.activeElement") and box.input_value() == "模型"
    assert not watched.dialogs and not watched.errors


def test_phone_shows_the_first_result_on_the_first_screen(browser, base_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(base_url + "/search?q=模型")
        toggle = page.locator(".filters-toggle")
        assert toggle.is_visible() and page.locator(".facet").first.is_hidden()
        assert page.locator(".hit").first.bounding_box()["y"] < 844 / 2
        DOCS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS / "screenshot-phone.png"))
        toggle.click()
        assert page.locator(".facet").first.is_visible() and toggle.get_attribute("aria-expanded") == "true"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()


def test_an_english_browser_still_reads_chinese_dates_and_messages(browser, base_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="America/New_York")
    page = context.new_page()
    try:
        page.goto(base_url + "/search?q=模型&from=2025-02-01")
        date_from = page.locator("input[name=from]")
        assert date_from.input_value() == "2025-02-01" and date_from.get_attribute("placeholder") == "年-月-日"
        assert date_from.get_attribute("type") == "text"                  # no locale-ordered date picker
        page.locator("input[name=to]").fill("2025-02-30")
        page.locator(".daterange button").click()
        page.wait_for_url(re.compile(r"to=2025-02-30"))
        assert "日期格式不对" in page.locator(".notice-error").inner_text()
        assert "must" not in page.locator("main").inner_text()
        page.goto(base_url + "/search?q=模型")
        page.locator(".hit-title a").first.click()
        page.wait_for_url(re.compile(r"/documents/"))
        added = page.locator(".doc-meta").inner_text()
        assert re.search(r"入库时间\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\+8", added), added
        page.goto(base_url + "/documents/000000000000")
        assert "没有这个页面或报告" in page.locator("main").inner_text()
    finally:
        context.close()
