"""Tests of indexer.documents: listing the archive, decoding text, PDF text and read failures."""

import hashlib
import logging
import os
import random
import re
from pathlib import Path

import pytest

from conftest import make_pdf
from indexer.documents import (
    SUPPORTED_SUFFIXES,
    RawDocument,
    SourceFile,
    is_ignored,
    list_archive,
    read_document,
)
from indexer.errors import ReadError

CN = "开源证券研究所：智能驾驶产业链深度报告，投资评级：买入（维持）"
CN_GB18030_ONLY = "𠮷野家研究：" + CN  # U+20BB7 exists in GB18030 but not in GBK
MAX = 1 << 20
MB = 1 << 20


@pytest.fixture
def root(tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    return archive


def write(root, relpath, data):
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def read_error(path, root, max_bytes=MAX):
    with pytest.raises(ReadError) as info:
        read_document(path, root, max_bytes)
    return info.value.reason


# --- text files and encodings ------------------------------------------------------------


@pytest.mark.parametrize(
    "name, data, encoding, kind",
    [
        ("utf8.txt", CN.encode("utf-8"), "utf-8", "txt"),
        ("bom.txt", b"\xef\xbb\xbf" + CN.encode("utf-8"), "utf-8-sig", "txt"),
        ("le.txt", b"\xff\xfe" + CN.encode("utf-16-le"), "utf-16", "txt"),
        ("be.txt", b"\xfe\xff" + CN.encode("utf-16-be"), "utf-16", "txt"),
        ("gbk.txt", CN.encode("gbk"), "gb18030", "txt"),
        ("gb18030.txt", CN_GB18030_ONLY.encode("gb18030"), "gb18030", "txt"),
        ("report.md", f"# 标题\n\n{CN}\n".encode(), "utf-8", "md"),
        ("report.MARKDOWN", f"# 标题\n\n{CN}\n".encode("gbk"), "gb18030", "md"),
    ],
)
def test_text_files_decode(root, name, data, encoding, kind):
    path = write(root, f"2025/{name}", data)
    doc = read_document(path, root, MAX)
    assert isinstance(doc, RawDocument)
    assert CN in doc.text
    assert "\ufeff" not in doc.text
    assert (doc.encoding, doc.kind, doc.relpath) == (encoding, kind, f"2025/{name}")
    assert doc.content_hash == hashlib.sha256(data).hexdigest()
    assert doc.size == len(data) and doc.mtime == path.stat().st_mtime
    assert doc.front_matter == {}


def test_gb18030_sample_is_not_gbk():
    with pytest.raises(UnicodeEncodeError):
        CN_GB18030_ONLY.encode("gbk")


def test_gb18030_keeps_characters_outside_gbk(root):
    path = write(root, "a.txt", CN_GB18030_ONLY.encode("gb18030"))
    assert read_document(path, root, MAX).text == CN_GB18030_ONLY


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n"])
def test_newlines_are_normalized(root, newline):
    path = write(root, "a.txt", newline.join(["第一行", CN, ""]).encode("gbk"))
    assert read_document(path, root, MAX).text == f"第一行\n{CN}\n"


# --- front matter --------------------------------------------------------------------------

FRONT_MATTER = f"""---
title: "中小盘周报：DeepSeek横空出世"
date: 2025-02-09
published: 2025-02-09 19:50:00
tags:
  - 汽车
  - 智能驾驶
comments: false
pages: 12
empty:
---

{CN}
"""


@pytest.mark.parametrize("name", ["report.md", "report.txt"])
def test_front_matter_is_parsed_and_removed(root, name):
    path = write(root, name, FRONT_MATTER.encode())
    doc = read_document(path, root, MAX)
    assert doc.front_matter == {
        "title": "中小盘周报：DeepSeek横空出世",
        "date": "2025-02-09",
        "published": "2025-02-09T19:50:00",
        "tags": ["汽车", "智能驾驶"],
        "comments": "false",
        "pages": "12",
        "empty": "",
    }
    assert doc.text == f"\n{CN}\n"


def test_front_matter_with_crlf_and_bom(root):
    data = b"\xef\xbb\xbf" + FRONT_MATTER.replace("\n", "\r\n").encode()
    doc = read_document(write(root, "a.md", data), root, MAX)
    assert doc.front_matter["title"] == "中小盘周报：DeepSeek横空出世"
    assert doc.text == f"\n{CN}\n"


@pytest.mark.parametrize(
    "body",
    [
        f"---\ntitle: [不闭合\ndate: 2025-01-01\n---\n{CN}\n",  # invalid YAML
        f"---\n{CN}\n---\n更多正文\n",  # a rule around prose: YAML is a string, not a mapping
        f"---\ntitle: 没有结束标记\n{CN}\n",  # never closed
        f"前言\n---\ntitle: x\n---\n{CN}\n",  # not at the start
    ],
)
def test_text_without_valid_front_matter_is_kept_whole(root, body):
    doc = read_document(write(root, "a.md", body.encode()), root, MAX)
    assert doc.front_matter == {}
    assert doc.text == body


def test_seed_with_front_matter(root):
    seed = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "002_05aaa52bfce90ab4.txt"
    if not seed.exists():
        pytest.skip("../shared/seeds is not present")
    doc = read_document(write(root, seed.name, seed.read_bytes()), root, MAX)
    assert doc.front_matter["title"] == "中小盘周报：DeepSeek横空出世，AI产业发展至新阶段"
    assert doc.front_matter["tags"] == ["hibor"]
    assert doc.text.lstrip().startswith("本周市场表现及要闻")


# --- PDF ------------------------------------------------------------------------------------


def test_pdf_text_is_extracted(root, cjk_font):
    data = make_pdf(cjk_font, [CN, "第二页：风险提示"])
    doc = read_document(write(root, "2025/开源证券-报告.pdf", data), root, MAX)
    assert (doc.kind, doc.encoding, doc.relpath) == ("pdf", "pdf", "2025/开源证券-报告.pdf")
    assert doc.text == f"{CN}\f第二页：风险提示"  # pages apart by a form feed
    assert doc.content_hash == hashlib.sha256(data).hexdigest()
    assert doc.front_matter == {}


def test_pdf_encrypted_with_empty_user_password_is_read(root, cjk_font):
    from reportlab.lib.pdfencrypt import StandardEncryption

    data = make_pdf(cjk_font, [CN], encrypt=StandardEncryption("", ownerPassword="owner"))
    assert CN in read_document(write(root, "a.pdf", data), root, MAX).text


def test_pdf_with_a_broken_cross_reference_is_repaired_quietly(root, cjk_font, caplog):
    data = re.sub(rb"startxref\n\d+", b"startxref\n12", make_pdf(cjk_font, [CN]))
    caplog.set_level(logging.DEBUG)
    doc = read_document(write(root, "a.pdf", data), root, MAX)
    assert CN in doc.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# --- failures -------------------------------------------------------------------------------


def junk(seed, alphabet=range(256), n=4096):
    rng = random.Random(seed)
    return bytes(rng.choice(alphabet) for _ in range(n))


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b" \n\t\r\n\xe3\x80\x80\n", "whitespace"),  # includes U+3000
        ("blank16.txt", b"\xff\xfe" + " \n".encode("utf-16-le"), "whitespace"),
        ("only-front.md", b"---\ntitle: x\n---\n\n", "front matter"),
        ("random.txt", os.urandom(4096), "binary"),
        ("nul.txt", CN.encode() + b"\x00\x00" + CN.encode(), "NUL"),
        ("high.txt", junk(1, range(0x80, 0x100)), "binary"),
        ("gbkjunk.txt", junk(2, range(0x81, 0xFF)), "binary"),
        ("control.txt", junk(3, range(1, 9)) + CN.encode(), "binary"),
        ("bad-bom.txt", b"\xef\xbb\xbf" + CN.encode("gbk"), "byte-order mark"),
        ("text.pdf", f"{CN}\n不是PDF".encode(), "%PDF header"),
        ("html.pdf", b"<html><body>404 Not Found</body></html>", "%PDF header"),
        ("stub.pdf", b"%PDF-1.4\n1 0 obj\n<<", "corrupt"),
    ],
)
def test_unreadable_files(root, name, data, reason):
    assert reason in read_error(write(root, name, data), root)


@pytest.mark.parametrize(
    "case, reason",
    [
        ("truncated", "truncated"),
        ("encrypted", "encrypted"),
        ("scanned", "no text layer"),
    ],
)
def test_unreadable_pdfs(root, cjk_font, case, reason):
    if case == "truncated":
        whole = make_pdf(cjk_font, [CN])
        data = whole[: len(whole) // 2]
    elif case == "encrypted":
        data = make_pdf(cjk_font, [CN], encrypt="user-password")
    else:
        data = make_pdf(cjk_font, ["", ""])
    assert reason in read_error(write(root, f"{case}.pdf", data), root)


def test_file_over_the_limit(root):
    path = write(root, "big.txt", CN.encode() * 100)
    assert read_error(path, root, max_bytes=1000) == "file is 9.1 KB, over the 1000 bytes limit"
    assert read_document(path, root, max_bytes=len(CN.encode()) * 100).text == CN * 100


def test_file_over_the_limit_in_megabytes(root):
    path = root / "huge.pdf"
    with open(path, "wb") as f:
        f.truncate(int(123.4 * MB))  # sparse: costs no disk and is never read
    assert read_error(path, root, max_bytes=50 * MB) == "file is 123.4 MB, over the 50 MB limit"


def test_missing_and_special_files(root):
    assert "not found" in read_error(root / "gone.txt", root)
    (root / "folder.txt").mkdir()
    assert "not a regular file" in read_error(root / "folder.txt", root)
    os.mkfifo(root / "pipe.txt")
    assert "not a regular file" in read_error(root / "pipe.txt", root)


def test_symlinks_and_paths_outside_root_are_refused(tmp_path, root):
    outside = write(tmp_path, "outside/secret.txt", CN.encode())
    (root / "link.txt").symlink_to(outside)
    write(root, "real.txt", CN.encode())
    (root / "inner-link.txt").symlink_to(root / "real.txt")
    (root / "linkdir").symlink_to(outside.parent, target_is_directory=True)
    assert "symbolic link" in read_error(root / "link.txt", root)
    assert "symbolic link" in read_error(root / "inner-link.txt", root)
    assert "outside" in read_error(root / "linkdir" / "secret.txt", root)
    assert "outside" in read_error(outside, root)
    assert "outside" in read_error(root / ".." / "outside" / "secret.txt", root)
    assert [f.relpath for f in list_archive(root)] == ["real.txt"]


# --- listing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, ignored",
    [
        ("开源证券-报告.pdf", False),
        ("report.PDF", False),
        ("notes.txt", False),
        ("readme.md", False),
        ("readme.Markdown", False),
        (".hidden.txt", True),
        (".DS_Store", True),
        ("~$report.docx", True),
        ("~$report.txt", True),
        ("report.pdf.part", True),
        ("report.pdf.crdownload", True),
        ("report.pdf.download", True),
        ("report.txt.tmp", True),
        ("report.TMP", True),
        (".report.md.swp", True),
        ("report.md.swp", True),
        ("report.md.swx", True),
        ("report.txt~", True),
        ("#report.md#", True),
        (".~lock.report.txt#", True),
        ("report.docx", True),
        ("report.html", True),
        ("report", True),
        ("", True),
    ],
)
def test_is_ignored(name, ignored):
    assert is_ignored(name) is ignored


def test_supported_suffixes_are_not_ignored():
    assert not any(is_ignored("a" + suffix) for suffix in SUPPORTED_SUFFIXES)


def test_list_archive_walks_a_nested_tree(tmp_path, root):
    for relpath in [
        "2025/开源证券-报告.pdf",
        "2025/01/周报.md",
        "2025/01/周报.md.swp",
        "2024/b.TXT",
        "a.markdown",
        "z.txt",
        "z.docx",
        "~$z.txt",
        ".hidden.txt",
        ".git/objects/c.txt",
        "2025/.cache/d.md",
        "2025/partial.pdf.part",
    ]:
        write(root, relpath, b"x")
    write(root, "2025/big.txt", b"y" * 10)
    outside = write(tmp_path, "elsewhere/e.txt", b"x")
    (root / "link.txt").symlink_to(outside)
    (root / "linked-dir").symlink_to(outside.parent, target_is_directory=True)
    os.mkfifo(root / "fifo.txt")

    files = list_archive(root)

    assert [f.relpath for f in files] == [
        "2024/b.TXT",
        "2025/01/周报.md",
        "2025/big.txt",
        "2025/开源证券-报告.pdf",
        "a.markdown",
        "z.txt",
    ]
    big = next(f for f in files if f.relpath == "2025/big.txt")
    assert big == SourceFile(str(root / "2025" / "big.txt"), "2025/big.txt", 10, os.stat(big.path).st_mtime)
    assert all(os.path.isabs(f.path) for f in files)


def test_list_archive_of_empty_and_missing_folders(tmp_path, root):
    assert list_archive(root) == []
    assert list_archive(tmp_path / "missing") == []


@pytest.mark.parametrize("front, body_starts", [
    ("title: 钠电池\ndate: 2025-01-02\n", "正文"),
    ("a: &x [1, 2]\nb: *x\n", "---"),                       # an alias: kept as text
    ("title: \"*星号*标题\"\n", "正文"),                       # a '*' that is no alias: still metadata
    ("title: [unclosed\n", "---"),                          # not YAML: kept as text
])
def test_front_matter_is_read_unless_it_uses_aliases_or_is_not_yaml(root, front, body_starts):
    path = write(root, "r.md", f"---\n{front}---\n正文。\n".encode("utf-8"))
    doc = read_document(path, root, MAX)
    assert doc.text.lstrip().startswith(body_starts)
    assert bool(doc.front_matter) == (body_starts == "正文")
