"""Search semantics (DESIGN.md §3) on a real index: matching, phrases, operators, filters, pages."""

import random
import re

import pytest

from indexer.analysis import query_words
from indexer.errors import InvalidRequest, QueryTooLong
from indexer.indexing import Indexer
from indexer.normalize import fold, normalize_query_text
from indexer.search import ArchiveSearcher
from indexer.query import SearchRequest, parse_query, parse_request
from indexer.snippets import Needle, build_snippets

from conftest import ALL_SAMPLES as ALL, DONGGUAN, HUAAN, KAIYUAN, SPDBI, WEEKLY, make_settings


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    from conftest import SAMPLES, make_settings
    import shutil

    tmp = tmp_path_factory.mktemp("search")
    shutil.copytree(SAMPLES, tmp / "archive")
    extra = tmp / "archive" / "extra"
    extra.mkdir()
    (extra / "工程.md").write_text("---\ntitle: 基建专题\ndate: 2024-06-01\n---\n\n本季度在建工程同比增长。NVIDIA（NVDA.US）发布新品。\n", encoding="utf-8")
    (extra / "繁體.txt").write_text("國海證券：半導體國產化進程加速。\n", encoding="utf-8")
    settings = make_settings(tmp, tmp / "archive")
    Indexer(settings).build()
    return ArchiveSearcher(settings)


def paths(searcher, q, **params):
    answer = searcher.search(parse_request({"q": q, "size": 100, **params}, searcher.settings))
    return {hit["path"].split("/")[-1] for hit in answer["hits"]}


@pytest.mark.parametrize("q, expected", [
    ("横空出世", {KAIYUAN, WEEKLY}),
    ('"横空出世"', {KAIYUAN, WEEKLY}),
    ("模型", ALL),                                        # also inside 大模型
    ("在建", {"工程.md"}),                                 # inside 在建工程
    ('"型大"', {DONGGUAN}),                                # crosses a jieba word boundary
    ('"能车产"', {KAIYUAN}),
    ("ＡＩ", ALL - {KAIYUAN} | {KAIYUAN}),                # width-insensitive Latin word
    ("nvda", {"工程.md", SPDBI}),                          # case-insensitive whole word
    ("nvd", set()),                                        # whole words only
    ("国产化", {SPDBI, "繁體.txt"}),                        # traditional folded to simplified
    ('"國產化"', {SPDBI, "繁體.txt"}),
    ("固态电池", set()),
    ("横空出世 OR 在建工程", {KAIYUAN, WEEKLY, "工程.md"}),
    ("DeepSeek -横空出世", {DONGGUAN, SPDBI, HUAAN}),
    ("DeepSeek NOT 横空出世", {DONGGUAN, SPDBI, HUAAN}),
    ("title:周报", {WEEKLY}),
    ("broker:东莞证券", {DONGGUAN}),
    ("broker:开源证券 横空出世", {KAIYUAN, WEEKLY}),
    ('"2025年1月20日"', {KAIYUAN, DONGGUAN, WEEKLY}),
    ('"2025 年 1 月 20 日"', {KAIYUAN, DONGGUAN, WEEKLY}),
])
def test_query_table(searcher, q, expected):
    assert paths(searcher, q) == expected


def test_chinese_quotes_make_a_phrase(searcher):
    assert paths(searcher, "“能车产”") == {KAIYUAN}
    assert parse_query("“能车产”").to_json()["phrases"] == ["能车产"]


def test_or_matches_either(searcher):
    assert paths(searcher, "在建工程 OR 端侧") == {"工程.md"} | paths(searcher, "端侧")


@pytest.mark.parametrize("q", ['"unclosed', "OR 模型", "模型 OR", "NOT", "-", "title:", "broker:", '""', "((模型", "a:b:c 模型", "****"])
def test_malformed_queries_degrade_never_raise(searcher, q):
    """Syntax never errors: a query with something searchable left runs, one with nothing is 'empty'."""
    parsed = parse_query(q)
    if parsed.clauses or parsed.excluded or parsed.filters:
        answer = searcher.search(parse_request({"q": q}, searcher.settings))
        assert answer["ok"] and isinstance(answer["parsed"]["notes"], list)
    else:
        with pytest.raises(InvalidRequest, match="empty"):
            searcher.search(parse_request({"q": q}, searcher.settings))


def test_parsed_query_says_how_it_was_understood():
    parsed = parse_query('智能车产业 "型大" -广告 OR title:周报 broker:开源证券 "unclosed').to_json()
    assert parsed["segmentation"].startswith(" / ".join(query_words("智能车产业")) + " / ")
    assert parsed["phrases"] == ["型大"]
    assert parsed["filters"] == {"broker": ["开源证券"]}
    assert parsed["excluded"] == ["广告"]
    assert [note["code"] for note in parsed["notes"]] == ["unmatched_quote"]
    assert "quote" in parsed["notes"][0]["text"]


@pytest.mark.parametrize("query, any_of, excluded, codes", [
    ("模型 or 算力", [["模型", "算力"]], [], ["lowercase_operator"]),
    ("模型 not 汽车", [], ["汽车"], ["lowercase_operator"]),
    ("模型 OR 算力", [["模型", "算力"]], [], []),
    ('模型 "or" 算力', [], [], []),            # quoted: the word itself
    ("or", [], [], []),                         # alone: a word, nothing to join
    ("writer:任浪", [], [], ["unknown_field"]),
    ("见 https://example.com", [], [], []),     # a URL is text, not a mistyped field
])
def test_operators_in_lower_case_and_unknown_fields_are_explained(query, any_of, excluded, codes):
    parsed = parse_query(query).to_json()
    assert parsed["any_of"] == any_of and parsed["excluded"] == excluded
    assert [note["code"] for note in parsed["notes"]] == codes


def test_an_unknown_field_note_names_the_fields():
    note = parse_query("writer:任浪").to_json()["notes"][0]
    assert note["params"]["prefix"] == "writer" and "analyst" in note["params"]["fields"]


def test_too_many_terms_is_refused():
    with pytest.raises(QueryTooLong):
        parse_query(" ".join(f"w{i}" for i in range(40)), max_terms=32)


def test_filters_and_facets_cover_the_whole_result_set(searcher):
    answer = searcher.search(parse_request({"q": "DeepSeek", "size": 1}, searcher.settings))
    assert answer["total"] == 5 and len(answer["hits"]) == 1
    brokers = dict(map(tuple, answer["facets"]["broker"]))
    assert brokers == {"开源证券": 2, "东莞证券": 1, "浦银国际": 1, "华安证券": 1}
    narrowed = searcher.search(parse_request({"q": "DeepSeek", "broker": "开源证券"}, searcher.settings))
    assert narrowed["total"] == 2


def test_date_range_and_sort_by_date(searcher):
    assert paths(searcher, "DeepSeek", **{"from": "2025-02-05"}) == {WEEKLY}
    assert paths(searcher, "DeepSeek", **{"to": "2025-02-04"}) == {KAIYUAN, DONGGUAN}
    answer = searcher.search(parse_request({"q": "DeepSeek", "sort": "date", "size": 5}, searcher.settings))
    dates = [hit["date"] for hit in answer["hits"] if hit["date"]]
    assert dates == sorted(dates, reverse=True) and answer["hits"][0]["path"] == WEEKLY


def test_pages_partition_the_results(searcher):
    seen = []
    for page in (1, 2, 3):
        answer = searcher.search(parse_request({"q": "DeepSeek", "size": 2, "page": page}, searcher.settings))
        seen += [hit["id"] for hit in answer["hits"]]
    assert len(seen) == len(set(seen)) == 5
    with pytest.raises(InvalidRequest, match="beyond the last page"):
        searcher.search(parse_request({"q": "DeepSeek", "size": 2, "page": 4}, searcher.settings))


@pytest.mark.parametrize("params, message", [
    ({"q": ""}, "empty"),
    ({"q": "模型", "page": "0"}, "page"),
    ({"q": "模型", "page": "x"}, "page"),
    ({"q": "模型", "size": "101"}, "size"),
    ({"q": "模型", "sort": "random"}, "sort"),
    ({"q": "模型", "from": "2025-13-01"}, "from"),
    ({"q": "模型", "from": "2025-02-05", "to": "2025-02-01"}, "after"),
    ({"q": "模" * 501}, "characters"),
])
def test_bad_requests_are_refused_with_a_message(searcher, params, message):
    with pytest.raises(InvalidRequest, match=message):
        searcher.search(parse_request(params, searcher.settings))


@pytest.fixture(params=["postings", "text"])
def scoring(request, monkeypatch):
    """Run a test with the BM25F scorer over the postings and with the scorer over cached texts."""
    import indexer.ranking

    monkeypatch.setattr(indexer.ranking, "TEXT_SCORING_COST", 0 if request.param == "text" else 10**9)
    return request.param


def test_both_scorers_rank_alike(searcher, monkeypatch):
    import indexer.ranking

    orders = {}
    for cost in (0, 10**9):
        monkeypatch.setattr(indexer.ranking, "TEXT_SCORING_COST", cost)
        answer = searcher.search(parse_request({"q": "模型 算力", "size": 5}, searcher.settings))
        orders[cost] = [hit["path"] for hit in answer["hits"]]
        assert all(hit["score"] > 0 for hit in answer["hits"])
    assert orders[0][0] == orders[10**9][0] and set(orders[0]) == set(orders[10**9])


def test_ranking_prefers_title_and_close_words(searcher, scoring):
    answer = searcher.search(parse_request({"q": "横空出世"}, searcher.settings))
    assert [hit["path"] for hit in answer["hits"]][0] in {KAIYUAN, WEEKLY}
    answer = searcher.search(parse_request({"q": "端侧 落地"}, searcher.settings))
    assert answer["hits"][0]["path"] == DONGGUAN     # "端侧落地" in its title


def test_rating_words_do_not_match_through_boilerplate_first(searcher, scoring):
    answer = searcher.search(parse_request({"q": "买入", "size": 10}, searcher.settings))
    for hit in answer["hits"]:
        assert hit["score"] == 0 or "买入" in hit["snippets"][0]
    # The match sits only in rating definitions: the snippet shows it, but with no body score.
    assert all(hit["score"] == 0 for hit in answer["hits"])


def test_snippets_mark_matches_and_escape_the_rest():
    text = "第一句<script>alert(1)</script>。这里提到大模型与算力。" + "无关内容。" * 40 + "结尾再次提到模型。"
    snippets = build_snippets(text, fold(text), len(text), [Needle("模型")])
    assert 1 <= len(snippets) <= 3
    assert "<script>" not in "".join(snippets)
    assert all("<mark>模型</mark>" in s for s in snippets)
    assert all(len(re.sub("<[^>]+>", "", s)) <= 200 for s in snippets)


def test_phrase_is_marked_as_one_whole_and_deep_matches_get_snippets():
    text = "开头。" + "填充文字。" * 30000 + "深处的固态电池产业化提速。"
    snippets = build_snippets(text, fold(text), len(text), [Needle("固态电池产业化")])
    assert "<mark>固态电池产业化</mark>" in snippets[0] and len(text) > 100_000


def test_boilerplate_stays_out_of_snippets_when_body_matches():
    body, boiler = "正文提到买入机会。", "评级说明：买入—未来6个月领先。"
    text = body + "\n\n" + boiler
    snippets = build_snippets(text, fold(text), len(body), [Needle("买入")])
    assert snippets and all("评级说明" not in s for s in snippets)


def test_a_sentence_said_twice_is_one_snippet():
    summary = "2025年1月20日，幻方量化旗下AI公司DeepSeek正式发布DeepSeek-R1模型，并同步开源模型权重。"
    again = "2025年1月20日，幻方量化旗下AI公司DeepSeek正式发布DeepSeek-R1模型，并同步开源模型权重，其在数学、代码等任务上比肩o1。"
    other = "DeepSeek-R1在后训练阶段大规模使用了强化学习技术，显著增强了模型推理能力。"
    text = "\n".join([summary, "填充内容没有匹配。" * 20, again, "填充内容没有匹配。" * 20, other])
    snippets = [re.sub("<[^>]+>", "", s) for s in build_snippets(text, fold(text), len(text), [Needle("deepseek", True)])]
    assert len(snippets) == 2 and any("强化学习" in s for s in snippets)


def test_a_cover_credit_line_is_the_last_choice_for_a_snippet():
    cover = "DeepSeek行业点评报告\n任浪（分析师）\nrenlang@kysec.cn\n证书编号：S0790520030001"
    body = "\n".join(["填充内容没有匹配。" * 20, "DeepSeek-R1蒸馏小模型可以使其性能大幅提升。",
                      "填充内容没有匹配。" * 20, "国产算力芯片已与DeepSeek适配。"])
    text = cover + "\n" + body
    snippets = build_snippets(text, fold(text), len(text), [Needle("deepseek", True)])
    assert len(snippets) == 3
    assert "分析师" not in snippets[0] + snippets[1] and "蒸馏" in snippets[0] + snippets[1]
    # With nothing else matching, the cover is still shown.
    assert "分析师" in build_snippets(cover, fold(cover), len(cover), [Needle("任浪")])[0]


@pytest.mark.parametrize("line, shown", [
    ("- 开源模型DeepSeek-R1性能对标o1。", "开源模型DeepSeek-R1性能对标o1。"),
    ("-开源模型DeepSeek-R1性能对标o1。", "开源模型DeepSeek-R1性能对标o1。"),
    ("⚫ DeepSeek取得双重突破。", "DeepSeek取得双重突破。"),
    ("-5%的跌幅后DeepSeek回升。", "-5%的跌幅后DeepSeek回升。"),     # a negative number keeps its sign
])
def test_list_dashes_are_dropped_from_snippets(line, shown):
    text = "前文没有匹配。\n" + line
    snippet = build_snippets(text, fold(text), len(text), [Needle("deepseek", True)])[0]
    assert re.sub("<[^>]+>", "", snippet).strip("…") == shown


def test_titles_are_marked_and_escaped(tmp_path):
    settings = make_settings(tmp_path)
    (tmp_path / "archive" / "r.md").write_text("---\ntitle: <b>固态电池</b>产业化提速\n---\n固态电池进展。\n", encoding="utf-8")
    Indexer(settings).build()
    hit = ArchiveSearcher(settings).search(SearchRequest(q="固态电池"))["hits"][0]
    assert hit["title_html"] == "&lt;b&gt;<mark>固态电池</mark>&lt;/b&gt;产业化提速"


def test_a_run_jieba_splits_ranks_the_reports_holding_it_whole_first(tmp_path):
    settings = make_settings(tmp_path)
    archive = tmp_path / "archive"
    scattered = "功率器件需求旺盛，功率模块放量；半导体设备国产化，半导体材料突破。" * 6
    (archive / "scattered.txt").write_text("分散\n" + scattered, encoding="utf-8")
    (archive / "whole.txt").write_text("连续\n行业景气度回升，功率半导体迎来国产替代机遇。" + "其他内容。" * 30, encoding="utf-8")
    Indexer(settings).build()
    searcher = ArchiveSearcher(settings)
    answer = searcher.search(SearchRequest(q="功率半导体"))
    assert [hit["path"] for hit in answer["hits"]] == ["whole.txt", "scattered.txt"]   # both hold both words
    assert "<mark>功率半导体</mark>" in answer["hits"][0]["snippets"][0]
    # Without the run (two words typed apart) BM25 alone decides: the scattered report, which
    # holds the words six times, comes first.
    apart = searcher.search(SearchRequest(q="功率 半导体"))
    assert [hit["path"] for hit in apart["hits"]] == ["scattered.txt", "whole.txt"]


@pytest.mark.parametrize("query", ["analyst:任浪", "author:任浪", "DeepSeek analyst:任浪"])
def test_analyst_filter_finds_the_reports_they_wrote(searcher, query):
    answer = searcher.search(SearchRequest(q=query, size=10))
    paths = {hit["path"] for hit in answer["hits"]}
    assert KAIYUAN in paths and all(
        "任浪" in " ".join(a["name"] for a in searcher.document(hit["id"])["analysts"]) for hit in answer["hits"])
    assert answer["parsed"]["filters"] == {"analyst": ["任浪"]} and answer["parsed"]["notes"] == []


def test_code_filter_selects_the_reports_about_a_company(tmp_path):
    settings = make_settings(tmp_path)
    archive = tmp_path / "archive"
    (archive / "about.txt").write_text("公司点评\n宁德时代（300750.SZ）：业绩超预期，麒麟电池放量。", encoding="utf-8")
    (archive / "mention.txt").write_text("行业周报\n电池板块上涨，龙头公司300750成交活跃。", encoding="utf-8")
    Indexer(settings).build()
    answer = ArchiveSearcher(settings).search(SearchRequest(q="code:300750"))
    assert [hit["path"] for hit in answer["hits"]] == ["about.txt"]      # the report with the code on it


def test_a_company_code_and_its_name_find_each_other(tmp_path):
    settings = make_settings(tmp_path)
    archive = tmp_path / "archive"
    reports = {
        "a.txt": "动力电池点评\n我们推荐宁德时代（300750.SZ），其麒麟电池量产在即。",
        "b.txt": "装机量月报\n宁德时代(300750)装机量继续领先，比亚迪（002594.SZ）紧随其后。",
        "c.txt": "新品发布\n宁德时代发布新一代钠离子电池，能量密度提升。",
        "d.txt": "储能跟踪\n储能龙头（300750）订单饱满，海外项目落地。",
        "e.txt": "固态电池专题\n固态电池产业化提速，硫化物路线领先。建议关注龙头企业科达利（002850）。",
    }
    for name, text in reports.items():
        (archive / name).write_text(text, encoding="utf-8")
    Indexer(settings).build()
    searcher = ArchiveSearcher(settings)
    by_code = searcher.search(SearchRequest(q="300750", size=10))
    assert {hit["path"] for hit in by_code["hits"]} == {"a.txt", "b.txt", "c.txt", "d.txt"}
    assert by_code["parsed"]["same_as"] == [["300750", "宁德时代"]]
    by_name = searcher.search(SearchRequest(q="宁德时代", size=10))
    assert {hit["path"] for hit in by_name["hits"]} == {"a.txt", "b.txt", "c.txt", "d.txt"}
    assert by_name["parsed"]["same_as"] == [["宁德时代", "300750"]]
    assert searcher.search(SearchRequest(q="300750.SZ", size=10))["parsed"]["same_as"] == [["300750.sz", "宁德时代"]]
    # Words that are no company (and a phrase, which means exactly itself) stay as typed.
    assert searcher.search(SearchRequest(q="固态电池"))["parsed"]["same_as"] == []
    assert searcher.search(SearchRequest(q='"宁德时代"'))["total"] == 3
    # A short name written once before its code is learned; a long run of words once names nothing.
    assert searcher.search(SearchRequest(q="002594"))["parsed"]["same_as"] == [["002594", "比亚迪"]]
    assert searcher.search(SearchRequest(q="002850"))["parsed"]["same_as"] == []
    # The document lists its codes with the names the archive gives them.
    document = searcher.document(next(hit["id"] for hit in by_code["hits"] if hit["path"] == "b.txt"))
    assert document["companies"] == [{"code": "002594.SZ", "name": "比亚迪"}]     # 300750 has no exchange here


def _scan(texts, q):
    """The plain substring scan a query promises to equal (phrases and unquoted words)."""
    if q.startswith('"'):
        needle = normalize_query_text(q.strip('"'))
        return {p for p, t in texts.items() if needle in t}
    needles = [w for w in query_words(normalize_query_text(q))]
    return {p for p, t in texts.items() if all(n in t for n in needles)}


def test_exactness_against_a_plain_scan(searcher):
    """A small version of bench/exactness.py on the fixture index: no miss, no extra."""
    view = searcher.view()
    texts = {}
    for docnum in view.live:
        stored = view.stored(docnum)
        texts[stored["path"].split("/")[-1]] = fold(stored["text"])
    rng = random.Random(7)
    queries = []
    corpus = list(texts.values())
    while len(queries) < 150:
        doc = rng.choice(corpus)
        length = rng.randint(1, 8)
        start = rng.randrange(0, max(1, len(doc) - length))
        piece = doc[start:start + length]
        if piece.strip() and '"' not in piece and not piece.isspace():
            queries.append(f'"{piece.strip()}"')
    for q in queries:
        assert paths(searcher, q) == _scan(texts, q), q
    for word in ["模型", "算力", "在建", "产业链", "推理", "芯片"]:
        assert paths(searcher, word) == _scan(texts, word), word


def test_a_bounded_text_cache_evicts_and_answers_the_same(searcher):
    """Folded texts are cached per process up to a character budget; past it the oldest go,
    and searches read them again: the same answers with a budget of one character."""
    from indexer.view import TextCache

    queries = ["模型", '"人工智能"', "DeepSeek", "电池 -钠", "title:周报"]

    def answers():
        return [(a["total"], [h["id"] for h in a["hits"]], [h["snippets"] for h in a["hits"]])
                for q in queries for a in [searcher.search(parse_request({"q": q}, searcher.settings))]]

    expected = answers()
    saved = searcher._texts
    try:
        searcher._texts = TextCache(1)
        searcher._view = None
        assert answers() == expected
        assert len(searcher._texts.entries) == 1     # everything else was evicted
    finally:
        searcher._texts = saved
        searcher._view = None


def test_a_filter_selects_its_facet_value_exactly_and_a_typed_prefix_any_holding_it(settings_factory, tmp_path):
    from indexer.indexing import Indexer

    root = tmp_path / "archive"
    root.mkdir()
    for name, broker, rating in (("a", "中信证券", "推荐"), ("b", "中信建投", "强烈推荐"), ("c", "开源证券", "买入")):
        (root / f"{name}.md").write_text(f"---\ntitle: 算力周报{name}\nbroker: {broker}\nrating: {rating}\n---\n\n算力需求旺盛。\n",
                                         encoding="utf-8")
    settings = settings_factory(root=root)
    Indexer(settings).build()
    searcher = ArchiveSearcher(settings)

    def paths(**params):
        return sorted(h["path"] for h in searcher.search(parse_request({"q": "算力", **params}, settings))["hits"])

    assert paths(rating="推荐") == ["a.md"]
    assert paths(broker="中信证券") == ["a.md"]
    assert paths(broker="中信") == []
    assert sorted(h["path"] for h in searcher.search(parse_request({"q": "算力 broker:中信"}, settings))["hits"]) == [
        "a.md", "b.md"]
