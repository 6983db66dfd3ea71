"""Property-based tests (hypothesis) of the query parser, GET /api/search and GET /search."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import assert_no_injected_markup
from indexer.errors import QueryTooLong
from indexer.query import parse_query
from server import create_app

BASE = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def fuzz(examples: int) -> settings:
    return settings(BASE, max_examples=examples)

XSS = ['<script>alert("q1")</script>', "<img src=x onerror=alert(1)>", '"><script>alert(2)</script>',
       "<svg onload=alert(3)>", "javascript:alert(4)", "</title><script>", "<SCRIPT SRC=//evil.js>"]
TOKENS = ['"', "“", "”", "「", "」", "＂", "OR", "NOT", "AND", "|", "&&", "-", "--", "-\"", "title:", "broker:",
          "industry:", "rating:", "TITLE:", "http:", "12:30", "（", "）", "\x00", "\u200b", "\u202e", "\ufeff",
          "😀", "👨‍👩‍👧", "模型", "DeepSeek", "横空出世", "ＤｅｅｐＳｅｅｋ", "\\", "%", "%00", "*", "?", "~", "^",
          "(", ")", "[", "]", "{", "}", ":", "::", "\n", "\t", " ", "　", "é", "ﬁ", "\U0001d400", *XSS]
PIECE = st.one_of(st.text(max_size=12), st.sampled_from(TOKENS))
QUERY = st.one_of(
    st.lists(PIECE, max_size=20).map(" ".join),
    st.lists(PIECE, max_size=20).map("".join),
    st.text(max_size=80),
    st.builds(lambda piece, n: piece * n, st.sampled_from(TOKENS + ["模", "a ", "词 "]), st.integers(0, 700)),
)
NUMBER = st.one_of(st.integers(-10**6, 10**6).map(str), st.sampled_from(
    ["", " ", "0", "1", "-1", "1.5", "1e3", "0x10", "٣", "３", "9" * 5000, "NaN", "inf", " 2 ", "+3", "1_0"]),
    st.text(max_size=8))
DAY = st.one_of(st.dates().map(str), st.sampled_from(["", "2025-02-04", "2025-13-01", "yesterday", "0000-00-00",
                                                     "2025-02-04T09:30:00", "9999-12-31"]), st.text(max_size=12))
PARAMS = st.fixed_dictionaries({}, optional={
    "q": QUERY, "page": NUMBER, "size": NUMBER,
    "sort": st.one_of(st.sampled_from(["relevance", "date", "", "popularity", "DATE"]), st.text(max_size=8)),
    "broker": st.one_of(st.sampled_from(["开源证券", "", "<script>"]), st.text(max_size=12)),
    "industry": st.text(max_size=8), "rating": st.text(max_size=8),
    "from": DAY, "to": DAY, "indexed_from": DAY, "indexed_to": DAY,
})


@pytest.fixture(scope="module")
def app(built_samples):
    return create_app(built_samples)


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def limits(built_samples):
    return built_samples.search


@pytest.fixture
def fuzzed(record_property):
    """Counts the queries this test sends per surface; they become properties of the test in a JUnit
    report (`fuzzed:<surface>`), which bench/robustness.py sums."""
    sent: Counter = Counter()
    yield sent
    for surface, count in sorted(sent.items()):
        record_property(f"fuzzed:{surface}", count)


def assert_envelope(answer) -> dict:
    """Every /api/search answer: 200 ok:true or 400 ok:false with the same status, as JSON, no traceback."""
    assert answer.status_code in (200, 400), answer.data[:300]
    assert answer.mimetype == "application/json"
    body = answer.get_json()
    assert isinstance(body, dict)
    if answer.status_code == 200:
        assert body["ok"] is True
    else:
        assert set(body) == {"ok", "error", "code", "params", "status"}
        assert body["ok"] is False and body["status"] == answer.status_code
        assert isinstance(body["error"], str) and body["error"]
    assert b"Traceback" not in answer.data
    return body


# -- the parser -----------------------------------------------------------------------------

@fuzz(1500)
@given(raw=QUERY, max_terms=st.integers(0, 40))
def test_parse_query_never_raises_on_syntax(raw, max_terms, fuzzed):
    fuzzed["parse_query"] += 1
    try:
        parsed = parse_query(raw, max_terms)
    except QueryTooLong as exc:
        assert f"at most {max_terms}" in str(exc)
        return
    understood = json.loads(json.dumps(parsed.to_json(), ensure_ascii=False))
    assert set(understood) == {"terms", "phrases", "excluded", "any_of", "filters", "segmentation", "notes", "same_as"}
    count = sum(len(alt) for clause in parsed.clauses for alt in clause) + len(parsed.excluded)
    assert count <= max_terms


@fuzz(150)
@given(words=st.lists(st.sampled_from(["模型", "DeepSeek", '"横空出世"', "-汽车", "title:算力", "NVDA"]), min_size=1, max_size=60))
def test_parse_query_counts_terms_against_the_limit(words, fuzzed):
    fuzzed["parse_query"] += 1
    raw = " ".join(words)
    try:
        parsed = parse_query(raw, 32)
    except QueryTooLong:
        assert len(words) > 32
        return
    assert sum(len(alt) for clause in parsed.clauses for alt in clause) + len(parsed.excluded) <= 32


# -- GET /api/search -------------------------------------------------------------------------

@fuzz(700)
@given(params=PARAMS)
def test_api_search_answers_200_or_400_with_the_envelope(client, limits, params, fuzzed):
    fuzzed["api_search"] += 1
    body = assert_envelope(client.get("/api/search", query_string=params))
    if body["ok"]:
        assert len(str(params.get("q") or "").strip()) <= limits.max_query_chars
        assert 1 <= body["page"] <= limits.max_page and 1 <= body["size"] <= limits.max_size
        assert body["total"] >= 0 and len(body["hits"]) <= body["size"]


@fuzz(800)
@given(q=QUERY, sort=st.sampled_from(["relevance", "date"]))
def test_api_search_of_any_query_text_is_a_result_or_a_reason(client, limits, q, sort, fuzzed):
    fuzzed["api_search"] += 1
    body = assert_envelope(client.get("/api/search", query_string={"q": q, "sort": sort}))
    if not body["ok"]:
        reasons = ("the query is empty", "characters long", "words and phrases")
        assert any(reason in body["error"] for reason in reasons), body["error"]
    else:
        assert body["query"] == q.strip()
        assert len(body["hits"]) == min(body["total"], body["size"])


@fuzz(60)
@given(extra=st.integers(1, 3000), char=st.sampled_from(["模", "a", " a", "😀", "\u200b"]))
def test_api_search_refuses_long_queries_with_a_clear_400(client, limits, extra, char, fuzzed):
    fuzzed["api_search"] += 1
    q = "模" + char * ((limits.max_query_chars + extra) // len(char))
    body = assert_envelope(client.get("/api/search", query_string={"q": q}))
    assert body["status"] == 400
    assert f"at most {limits.max_query_chars}" in body["error"] and "characters" in body["error"]


@fuzz(40)
@given(n=st.integers(33, 120))
def test_api_search_refuses_too_many_terms_with_a_clear_400(client, limits, n, fuzzed):
    fuzzed["api_search"] += 1
    q = " ".join(f"w{i}" for i in range(n))[: limits.max_query_chars]
    words = len(q.split())
    body = assert_envelope(client.get("/api/search", query_string={"q": q}))
    if words > limits.max_terms:
        assert body["status"] == 400
        assert f"at most {limits.max_terms}" in body["error"] and "words and phrases" in body["error"]


@pytest.mark.parametrize("name, over, fragment", [
    ("page", lambda limits: limits.max_page + 1, "page must be between 1 and {max_page}"),
    ("page", lambda limits: 10**30, "page must be between 1 and {max_page}"),
    ("size", lambda limits: limits.max_size + 1, "size must be between 1 and {max_size}"),
    ("size", lambda limits: 10**30, "size must be between 1 and {max_size}"),
    ("page", lambda limits: "9" * 5000, "page must be a whole number"),
])
def test_api_search_refuses_deep_pages_and_big_sizes(client, limits, name, over, fragment, fuzzed):
    fuzzed["api_search"] += 1
    body = assert_envelope(client.get("/api/search", query_string={"q": "模型", name: over(limits)}))
    assert body["status"] == 400
    assert fragment.format(max_page=limits.max_page, max_size=limits.max_size) in body["error"]


def test_api_search_at_the_limits_is_fine(client, limits, fuzzed):
    fuzzed["api_search"] += 3
    assert_envelope(client.get("/api/search", query_string={"q": "模" * limits.max_query_chars}))
    at_max = client.get("/api/search", query_string={"q": " ".join(f"w{i}" for i in range(limits.max_terms))})
    assert assert_envelope(at_max)["ok"] is True
    deepest = client.get("/api/search", query_string={"q": "模型", "page": limits.max_page, "size": limits.max_size})
    assert assert_envelope(deepest)["status"] == 400    # 5 results: beyond the last page, but a 400
    assert "beyond the last page" in deepest.json["error"]


# -- GET /search (HTML) ---------------------------------------------------------------------

@fuzz(300)
@given(params=PARAMS)
def test_results_page_never_fails_and_never_echoes_markup(client, params, fuzzed):
    fuzzed["html_search"] += 1
    answer = client.get("/search", query_string=params)
    assert answer.status_code in (200, 400), answer.data[:300]
    assert answer.mimetype == "text/html"
    html = answer.get_data(as_text=True)
    assert "Traceback" not in html
    assert_no_injected_markup(html)


@pytest.mark.parametrize("payload", XSS)
def test_results_page_escapes_script_in_every_parameter(client, payload, fuzzed):
    for key in ("q", "broker", "industry", "rating", "from", "sort", "page"):
        fuzzed["html_search"] += 1
        answer = client.get("/search", query_string={"q": f"模型 {payload}", key: payload})
        assert answer.status_code in (200, 400)
        assert_no_injected_markup(answer.get_data(as_text=True))

