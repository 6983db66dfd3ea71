"""Hostile documents and uploads: each is indexed safely or refused with a receipt, and no page runs its markup."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ADMIN_TOKEN as TOKEN, assert_error, assert_no_injected_markup, post_file
from indexer.status import status_report
from indexer.documents import read_document
from indexer.indexing import Indexer
from server import create_app

MAX_FILE_MB = 0.01                      # about 10 KB: the "huge file" needs only 20 KB
MARKUP = ("<script", "onerror=", "onload=", "javascript:alert", "<iframe", "<svg", "<img")

MD_WITH_SCRIPT = """---
title: <script>alert("fm-title")</script>标记标题
broker: <img src=x onerror=alert("fm-broker")>
industry: "<svg onload=alert(1)>"
rating: [<b>买入</b>, "<script>x</script>"]
---
# 恶意 <script>alert("heading")</script>

正文 zqxmd 包含 <script>alert("md-body")</script> 和 <img src=x onerror=alert("md-img")>。

<iframe src="javascript:alert('iframe')"></iframe><svg><script>alert(1)</script></svg>

[点我](javascript:alert('link')) <a href="javascript:alert(2)" onclick="alert(3)">链接</a>

<style>body{display:none}</style><object data="x.swf"></object>
"""
TXT_WITH_SCRIPT = ("开源证券 2025-02-04\n</title><script>alert('txt-title')</script>\n"
                   "正文 zqxtxt <script>alert('txt-body')</script> <img src=x onerror=alert('txt')> "
                   "<svg onload=alert(1)> \"><script>alert(2)</script>\n").encode()


@dataclass(frozen=True)
class Hostile:
    """A hostile file: its name (str, or bytes for a name that is not UTF-8), content and expected fate."""

    name: str | bytes
    content: bytes
    marker: str = ""        # a word only this file holds, to find it when it is indexed
    refused: str = ""       # a fragment of the receipt's reason when it must be refused


HOSTILE_FILES = [
    Hostile("script.md", MD_WITH_SCRIPT.encode(), "zqxmd"),
    Hostile("script.txt", TXT_WITH_SCRIPT, "zqxtxt"),
    Hostile("<img src=x onerror=alert(1)>.md", "正文 zqxname1 文件名里有标记。".encode(), "zqxname1"),
    Hostile('"><script>alert(1)<.txt', "正文 zqxname2 文件名里有脚本。".encode(), "zqxname2"),
    Hostile("ctrl\x01\x1b[31m\x7f报告.txt", "正文 zqxctrl 控制字符。".encode(), "zqxctrl"),
    Hostile("new\nline\r\t报告.md", "正文 zqxnewline 换行。".encode(), "zqxnewline"),
    Hostile("\u202egnp.txt", "正文 zqxrtl 反向字符。".encode(), "zqxrtl"),
    Hostile("研" * 80 + ".txt", "正文 zqxlong240 长文件名。".encode(), "zqxlong240"),    # 244 bytes
    Hostile("a" * 251 + ".txt", "正文 zqxlong255 最长文件名。".encode(), "zqxlong255"),    # 255 bytes
    Hostile("huge.txt", b"A" * 20_000, refused="limit"),
    Hostile("huge.pdf", b"%PDF-1.4\n" + b"0" * 20_000, refused="limit"),
    Hostile("bomb-like.txt", ("模型" * 1_666).encode(), "模型"),                          # just under the limit, one line
    Hostile("not-a-pdf.pdf", b"<html><script>alert('pdf')</script></html>", refused="not a PDF"),
    Hostile("truncated.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog", refused="PDF"),
    Hostile("binary.txt", bytes(range(256)) * 30),
    Hostile("nul.txt", "正文 zqxnul \x00\x00 空字符。".encode()),
    Hostile("utf16.txt", "\ufeff正文 zqxutf16 双字节编码。".encode("utf-16-le")),
    Hostile("empty.md", b"", refused="empty"),
    Hostile("only-front-matter.md", b"---\ntitle: x\n---\n", refused="empty"),
    Hostile("python-tag.md", b"---\ntitle: !!python/object/apply:os.system [\"echo pwned\"]\n---\n\xe6\xad\xa3\xe6\x96\x87 zqxyamltag\n",
            "zqxyamltag"),
]


def write_raw(root: Path, name: str | bytes, content: bytes) -> None:
    path = os.path.join(os.fsencode(root), name if isinstance(name, bytes) else os.fsencode(name))
    with open(path, "wb") as fh:
        fh.write(content)


@pytest.fixture
def tried(record_property):
    """The hostile files and upload names this test tries; each becomes a `hostile` property of the test
    in a JUnit report, and bench/robustness.py counts the distinct ones."""
    names: set[str] = set()
    yield names
    for name in sorted(names):
        record_property("hostile", name)


@pytest.fixture
def hostile(settings_factory, tmp_path, tried):
    """An archive of hostile files and symlinks out of it, synced once; (settings, client, root)."""
    settings = settings_factory(archive={"max_file_mb": MAX_FILE_MB}, server={"admin_token": TOKEN})
    root = Path(settings.archive.root)
    for item in HOSTILE_FILES:
        write_raw(root, item.name, item.content)
    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / "secret.txt").write_text("机密 zqxoutside 不该被索引。", encoding="utf-8")
    (outside / "folder" / "secret2.md").write_text("# 机密\n\nzqxoutsidedir 不该被索引。", encoding="utf-8")
    (root / "link-to-file.txt").symlink_to(outside / "secret.txt")
    (root / "link-to-folder").symlink_to(outside / "folder", target_is_directory=True)
    (root / "link-to-passwd.txt").symlink_to("/etc/passwd")
    (root / "dangling.md").symlink_to(tmp_path / "nowhere.md")
    (root / "loop.txt").symlink_to(root / "loop.txt")
    tried.update(str(item.name) for item in HOSTILE_FILES)
    tried.update(["link-to-file.txt", "link-to-folder", "link-to-passwd.txt", "dangling.md", "loop.txt"])
    Indexer(settings).sync()
    return settings, create_app(settings).test_client(), root


def hits(client, q: str) -> list[dict]:
    answer = client.get("/api/search", query_string={"q": q, "size": 100})
    assert answer.status_code == 200, answer.json
    return answer.json["hits"]


def test_every_hostile_file_is_indexed_or_refused_with_a_receipt(hostile):
    settings, client, root = hostile
    report = status_report(settings)
    assert report["ok"] is True
    failed = {item["path"]: item["reason"] for item in report["failed"]}
    receipts = {receipt["path"]: receipt for receipt in report["recent"]}
    for item in HOSTILE_FILES:
        name = item.name
        if item.refused:
            assert item.refused in failed.get(name, ""), (name, failed.get(name))
            assert receipts[name]["status"] == "failed"
            continue
        assert receipts[name]["status"] in ("indexed", "failed"), receipts[name]
        if receipts[name]["status"] == "failed":
            assert failed[name]
        elif item.marker:
            assert [hit["path"] for hit in hits(client, item.marker)] == [name]
    assert report["documents"] == len(HOSTILE_FILES) - len(failed)


def test_symlinks_out_of_the_archive_are_not_followed(hostile):
    settings, client, root = hostile
    for marker in ("zqxoutside", "zqxoutsidedir", "root"):
        assert hits(client, marker) == []
    report = status_report(settings)
    receipts = report["failed"] + report["recent"]
    for receipt in receipts:
        assert not receipt["path"].startswith(("link-to-", "dangling", "loop")) or receipt.get("status") != "indexed"
        assert "zqxoutside" not in str(receipt) and "root:x:0" not in str(receipt)
    assert "zqxoutside" not in client.get("/status").get_data(as_text=True)


def test_pages_never_carry_the_hostile_markup(hostile):
    settings, client, root = hostile
    pages = ["/", "/status", "/search?q=正文", "/search?q=zqxmd", "/search?q=zqxtxt", "/search?q=script",
             "/search?q=alert", "/search?q=onerror", "/search?q=标记标题", "/search?q=img"]
    ids = {hit["id"] for q in ("正文", "zqxmd", "zqxtxt", "模型") for hit in hits(client, q)}
    assert len(ids) >= 10
    for report_id in ids:
        pages += [f"/documents/{report_id}", f"/documents/{report_id}?q=script alert", f"/documents/{report_id}?q=正文"]
    for url in pages:
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert answer.mimetype == "text/html"
        assert_no_injected_markup(answer.get_data(as_text=True))
    status_page = client.get("/status").get_data(as_text=True)
    assert "不是 PDF 文件" in status_page and "的上限" in status_page      # the failures, worded in Chinese
    assert "not a PDF" not in status_page
    assert "&lt;img src=x onerror=alert(1)&gt;.md" in status_page      # shown, as text


def test_front_matter_markup_is_kept_as_text_in_the_json(hostile):
    settings, client, root = hostile
    [hit] = hits(client, "zqxmd")
    assert "<script>" in hit["title"] or "标记标题" in hit["title"]   # data, not markup: JSON is not rendered
    doc = client.get(f"/api/documents/{hit['id']}")
    assert doc.mimetype == "application/json" and doc.headers["X-Content-Type-Options"] == "nosniff"


def test_raw_download_of_a_hostile_file_is_an_attachment(hostile):
    settings, client, root = hostile
    for q in ("zqxmd", "zqxname1", "zqxname2"):
        [hit] = hits(client, q)
        answer = client.get(f"/documents/{hit['id']}/raw")
        assert answer.status_code == 200
        assert answer.headers["Content-Disposition"].startswith("attachment;")
        assert not answer.mimetype.startswith("text/html")
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        fallback = answer.headers["Content-Disposition"].split(";")[1]
        assert "<" not in fallback and "\n" not in answer.headers["Content-Disposition"]


def test_a_file_name_that_is_not_utf8_is_indexed_or_receipted(settings_factory, tried):
    tried.add("b'\\xff\\xfe bad-utf8.txt'")
    settings = settings_factory()
    root = Path(settings.archive.root)
    write_raw(root, b"\xff\xfe bad-utf8.txt", "正文 zqxbadname 非 UTF-8 文件名。".encode())
    (root / "good.txt").write_text("正文 zqxgood 正常文件。", encoding="utf-8")
    Indexer(settings).sync()
    client = create_app(settings).test_client()
    assert [hit["path"] for hit in hits(client, "zqxgood")] == ["good.txt"]
    report = status_report(settings)
    assert report["documents"] == 2 or any("bad-utf8" in item["path"] for item in report["failed"])
    # The failure stays listed, without a new receipt, across later full syncs ...
    again = Indexer(settings).sync()
    assert not again.receipts
    assert any("bad-utf8" in item["path"] for item in status_report(settings)["failed"])
    # ... and goes once the file is gone.
    for entry in os.listdir(os.fsencode(root)):
        if entry.endswith(b"bad-utf8.txt"):
            os.remove(os.path.join(os.fsencode(root), entry))
    Indexer(settings).sync()
    assert not any("bad-utf8" in item["path"] for item in status_report(settings)["failed"])


def billion_laughs(depth: int) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, depth)]
    return "---\n" + "\n".join(lines) + f"\ntitle: *a{depth - 1}\n---\n正文 zqxbomb。\n"


def test_yaml_alias_bomb_in_front_matter_stays_small(tmp_path, tried):
    tried.add("yaml-alias-bomb.md")
    (tmp_path / "bomb.md").write_text(billion_laughs(6), encoding="utf-8")
    size = (tmp_path / "bomb.md").stat().st_size
    raw = read_document(tmp_path / "bomb.md", tmp_path, 10 * 1024 * 1024)
    expanded = sum(len(str(value)) for value in raw.front_matter.values())
    assert expanded <= 100 * size, f"{size} bytes of front matter expanded to {expanded} characters"


# -- uploads ------------------------------------------------------------------------------

@pytest.fixture
def upload_client(settings_factory):
    """A client of an app with uploads enabled (10 KB limit) over an empty archive; (client, settings)."""
    settings = settings_factory(server={"admin_token": TOKEN, "max_upload_mb": MAX_FILE_MB})
    app = create_app(settings)
    app.config["UPLOAD_RECEIPT_WAIT_SECONDS"] = 0
    return app.test_client(), settings


UPLOAD_NAMES = ["../../evil.md", "..\\..\\evil.md", "/etc/passwd.md", "../../../../../../tmp/evil.txt",
                "a/../../b.md", "./../.hidden.md", "....md", ".md", "evil.md\x00.txt", "ctrl\x01\x1b[2J\x7f.txt",
                "new\nline.md", "\u202etxt.md", "%2e%2e%2fevil.md", "..／..／evil.md", "..∕evil.md",
                "<script>alert(1)</script>.md", "<img src=x onerror=alert(1)>.txt", "研" * 80 + ".md",
                "a" * 300 + ".txt", "CON.md", " .md", "~$lock.md", "evil.md~.txt", "evil.PDF"]


NAMES_THE_INDEXER_IGNORES = ["~$lock.md", "#draft.md", "# 周报.md"]


@pytest.mark.parametrize("name", UPLOAD_NAMES + NAMES_THE_INDEXER_IGNORES)
def test_upload_name_never_escapes_the_archive(upload_client, tmp_path, tried, name):
    client, settings = upload_client
    tried.add(f"upload:{name}")
    root = Path(settings.archive.root).resolve()
    content = b"%PDF-1.4 not really" if name.lower().endswith(".pdf") else "正文 上传。".encode()
    answer = post_file(client, name, content)
    assert answer.status_code in (200, 202, 400), answer.data[:300]
    if answer.status_code == 400:       # a refused type, or a name the multipart parser drops
        assert any(fragment in assert_error(answer, 400)["error"] for fragment in ("unsupported file type", "field 'file'"))
        assert not any(root.iterdir())
        return
    saved = answer.json["receipt"]["path"]
    assert "/" not in saved and "\\" not in saved and not saved.startswith(".")
    assert len(saved.encode()) <= 255 and all(ch.isprintable() for ch in saved)
    landed = [p for p in tmp_path.rglob("*") if p.is_file() and "var" not in p.relative_to(tmp_path).parts]
    assert landed == [root / saved]
    assert all(p.resolve().is_relative_to(root) for p in landed)


def test_uploaded_hostile_names_are_indexed_or_receipted(upload_client, tried):
    client, settings = upload_client
    saved = []
    for name in (n for n in UPLOAD_NAMES if n not in NAMES_THE_INDEXER_IGNORES):
        tried.add(f"upload:{name}")
        answer = post_file(client, name, "正文 zqxupload 上传。".encode())
        if answer.status_code in (200, 202):
            saved.append(answer.json["receipt"]["path"])
    Indexer(settings).sync()
    report = status_report(settings)
    failed = {item["path"] for item in report["failed"]}
    found = {hit["path"] for hit in create_app(settings).test_client()
             .get("/api/search", query_string={"q": "zqxupload", "size": 100}).json["hits"]}
    recent = {r["path"] for r in report["recent"]}
    for path in saved:
        assert path in found | failed | recent, path      # duplicates are receipted, not lost


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "Bearer " + TOKEN])
def test_upload_without_the_right_token_is_401(upload_client, token):
    client, settings = upload_client
    error = assert_error(post_file(client, "a.md", "正文".encode(), token=token), 401)
    assert "token" in error["error"]
    assert not any(Path(settings.archive.root).iterdir())


def test_upload_with_the_token_in_another_scheme_is_401(upload_client):
    client, settings = upload_client
    for header in (f"Basic {TOKEN}", f"Token {TOKEN}", TOKEN, f"bearer{TOKEN}"):
        answer = client.post("/api/documents", headers={"Authorization": header},
                             data={"file": (io.BytesIO(b"x"), "a.md")}, content_type="multipart/form-data")
        assert_error(answer, 401)


@pytest.mark.parametrize("size", [10_486, 100_000, 2_000_000])
def test_upload_over_the_limit_is_413(upload_client, tried, size):
    client, settings = upload_client
    tried.add("upload:大文件.txt")
    error = assert_error(post_file(client, "大文件.txt", b"a" * size), 413)
    assert "limit" in error["error"]
    assert not any(Path(settings.archive.root).iterdir())


@pytest.mark.parametrize("name", ["evil.exe", "evil.html", "evil.svg", "evil.php", "evil.md.exe", "evil.js",
                                  "evil", "evil.", ".htaccess", "evil.txt.html", "evil.docx"])
def test_upload_of_an_unsupported_type_is_400(upload_client, tried, name):
    client, settings = upload_client
    tried.add(f"upload:{name}")
    error = assert_error(post_file(client, name, b"<script>alert(1)</script>"), 400)
    assert "unsupported file type" in error["error"]
    assert not any(Path(settings.archive.root).iterdir())


@pytest.mark.parametrize("name", NAMES_THE_INDEXER_IGNORES)
def test_an_accepted_upload_always_gets_a_receipt(upload_client, tried, name):
    client, settings = upload_client
    tried.add(f"upload:{name}")
    answer = post_file(client, name, "正文 zqxignored 上传。".encode())
    assert answer.status_code in (200, 202), answer.data[:300]
    Indexer(settings).sync()
    saved = answer.json["receipt"]["path"]
    assert saved in {receipt["path"] for receipt in status_report(settings)["recent"]}


def test_long_chinese_upload_name_is_saved_under_255_bytes(upload_client, tried):
    client, settings = upload_client
    tried.add("upload:" + "研" * 300 + ".md")
    answer = post_file(client, "研" * 300 + ".md", "正文 上传。".encode())
    assert answer.status_code in (200, 202), answer.data[:300]
    assert len(answer.json["receipt"]["path"].encode()) <= 255


def test_repeated_wrong_tokens_are_rate_limited(upload_client):
    client, settings = upload_client
    statuses = [post_file(client, "a.md", b"x", token=f"guess-{n}").status_code for n in range(50)]
    assert 429 in statuses
