"""Cleaning: PDF line repair, digit spacing, markers, watermarks, boilerplate, folding."""

import pytest

from conftest import SAMPLES
from indexer.normalize import clean_inline, clean_report, fold, normalize_query_text, split_paragraphs


def sample(name_part: str) -> str:
    [path] = [p for p in SAMPLES.iterdir() if name_part in p.name]
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("raw, expected", [
    ("2025 年 1 月 20 日", "2025年1月20日"),
    ("ＡＩ 大模型", "AI大模型"),
    ("DeepSeek 发布了 DeepSeek-R1", "DeepSeek发布了DeepSeek-R1"),
    ("OpenAI o1 模型", "OpenAI o1模型"),
    ("百万 Token 输出仅需 16 元", "百万Token输出仅需16元"),
    ("a\u3000 b", "a b"),
])
def test_clean_inline(raw, expected):
    assert clean_inline(raw) == expected


@pytest.mark.parametrize("name_part, joined", [
    # Lines broken by the PDF page width, with blank lines between them (浦银国际 sample).
    ("模型成本大幅下降", "DeepSeek R1是在此前DeepSeek-V3的模型基础上，通过强化学习和知识蒸馏等技术进一步优化推理能力的模型。"),
    ("模型成本大幅下降", "DeepSeek R1具有6,710亿参数，在数学、编程、自然语言推理等方面能力比肩OpenAI o1模型"),
    # Its title, broken short inside the word 成本 (shorter than the page width: joined as a word).
    ("模型成本大幅下降", "DeepSeek之AI大模型解读：模型成本大幅下降，国产化全方位加速"),
    # 华安证券 sample: a break inside a number context and before "多个".
    ("双重突破", "该模型在多个基准测试中表现出色"),
    ("双重突破", "略高于o1的79.2%；在MATH-500基准测试中"),
    # 开源证券 sample: spaced digits in a date.
    ("智能车产业升级加速", "2025年1月20日，DeepSeek发布了DeepSeek-R1"),
])
def test_pdf_broken_lines_are_joined(name_part, joined):
    assert joined in clean_report(sample(name_part)).text


@pytest.mark.parametrize("raw, paragraphs", [
    # Text boxes of a broker PDF (申万宏源): one character left on a line of its own.
    ("既能给主动投资\n者\n\n提供参考", ["既能给主动投资者", "提供参考"]),
    ("因\n此测\n试过程没有加入主观判断", ["因此测试过程没有加入主观判断"]),
    # A short title that merely ends where a word could start (通水|平陆 holds 水平): kept apart.
    ("平陆运河南宁段通水\n平陆运河南宁段昨天（28日）通水。", ["平陆运河南宁段通水", "平陆运河南宁段昨天（28日）通水。"]),
    # Never after closing punctuation, nor before a list item.
    ("风险提示：\n本报告所述", ["风险提示：", "本报告所述"]),
    ("投资要点\n一、点评", ["投资要点", "一、点评"]),
])
def test_short_lines_broken_inside_a_word_are_joined(raw, paragraphs):
    assert split_paragraphs(raw) == paragraphs


def test_markers_and_watermarks_are_dropped():
    cleaned = clean_report(sample("双重突破")).text
    assert "[Table_" not in cleaned
    raw = "正文第一段。\n[Table_Summary] 要点\n请务必阅读正文之后的免责声明部分\n- 12 -\n慧博资讯 www.hibor.com.cn\n第二段。"
    assert split_paragraphs(raw) == ["正文第一段。", "要点", "第二段。"]


@pytest.mark.parametrize("name_part, body_phrase, boiler_phrase", [
    ("智能车产业升级加速", "对智能驾驶将产生深远影响", "分析师承诺"),
    ("双重突破", "DeepSeek主要通过训练流程设计", "本报告署名分析师具有中国证券业协会授予的证券投资咨询执业资格"),
    ("模型成本大幅下降", "海外市场主要有两方面的担忧", "证券评级定义"),
    ("撼动全球AI产业", "开源模型DeepSeek-R1性能对标OpenAI o1正式版", "本报告版权归东莞证券股份有限公司"),
])
def test_boilerplate_is_separated_from_body(name_part, body_phrase, boiler_phrase):
    cleaned = clean_report(sample(name_part))
    assert body_phrase in cleaned.body
    assert boiler_phrase not in cleaned.body
    assert boiler_phrase in cleaned.boilerplate
    assert cleaned.text.startswith(cleaned.body)


def test_rating_definitions_are_boilerplate_not_body():
    # "买入" must not match every report through its rating definitions first.
    for path in SAMPLES.iterdir():
        body = clean_report(path.read_text(encoding="utf-8")).body
        assert "未来6-12个月的投资收益率领先市场基准指数" not in body


@pytest.mark.parametrize("text, folded", [
    ("ＡＩ", "ai"),
    ("DeepSeek", "deepseek"),
    ("國產化", "国产化"),
    ("證券研究報告", "证券研究报告"),
    ("１２３％", "123%"),
])
def test_fold(text, folded):
    assert fold(text) == folded
    assert len(fold(text)) == len(text)


def test_fold_keeps_length_on_everything():
    text = "".join(chr(c) for c in range(0x20, 0xD7FF))
    assert len(fold(text)) == len(text)


def test_query_and_document_normalize_alike():
    doc = fold(clean_report("2025 年 1 月 20 日，ＤｅｅｐＳｅｅｋ 發佈模型。").text)
    for query in ["2025 年 1 月", "deepseek發佈", "DeepSeek 发布"]:
        assert normalize_query_text(query) in doc
