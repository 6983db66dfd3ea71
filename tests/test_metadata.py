"""Metadata extraction: the bundled sample reports, file names, dates, codes, brokers, front matter."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from indexer.metadata import (
    Analyst,
    ReportMeta,
    extract_metadata,
    normalize_broker,
    parse_date,
    parse_filename,
    stock_codes_from_text,
)

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "reports"


def split_front_matter(raw: str) -> tuple[dict, str]:
    """The YAML block between the first two '---' lines, and the text after it."""
    lines = raw.split("\n")
    if lines and lines[0].strip() == "---":
        for end, line in enumerate(lines[1:], start=1):
            if line.strip() == "---":
                return yaml.safe_load("\n".join(lines[1:end])) or {}, "\n".join(lines[end + 1:])
    return {}, raw


def sample_meta(name: str) -> ReportMeta:
    front_matter, text = split_front_matter((SAMPLES / name).read_text(encoding="utf-8"))
    return extract_metadata(text, front_matter, name)


KAIYUAN_AUTO = "DeepSeek-R1横空出世，智能车产业升级加速.txt"
DONGGUAN = "Deepseek撼动全球AI产业，助力AI应用、AI端侧落地加速.txt"
KAIYUAN_WEEKLY = "中小盘周报：DeepSeek横空出世，AI产业发展至新阶段.md"
SPDBI = "DeepSeek之AI大模型解读：模型成本大幅下降，国产化全方位加速.txt"
HUAAN = "DeepSeek取得AI模型性能和成本的双重突破.txt"

# What the texts truly say. 浦银国际 and 华安证券 state no publish date, rating or industry.
SAMPLE_TABLE = [
    (
        KAIYUAN_AUTO,
        "DeepSeek-R1横空出世，智能车产业升级加速", "开源证券", "2025-02-04", "看好", "维持", "汽车",
        (Analyst("任浪", "S0790519100001"), Analyst("赵旭杨", "S0790523090002")),
    ),
    (
        DONGGUAN,
        "Deepseek撼动全球AI产业，助力AI应用、AI端侧落地加速", "东莞证券", "2025-02-04", "超配", "维持", "计算机",
        (
            Analyst("罗炜斌", "S0340521020001"),
            Analyst("卢芷心", "S0340524100001"),
            Analyst("陈湛谦", "S0340524070002"),
        ),
    ),
    (
        KAIYUAN_WEEKLY,
        "中小盘周报：DeepSeek横空出世，AI产业发展至新阶段", "开源证券", "2025-02-09", "", "", "", (),
    ),
    (
        SPDBI,
        "DeepSeek之AI大模型解读：模型成本大幅下降，国产化全方位加速", "浦银国际", "", "", "", "", (),
    ),
    (
        HUAAN,
        "DeepSeek取得AI模型性能和成本的双重突破", "华安证券", "", "", "", "",
        (Analyst("金荣", "S0010521080002"),),
    ),
]


@pytest.mark.parametrize(
    ("name", "title", "broker", "date", "rating", "action", "industry", "analysts"),
    SAMPLE_TABLE,
    ids=[row[2] + "-" + row[0][:12] for row in SAMPLE_TABLE],
)
def test_sample_reports(name, title, broker, date, rating, action, industry, analysts):
    meta = sample_meta(name)
    assert (meta.title, meta.broker, meta.date) == (title, broker, date)
    assert (meta.rating, meta.rating_action, meta.industry) == (rating, action, industry)
    assert meta.analysts == analysts


def test_samples_without_file_name_still_give_broker_date_and_title():
    front_matter, text = split_front_matter((SAMPLES / DONGGUAN).read_text(encoding="utf-8"))
    meta = extract_metadata(text, front_matter, "report.txt")
    assert meta.title == "Deepseek撼动全球AI产业，助力AI应用、AI端侧落地加速"
    assert (meta.broker, meta.date, meta.rating) == ("东莞证券", "2025-02-04", "超配")


def test_title_broken_by_pdf_is_joined():
    text = (SAMPLES / SPDBI).read_text(encoding="utf-8")
    meta = extract_metadata(text, {}, "a1b2c3.txt")
    assert meta.title == "DeepSeek之AI大模型解读：模型成本大幅下降，国产化全方位加速"


def test_sample_stock_codes_keep_suffix_as_written():
    codes = sample_meta(SPDBI).stock_codes
    assert codes[:2] == ("NVDA.US", "TSM.US")
    for code in ("1810.HK", "285.HK", "002594.CH", "300433.CH", "MBLY.US", "688396.CH"):
        assert code in codes
    assert len(codes) == len(set(codes))
    assert sample_meta(KAIYUAN_AUTO).stock_codes == ()


@pytest.mark.parametrize(
    ("filename", "date", "broker", "title"),
    [
        ("20200721-开源证券-汽车行业周报.pdf", "2020-07-21", "开源证券", "汽车行业周报"),
        ("20140804_国信证券_量化择时系列报告之二：国信投资者情绪指数择时模型.pdf", "2014-08-04", "国信证券",
         "量化择时系列报告之二：国信投资者情绪指数择时模型"),
        ("开源证券-中小盘周报：AI产业发展至新阶段-20200721.txt", "2020-07-21", "开源证券", "中小盘周报：AI产业发展至新阶段"),
        ("20151019-申万宏源-申万大师系列.价值投资篇之十三.pdf", "2015-10-19", "申万宏源", "申万大师系列.价值投资篇之十三"),
        ("20250204-华安证券研究所-DeepSeek取得突破.pdf", "2025-02-04", "华安证券", "DeepSeek取得突破"),
        ("20250204-浦银国际证券-AI大模型解读.pdf", "2025-02-04", "浦银国际", "AI大模型解读"),
        ("archive/2025/20250204-某某期货-原油周报.txt", "2025-02-04", "某某期货", "原油周报"),
        ("DeepSeek-R1横空出世，智能车产业升级加速.txt", "", "", "DeepSeek-R1横空出世，智能车产业升级加速"),
        ("20251399-开源证券-标题不是日期.pdf", "", "", "20251399-开源证券-标题不是日期"),
        ("report_2024.pdf", "", "", ""),
        ("3f9a1c.txt", "", "", ""),
    ],
)
def test_file_name_patterns(filename, date, broker, title):
    fields = parse_filename(filename)
    assert (fields.date, fields.broker, fields.title) == (date, broker, title)


@pytest.mark.parametrize(
    ("header_line", "expected"),
    [
        ("2025年02月04日", "2025-02-04"),
        ("2025 年 2 月 4 日", "2025-02-04"),
        ("2025-02-04", "2025-02-04"),
        ("2025.02.04", "2025-02-04"),
        ("2025/2/4", "2025-02-04"),
        ("发布日期：2025-02-04", "2025-02-04"),
        ("证券研究报告 | 2025年02月04日 星期二", "2025-02-04"),
        ("2025-02-30", ""),
        ("2025.02/04", ""),
        ("行情回顾（2025.6.2-6.6）", ""),
        ("截至 2025 年 8 月 29 日：", ""),
    ],
)
def test_header_date_formats(header_line, expected):
    text = f"计算机\n\n{header_line}\n\n人工智能产业周度跟踪与投资机会展望\n\n正文第一段。\n"
    assert extract_metadata(text, {}, "").date == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-02-09 19:50:00", "2025-02-09"),
        ("2025-02-09T19:50:00+08:00", "2025-02-09"),
        (dt.date(2025, 2, 9), "2025-02-09"),
        (dt.datetime(2025, 2, 9, 19, 50), "2025-02-09"),
        (20250209, "2025-02-09"),
        ("2025年2月9日", "2025-02-09"),
        ("soon", ""),
        (None, ""),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


def test_date_of_a_related_report_is_not_the_date():
    text = "\n".join([
        "汽车",
        "智能车产业升级加速的三条主线",
        "投资评级：看好（维持）",
        "相关研究报告",
        "《Robotaxi 已至，自动驾驶风起——2025 年投资策略》-2024.12.25",
        "《政策加码需求有支撑——行业深度报告》-2024.11.15",
        "● 2025 年 1 月 20 日，DeepSeek 发布了 DeepSeek-R1，并同步开源。",
    ])
    meta = extract_metadata(text, {}, "")
    assert meta.date == ""
    assert (meta.title, meta.industry, meta.rating, meta.rating_action) == (
        "智能车产业升级加速的三条主线", "汽车", "看好", "维持")


def test_stock_codes():
    text = (
        "英伟达（NVDA.US）与英伟达（NVDA.O）、阿里（BABA.N）、小米（1810.HK）、美团（03690.hk）、"
        "比亚迪（002594.SZ、002594.CH）、茅台（600519.sh）、北交所（830799.BJ）、台积电（2330.TW）。"
        "不是代码：600519、12.5%、3.14.HK、1234567.SH、ABC.USD、U.S. 经济、A.O. Smith、v1.2.3。"
    )
    assert stock_codes_from_text(text) == (
        "NVDA.US", "NVDA.O", "BABA.N", "1810.HK", "03690.HK", "002594.SZ", "002594.CH", "600519.SH",
        "830799.BJ", "2330.TW",
    )


def test_broker_named_only_in_a_biography_is_not_the_broker():
    # The PDF broke the line so that the old employer stands alone on one, like an address block.
    text = (
        "互联网传媒行业点评\n\nAI 应用迎来加速落地的新阶段\n\n"
        "分析师：金荣，香港中文大学经济学硕士，曾就职于\n申万宏源证券研究所\n及头部互联网公司。"
        "执业证书编号：S0010521080002\n"
    )
    meta = extract_metadata(text, {}, "")
    assert meta.broker == ""
    assert meta.analysts == (Analyst("金荣", "S0010521080002"),)
    assert extract_metadata(text.replace("曾就职于", ""), {}, "").broker == "申万宏源"  # the control


def test_broker_mentioned_in_body_or_related_list_is_not_the_broker():
    text = (
        "证券行业周报\n\n券商板块估值修复进行时\n\n相关研究\n《中信证券深度报告》-2024.12.25\n\n"
        "中信证券、华泰证券本周涨幅居前，中信证券成交额第一。据国泰君安测算，行业 ROE 有望回升。\n"
    )
    assert extract_metadata(text, {}, "").broker == ""


@pytest.mark.parametrize(
    ("signal", "broker"),
    [
        ("来源: 开源证券", "开源证券"),
        ("开源证券研究所", "开源证券"),
        ("本报告由华安证券股份有限公司在中华人民共和国提供。", "华安证券"),
        ("本报告版权归东莞证券股份有限公司及相关内容提供方所有。", "东莞证券"),
        ("本报告的版权仅为浦银国际证券所有，未经书面许可不得转发。", "浦银国际"),
        ("邮箱：analyst@kysec.cn", "开源证券"),
        ("网址：www.dgzq.com.cn", "东莞证券"),
        ("本报告版权归某某证券股份有限公司所有。", "某某证券"),
        ("中国银河证券股份有限公司是经中国证监会批准设立的证券经营机构。", "银河证券"),
    ],
)
def test_broker_signals(signal, broker):
    text = f"行业点评报告\n\n人工智能产业迎来新阶段\n\n正文第一段。\n\n{signal}\n"
    assert extract_metadata(text, {}, "").broker == broker


def test_two_brokers_claiming_the_report_give_no_broker():
    text = "正文。\n\n本报告由华安证券股份有限公司提供。\n\n本报告版权归东莞证券股份有限公司所有。\n"
    assert extract_metadata(text, {}, "").broker == ""


@pytest.mark.parametrize(
    ("raw", "short"),
    [
        ("东莞证券股份有限公司", "东莞证券"),
        ("浦银国际证券", "浦银国际"),
        ("华安证券研究所", "华安证券"),
        ("东莞证券股份有限公司研究所", "东莞证券"),
        ("中国银河证券", "银河证券"),
        ("国泰君安证券", "国泰君安"),
        ("中国国际金融股份有限公司", "中金公司"),
    ],
)
def test_normalize_broker(raw, short):
    assert normalize_broker(raw) == short


@pytest.mark.parametrize(
    ("header", "rating", "action"),
    [
        ("投资评级：看好（维持）", "看好", "维持"),
        ("超配（维持）", "超配", "维持"),
        ("买入（首次）", "买入", "首次"),
        ("评级：增持", "增持", ""),
        ("维持“买入”评级", "买入", "维持"),
        ("首次覆盖，给予“增持”评级", "增持", "首次"),
        ("上调至“强烈推荐”评级", "强烈推荐", "上调"),
        ("“买入”：未来 12 个月，预期个股表现超过同期其所属的行业指数", "", ""),
    ],
)
def test_rating(header, rating, action):
    text = f"计算机\n\n人工智能产业迎来新阶段\n\n{header}\n\n正文第一段。\n"
    meta = extract_metadata(text, {}, "")
    assert (meta.rating, meta.rating_action) == (rating, action)


def test_rating_definitions_in_the_disclaimer_are_not_the_rating():
    text = "人工智能产业迎来新阶段\n\n正文第一段。\n\n投资评级说明\n\n证券评级\t买入（Buy）\t预计相对强于市场表现 20%以上；\n"
    assert extract_metadata(text, {}, "").rating == ""


@pytest.mark.parametrize(
    ("header", "industry"),
    [
        ("汽车\n\n2025年02月04日\n\n智能车产业升级加速的三条主线", "汽车"),
        ("超配（维持）\n\n智能车产业升级加速的三条主线\n\n计算机行业事件点评", "计算机"),
        ("行业：电力设备\n\n储能需求超预期的三个原因", "电力设备"),
        ("证券研究报告 | 行业研究 | 食品饮料\n\n白酒需求筑底", "食品饮料"),
        ("智能车产业升级加速的三条主线", ""),
    ],
)
def test_industry(header, industry):
    assert extract_metadata(header + "\n\n正文第一段。\n", {}, "").industry == industry


def test_analysts_with_sac_on_the_same_line_or_below():
    text = (
        "分析师：罗炜斌（SAC 执业证书编号：S0340521020001）\n电话：0769-22110619\n"
        "任浪（分析师）\n\n赵旭杨（分析师）\n\nrenlang@kysec.cn\n证书编号：S0790519100001\n证书编号：S0790523090002\n"
        "分析师\n程志田\n执业证书编号：S0350209110592\n"
        "证券分析师：李忠谦 林晓明\n执业证书编码：S0980514070001\n执业证书编码：S0980512020001\n"
        "本报告署名分析师具有中国证券业协会授予的证券投资咨询执业资格。分析师承诺：\n"
    )
    assert extract_metadata(text, {}, "").analysts == (
        Analyst("罗炜斌", "S0340521020001"),
        Analyst("任浪", "S0790519100001"),
        Analyst("赵旭杨", "S0790523090002"),
        Analyst("程志田", "S0350209110592"),
        Analyst("李忠谦", "S0980514070001"),
        Analyst("林晓明", "S0980512020001"),
    )


def test_front_matter_wins():
    text = (SAMPLES / KAIYUAN_AUTO).read_text(encoding="utf-8")
    front_matter = {
        "title": "  自定义标题  ",
        "date": "2025-03-01 08:00:00",
        "机构": "东莞证券股份有限公司",
        "author": "任浪、张三",
        "rating": "买入（首次）",
        "industry": "汽车零部件",
    }
    meta = extract_metadata(text, front_matter, "20200721-国信证券-别的标题.pdf")
    assert (meta.title, meta.date, meta.broker) == ("自定义标题", "2025-03-01", "东莞证券")
    assert (meta.rating, meta.rating_action, meta.industry) == ("买入", "首次", "汽车零部件")
    assert meta.analysts == (Analyst("任浪", "S0790519100001"), Analyst("张三", ""))


def test_title_from_the_text_date_and_broker_from_the_file_name_front_matter_fills_gaps():
    text = (SAMPLES / KAIYUAN_AUTO).read_text(encoding="utf-8")
    front_matter = {"tags": ["hibor", "电子"], "source": "https://example.com/x"}
    meta = extract_metadata(text, front_matter, "20200721-国信证券-别的标题.pdf")
    assert (meta.title, meta.date, meta.broker, meta.industry) == (
        "DeepSeek-R1横空出世，智能车产业升级加速", "2020-07-21", "国信证券", "电子")
    # a text without a title line takes the file name's
    meta = extract_metadata("。" + text.split("\n", 3)[3], {}, "20200721-国信证券-别的标题.pdf")
    assert meta.title == "别的标题"
    assert (meta.rating, meta.rating_action) == ("看好", "维持")


@pytest.mark.parametrize(
    "front_matter",
    [{"categories": ["hibor"], "tags": ["hibor"]}, {"category": "行业分析"}, {"source": "hibor"}],
)
def test_free_form_front_matter_is_not_taken_for_industry_or_broker(front_matter):
    meta = extract_metadata("人工智能产业迎来新阶段\n\n正文。\n", front_matter, "")
    assert (meta.industry, meta.broker) == ("", "")


@pytest.mark.parametrize(
    "text",
    ["", "\n\n\n", "---\ntitle: x\n---\n", "。" * 5000, "分析师：\n" * 50, "S0790519100001 " * 20, "\ufeff汽车"],
)
def test_degenerate_input_gives_empty_fields(text):
    meta = extract_metadata(text, {}, "")
    assert meta.broker == "" and meta.date == "" and meta.analysts == ()


def test_front_matter_analysts_as_mappings_are_names_not_json(tmp_path):
    from indexer.documents import read_document

    path = tmp_path / "a.md"
    path.write_text("---\ntitle: 周报\nanalysts:\n  - name: 任浪\n    sac: S0790519100001\n  - name: 赵旭杨\n---\n\n正文。\n",
                    encoding="utf-8")
    raw = read_document(path, tmp_path, 1 << 20)
    meta = extract_metadata(raw.text, raw.front_matter, path.name)
    assert [(a.name, a.sac) for a in meta.analysts] == [("任浪", "S0790519100001"), ("赵旭杨", "")]
