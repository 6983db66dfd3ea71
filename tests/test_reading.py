"""Reading real-shaped reports: PDF layout, running headers, figures, body vs disclaimer, cover metadata, pages."""

from __future__ import annotations

import re

import pytest

from conftest import layout_pdf
from indexer.documents import read_document
from indexer.indexing import Indexer, prepare_report
from indexer.normalize import clean_report, split_paragraphs
from indexer.search import ArchiveSearcher
from indexer.query import parse_request
from server import create_app

BODY = [
    "本报告研究了量价共振指标在沪深三百指数上的择时效果，样本外表现稳健。",
    "我们发现成交量放大时价格动量的持续性更强，换手率是一个有效的过滤条件。",
    "在行业轮动中，景气度与拥挤度共同决定了配置的方向和仓位的高低。",
    "模型在熊市阶段的回撤明显小于基准，夏普比率提高到一点二左右。",
]
HEADER = "金融工程专题报告 某某证券研究所"
FOOTER = "请务必阅读正文之后的信息披露和法律声明"


def paged_report(font: str, pages: int = 6, body_on: dict | None = None) -> bytes:
    """A report of `pages` pages with a running header, a footer with page numbers, and body lines."""
    layout = []
    for number in range(1, pages + 1):
        items = [(60, 40, 9, HEADER), (60, 810, 8, f"{FOOTER}  第 {number} 页 共 {pages} 页")]
        lines = (body_on or {}).get(number, [BODY[(number + i) % len(BODY)] for i in range(3)])
        items += [(60, 120 + 24 * row, 10.5, line) for row, line in enumerate(lines)]
        layout.append(items)
    return layout_pdf(font, layout)


def write(tmp_path, name: str, data: bytes):
    root = tmp_path / "archive"
    root.mkdir(exist_ok=True)
    path = root / name
    path.write_bytes(data)
    return path, root


# --- running headers, footers and page numbers -----------------------------------------


def test_running_headers_and_footers_leave_the_text(tmp_path, cjk_font):
    path, root = write(tmp_path, "doc_01.pdf", paged_report(cjk_font))
    report = prepare_report(path, root, 1 << 20)
    text = clean_report(read_document(path, root, 1 << 20).text, laid_out=True).text
    assert HEADER.split()[0] not in text and FOOTER not in text and "共 6 页" not in text
    assert BODY[0] in text and BODY[1] in text
    assert report.meta["ranked_share"] == 1.0


def test_a_lone_figure_is_kept_and_joined_but_a_page_number_at_the_foot_is_dropped(tmp_path, cjk_font):
    cover = [(60, 100, 10.5, "罗伯·瑞克从事证券行业近"), (60, 124, 10.5, "50"), (60, 148, 10.5, "年，偏好现金流充足的公司。"),
             # the same figure set apart on its baseline: three text objects on one line
             (60, 200, 10.5, "数据始于"), (110, 200, 10.5, "2015"), (140, 200, 10.5, "年"), (152, 200, 10.5, "10"),
             (166, 200, 10.5, "月的月末。"),
             (290, 815, 9, "7")]
    path, root = write(tmp_path, "doc_02.pdf", layout_pdf(cjk_font, [cover, [(60, 100, 10.5, BODY[0]), (290, 815, 9, "8")]]))
    text = clean_report(read_document(path, root, 1 << 20).text, laid_out=True).text
    assert "从事证券行业近50年，" in text
    assert "数据始于2015年10月的月末。" in text
    assert not re.search(r"^[78]$", text, re.MULTILINE)


def test_figures_on_lines_of_their_own_in_text_are_joined():
    assert split_paragraphs("从事证券行业近\n50\n年。本篇介绍") == ["从事证券行业近50年。本篇介绍"]
    assert split_paragraphs("截至\n2015\n年\n10\n月\n19\n日，收益率为\n3.5%\n。") == ["截至2015年10月19日，收益率为3.5%。"]
    # a bare number is a page number only beside a page break; elsewhere it is content
    assert split_paragraphs("第一段结束。\n12\f第二页开头。") == ["第一段结束。", "第二页开头。"]
    assert split_paragraphs("表中数值：\n12\n个行业。") == ["表中数值：", "12个行业。"]


def test_running_lines_of_an_extracted_text_without_pages_are_dropped():
    lines = []
    for page in range(1, 5):
        lines += [BODY[page % 4], BODY[(page + 1) % 4], f"请务必参阅正文后面的信息披露和法律声明 {page}/4"]
    text = clean_report("\n".join(lines)).text
    assert "法律声明" not in text and BODY[0] in text


# --- body and disclaimer ------------------------------------------------------------------


def test_a_notice_pointing_to_the_disclaimer_does_not_hide_the_body(tmp_path, cjk_font):
    body = {n: [BODY[n % 4], BODY[(n + 1) % 4], "请务必阅读正文之后的免责声明部分"] for n in range(1, 6)}
    body[6] = ["免责声明", "本报告仅供本公司客户使用，不构成投资建议。", "未经书面许可，不得转载。"]
    path, root = write(tmp_path, "doc_03.pdf", paged_report(cjk_font, body_on=body))
    cleaned = clean_report(read_document(path, root, 1 << 20).text, laid_out=True)
    assert BODY[0] in cleaned.body and BODY[3] in cleaned.body
    assert "不构成投资建议" in cleaned.boilerplate and "不构成投资建议" not in cleaned.body


def test_one_disclaimer_sentence_in_a_single_line_text_leaves_the_rest_ranked():
    line = "".join(BODY[:2]) + "本报告仅供参考，不构成投资建议。" + "".join(BODY[2:]) * 6
    cleaned = clean_report("行业周报：量价共振\n" + line)
    assert cleaned.body_len == len(cleaned.text)
    assert BODY[3] in cleaned.body
    assert len(split_paragraphs(line)) >= 2  # cut into paragraphs of whole sentences


def test_a_disclaimer_section_at_the_end_of_a_single_line_text_is_boilerplate():
    line = "".join(BODY) * 8 + "免责声明：本报告仅供本公司客户使用。未经书面许可，不得转载。分析师承诺：观点独立。"
    cleaned = clean_report(line)
    assert BODY[2] in cleaned.body and "本报告仅供本公司客户使用" in cleaned.boilerplate


# --- metadata from the text ---------------------------------------------------------------


def test_cover_title_is_the_largest_type_and_markers_never_become_titles(tmp_path, cjk_font):
    cover = [(60, 40, 9, "证券研究报告|金融工程"), (60, 70, 9, "＃assAuthor＃"),
             (60, 100, 9, "2024-05-01《上一期的周报》"), (60, 120, 10, "2025年3月18日"),
             (60, 200, 22, "[Table_Title] 量价共振与行业轮动"), (60, 230, 22, "新框架"),
             (60, 300, 10.5, BODY[0]), (60, 324, 10.5, BODY[1])]
    path, root = write(tmp_path, "doc_04.pdf", layout_pdf(cjk_font, [cover, [(60, 100, 10.5, BODY[2])]]))
    report = prepare_report(path, root, 1 << 20)
    assert report.title == "量价共振与行业轮动新框架"
    assert report.date == "2025-03-18"  # the cover's own date, not the related report's
    text = clean_report(read_document(path, root, 1 << 20).text, laid_out=True).text
    assert "Table" not in text and "assAuthor" not in text and "＃" not in text


def test_a_labelled_cover_date_wins(tmp_path, cjk_font):
    cover = [(60, 100, 9, "2025年3月18日"), (60, 120, 9, "发布日期：2025-03-10"), (60, 200, 20, "量价共振与行业轮动"),
             (60, 300, 10.5, BODY[0])]
    path, root = write(tmp_path, "doc_05.pdf", layout_pdf(cjk_font, [cover]))
    assert prepare_report(path, root, 1 << 20).date == "2025-03-10"


def test_a_text_takes_its_first_line_as_title_not_its_file_name(tmp_path):
    path, root = write(tmp_path, "某某券商下载的研报文件名.txt", ("量价共振与行业轮动新框架\n" + "".join(BODY)).encode())
    assert prepare_report(path, root, 1 << 20).title == "量价共振与行业轮动新框架"


def test_private_use_bullets_become_bullets():
    assert split_paragraphs("\uf06c 罗伯·瑞克，华尔街著名的资本大鳄。\n要点\uf0a7结束。") == ["•罗伯·瑞克，华尔街著名的资本大鳄。", "要点结束。"]


@pytest.mark.parametrize("marked, clean", [
    ("Tabl e_Title 行业有效量价因子", "行业有效量价因子"),
    ("[table_research] 行业研究", "行业研究"),
    ("[TABLE_SUMMARY]投资要点", "投资要点"),
    ("＃assAuthor＃ 分析师", "分析师"),
])
def test_layout_markers_in_any_spelling_are_dropped(marked, clean):
    assert split_paragraphs(marked) == [clean]


# --- pages of passages --------------------------------------------------------------------


@pytest.fixture
def paged_index(tmp_path, cjk_font, settings_factory):
    body = {n: [BODY[n % 4], f"第{n}页独有的句子：量价共振在第{n}个阶段失效。"] for n in range(1, 7)}
    write(tmp_path, "doc_06.pdf", paged_report(cjk_font, body_on=body))
    write(tmp_path, "notes.txt", ("量价共振笔记\n" + BODY[0]).encode())
    settings = settings_factory()
    Indexer(settings).build()
    return settings


def test_every_passage_knows_its_page(paged_index):
    searcher = ArchiveSearcher(paged_index)
    for page in (1, 3, 6):
        answer = searcher.search(parse_request({"q": f'"第{page}页独有的句子"'}, paged_index))
        [hit] = answer["hits"]
        assert [p["page"] for p in hit["passages"]] == [page]
        assert [p["html"] for p in hit["passages"]] == hit["snippets"]
    answer = searcher.search(parse_request({"q": "量价共振"}, paged_index))
    pages = {hit["path"]: [p["page"] for p in hit["passages"]] for hit in answer["hits"]}
    assert pages["notes.txt"] == [None]
    assert all(isinstance(p, int) for p in pages["doc_06.pdf"])


def test_results_link_each_passage_to_its_page_of_the_original(paged_index):
    client = create_app(paged_index).test_client()
    page = client.get("/search", query_string={"q": '"第3页独有的句子"'}).data.decode()
    [link] = re.findall(r'<a class="page-link" href="([^"]+)"[^>]*>第 3 页</a>', page)
    assert link.endswith("/raw#page=3")
    raw = client.get(link.split("#")[0])
    assert raw.status_code == 200 and raw.headers["Content-Type"] == "application/pdf"
    assert raw.headers["Content-Disposition"].startswith("inline;")
    report_id = link.split("/")[2]
    document = client.get(f"/api/documents/{report_id}").json
    assert [p for _, p in document["pages"]] == [1, 2, 3, 4, 5, 6]
    view = client.get(f"/documents/{report_id}").data.decode()
    assert [int(n) for n in re.findall(r'<div class="page-break" id="page-(\d+)"', view)] == [2, 3, 4, 5, 6]


def test_text_set_vertically_is_a_banner_not_prose(tmp_path, cjk_font):
    banner = [(20, 200 + 14 * i, 12, ch) for i, ch in enumerate("证券研究报告金融工程")]
    page = banner + [(80, 200, 10.5, BODY[0]), (80, 224, 10.5, BODY[1])]
    path, root = write(tmp_path, "doc_07.pdf", layout_pdf(cjk_font, [page]))
    text = clean_report(read_document(path, root, 1 << 20).text, laid_out=True).text
    assert BODY[0] in text and "研究报告" not in text and "究" not in text.replace(BODY[0], "").replace(BODY[1], "")


def test_a_line_naming_the_kind_of_report_gives_way_to_the_subject(tmp_path, cjk_font):
    cover = [(60, 100, 16, "2025中期策略会专题报告"), (60, 140, 16, "基于小波分析的指数预测模型"),
             (60, 200, 10.5, BODY[0]), (60, 224, 10.5, BODY[1])]
    path, root = write(tmp_path, "doc_08.pdf", layout_pdf(cjk_font, [cover]))
    assert prepare_report(path, root, 1 << 20).title == "基于小波分析的指数预测模型"


def test_a_cover_date_earlier_than_the_data_it_reports_is_not_trusted():
    from indexer.metadata import extract_metadata

    body = "回测区间为2005年1月4日至2022年4月15日，组合年化收益15%。" + "".join(BODY)
    assert extract_metadata(f"报告日期：2020年05月16日\n{body}", {}, "doc.pdf").date == ""
    assert extract_metadata(f"报告日期：2022年05月16日\n{body}", {}, "doc.pdf").date == "2022-05-16"


# --- bounded reading --------------------------------------------------------------------


@pytest.mark.parametrize("limits, reason", [
    ({"pdf_memory_mb": 300}, "crashed the reader"),           # PDFium aborts when its memory cap is hit
    ({"pdf_memory_mb": 4096, "pdf_seconds": 0.3}, "took too long to read"),
])
def test_a_pdf_that_expands_past_its_limits_fails_alone_and_is_not_retried(tmp_path, settings_factory, limits, reason):
    from conftest import pdf_bomb

    root = tmp_path / "archive"
    root.mkdir()
    (root / "bomb.pdf").write_bytes(pdf_bomb(40))   # 40 KB that expand to 40 MB of drawing operators
    settings = settings_factory(archive=limits)
    Indexer(settings).build()
    (root / "after.txt").write_text("量价共振笔记\n" + BODY[0], encoding="utf-8")
    result = Indexer(settings).sync()
    assert [(r.path, r.status) for r in result.receipts] == [("after.txt", "indexed")]  # the bomb is not read again
    from indexer.store import IndexStore

    failed = IndexStore(settings).read_status()["failed"]
    assert reason in failed["bomb.pdf"]["reason"] and "until it changes" in failed["bomb.pdf"]["reason"]
    answer = ArchiveSearcher(settings).search(parse_request({"q": "量价共振"}, settings))
    assert [h["path"] for h in answer["hits"]] == ["after.txt"]


def test_a_dead_sandbox_process_is_replaced(tmp_path, cjk_font):
    from indexer.sandbox import sandbox

    child = sandbox()
    data = layout_pdf(cjk_font, [[(60, 100, 10.5, BODY[0])]])
    assert BODY[0] in child.run("pdf", (data, 100, 10**6), 1024, 60).pages[0]
    child._process.kill()   # as the kernel would kill it
    child._process.join()
    assert BODY[0] in child.run("pdf", (data, 100, 10**6), 1024, 60).pages[0]


def test_a_title_on_two_lines_is_joined_up_to_its_dashed_subtitle(tmp_path, cjk_font):
    cover = [(60, 100, 16, "个股动量效应的识别及因子"), (60, 130, 16, "构建——多因子选股系列研究之四"),
             (60, 220, 10.5, BODY[0]), (60, 244, 10.5, BODY[1])]
    path, root = write(tmp_path, "doc_09.pdf", layout_pdf(cjk_font, [cover]))
    assert prepare_report(path, root, 1 << 20).title == "个股动量效应的识别及因子构建"
