"""The JSON API through Flask's test client, over a real index of the sample reports."""

from __future__ import annotations

import io
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from conftest import (ADMIN_TOKEN as TOKEN, ALL_SAMPLES as ALL, DONGGUAN, HUAAN, KAIYUAN as R1, SAMPLES, SPDBI as PUYIN,
                      WEEKLY, assert_error, child_pids, free_port, get_json, make_settings, poll, post_file,
                      running_server)
from indexer.indexing import Indexer
from server import create_app
from server.auth import FAILED_AUTH_LIMIT
from server.uploads import safe_file_name



@pytest.fixture
def client(sample_client):
    return sample_client


def search(client, **params):
    answer = client.get("/api/search", query_string=params)
    assert answer.status_code == 200, answer.json
    return answer.json


def ids_by_path(client) -> dict[str, str]:
    return {hit["path"]: hit["id"] for hit in search(client, q="DeepSeek", size=10)["hits"]}


# -- search -------------------------------------------------------------------------------

def test_search_answer_has_the_contract_shape(client):
    answer = search(client, q="模型")
    assert set(answer) >= {"ok", "query", "parsed", "total", "page", "size", "sort", "took_ms", "hits", "facets"}
    assert answer["ok"] is True and answer["query"] == "模型"
    assert (answer["page"], answer["size"], answer["sort"]) == (1, 10, "relevance")
    assert answer["took_ms"] >= 0
    assert set(answer["parsed"]) == {"terms", "phrases", "excluded", "any_of", "filters", "segmentation", "notes", "same_as"}
    assert set(answer["facets"]) == {"broker", "industry", "rating"}
    for hit in answer["hits"]:
        assert set(hit) >= {"id", "title", "date", "broker", "industry", "rating", "path", "score", "snippets"}
        assert any("<mark>模型</mark>" in s for s in hit["snippets"])


@pytest.mark.parametrize("q, expected", [
    ("模型", ALL),                                  # inside 大模型 too
    ('"横空出世"', {R1, WEEKLY}),                   # exact phrase
    ("横空出世", {R1, WEEKLY}),
    ("DeepSeek", ALL),                              # Latin: case-insensitive (Deepseek)
    ("ＤｅｅｐＳｅｅｋ", ALL),                        # and width-insensitive
    ('"智能车产"', {R1}),                            # a phrase across word boundaries
    ("title:模型", {PUYIN, HUAAN}),
    ("broker:开源证券", {R1, WEEKLY}),
    ("NVDA", {PUYIN}),
    ('"这句话不在任何报告里"', set()),
])
def test_search_finds_the_expected_reports(client, q, expected):
    answer = search(client, q=q, size=10)
    assert {hit["path"] for hit in answer["hits"]} == expected
    assert answer["total"] == len(expected)


def test_search_segments_chinese_and_reports_it(client):
    answer = search(client, q="智能车")
    assert R1 in {hit["path"] for hit in answer["hits"]}
    assert answer["parsed"]["segmentation"] == "智能 / 车"
    assert search(client, q='"横空出世"')["parsed"]["phrases"] == ["横空出世"]


def test_phrase_is_marked_as_one_whole(client):
    hit = next(h for h in search(client, q='"智能车产"')["hits"])
    assert any("<mark>智能车产</mark>" in s for s in hit["snippets"])


def test_facet_filter_changes_counts(client):
    everything = search(client, q="DeepSeek")
    brokers = dict(everything["facets"]["broker"])
    assert brokers["开源证券"] == 2 and sum(brokers.values()) == everything["total"] == 5
    filtered = search(client, q="DeepSeek", broker="开源证券")
    assert filtered["total"] == 2
    assert {hit["broker"] for hit in filtered["hits"]} == {"开源证券"}
    # Disjunctive: the selected facet keeps every value with its count, so another can be added;
    # the other facets count the selection.
    assert filtered["facets"]["broker"] == everything["facets"]["broker"]
    assert sum(n for _, n in filtered["facets"]["rating"]) == 2


def test_values_of_one_facet_are_ored_and_facets_anded(client):
    everything = search(client, q="DeepSeek")
    counts = dict(everything["facets"]["broker"])
    both = search(client, q="DeepSeek", broker=["开源证券", "东莞证券"])
    assert both["total"] == counts["开源证券"] + counts["东莞证券"] == 3
    assert {hit["broker"] for hit in both["hits"]} == {"开源证券", "东莞证券"}
    narrowed = search(client, q="DeepSeek", broker=["开源证券", "东莞证券"], rating="超配")
    assert {hit["path"] for hit in narrowed["hits"]} == {DONGGUAN}
    # The rating facet counts what the brokers select; the broker facet what the rating selects.
    assert dict(both["facets"]["rating"]).get("超配") == 1
    assert dict(narrowed["facets"]["broker"]) == {"东莞证券": 1}


def test_reports_without_a_value_are_selectable_as_unknown(client):
    everything = search(client, q="DeepSeek")
    unknown = dict(everything["facets"]["industry"]).get("未知")
    assert unknown, everything["facets"]["industry"]
    answer = search(client, q="DeepSeek", industry="未知")
    assert answer["total"] == unknown and all(hit["industry"] == "" for hit in answer["hits"])
    # Unknown sorts last among equal counts; otherwise most documents first.
    counts = [n for _, n in everything["facets"]["industry"]]
    assert counts == sorted(counts, reverse=True)


def test_facet_values_of_equal_count_are_in_pinyin_order():
    from indexer.search import _facet_order
    names = [["浦银国际", 1], ["申万宏源", 1], ["未知", 1], ["海通证券", 1], ["东莞证券", 2], ["开源证券", 1]]
    assert [v for v, _ in sorted(names, key=_facet_order)] == ["东莞证券", "海通证券", "开源证券", "浦银国际",
                                                                 "申万宏源", "未知"]


def test_too_many_values_of_one_facet_is_a_400(client):
    answer = client.get("/api/search", query_string={"q": "模型", "broker": [f"券商{i}" for i in range(51)]})
    assert answer.status_code == 400 and answer.json["code"] == "too_many_values"
    assert answer.json["params"] == {"name": "broker", "count": 51, "limit": 50}


@pytest.mark.parametrize("name, value, expected", [
    ("broker", "东莞证券", {DONGGUAN}),
    ("industry", "汽车", {R1}),
    ("rating", "超配", {DONGGUAN}),
    ("broker", "不存在的券商", set()),
])
def test_each_filter_selects_its_reports(client, name, value, expected):
    answer = search(client, q="DeepSeek", **{name: value})
    assert {hit["path"] for hit in answer["hits"]} == expected


def test_date_range_filters_inclusively(client):
    answer = search(client, q="DeepSeek", **{"from": "2025-02-04", "to": "2025-02-04"})
    assert answer["total"] >= 1
    assert {hit["date"] for hit in answer["hits"]} == {"2025-02-04"}
    later = search(client, q="DeepSeek", **{"from": "2025-02-05"})
    assert all(hit["date"] >= "2025-02-05" for hit in later["hits"])
    assert WEEKLY in {hit["path"] for hit in later["hits"]}


def test_sort_by_date_is_newest_first_with_undated_last(client):
    answer = search(client, q="DeepSeek", sort="date", size=10)
    assert answer["sort"] == "date"
    dates = [hit["date"] for hit in answer["hits"]]
    dated = [d for d in dates if d]
    assert dated == sorted(dated, reverse=True)
    assert dates == dated + [""] * (len(dates) - len(dated))


def test_pages_partition_the_results(client):
    pages = [search(client, q="模型", size=2, page=p) for p in (1, 2, 3)]
    seen = [hit["id"] for answer in pages for hit in answer["hits"]]
    assert [len(a["hits"]) for a in pages] == [2, 2, 1]
    assert len(set(seen)) == 5
    assert all(a["total"] == 5 for a in pages)


@pytest.mark.parametrize("params, fragment", [
    ({"q": ""}, "empty"),
    ({"q": "   "}, "empty"),
    ({}, "empty"),
    ({"q": "模" * 501}, "at most 500"),
    ({"q": "模型", "page": "9"}, "beyond the last page"),
    ({"q": "模型", "page": "0"}, "page"),
    ({"q": "模型", "page": "abc"}, "page"),
    ({"q": "模型", "size": "101"}, "size"),
    ({"q": "模型", "size": "0"}, "size"),
    ({"q": "模型", "size": "-3"}, "size"),
    ({"q": "模型", "sort": "popularity"}, "sort"),
    ({"q": "模型", "from": "2025-13-01"}, "from"),
    ({"q": "模型", "to": "yesterday"}, "to"),
    ({"q": "模型", "from": "2025-03-01", "to": "2025-01-01"}, "after"),
    ({"q": "模型", "indexed_from": "soon"}, "indexed_from"),
    # the OpenAPI schema says format: date; a control character is not stripped to "left out"
    # (schemathesis found from=%1C answered 200)
    ({"q": "模型", "from": "\x1c"}, "from must be a date"),
    ({"q": "模型", "to": "\x1c\x1f"}, "to must be a date"),
    ({"q": "模型", "from": " "}, "from must be a date"),
    ({"q": "模型", "from": "\u3000"}, "from must be a date"),
    ({"q": "模型", "from": "\x1c2025-02-04"}, "from must be a date"),
    ({"q": "模型", "to": "2025-02-04\t"}, "to must be a date"),
    ({"q": "模型", "indexed_from": "\x1c"}, "indexed_from must be an ISO date"),
    ({"q": "模型", "indexed_to": "\x85"}, "indexed_to must be an ISO date"),
    ({"q": " ".join(f"词{i}" for i in range(40))}, "at most"),
])
def test_search_errors_are_400_envelopes(client, params, fragment):
    error = assert_error(client.get("/api/search", query_string=params), 400)
    assert fragment in error["error"]


@pytest.mark.parametrize("params", [
    {"from": "", "to": "", "indexed_from": "", "indexed_to": ""},       # an HTML form's empty fields
    {"from": " 2025-02-04 ", "to": "2025-02-04  "},
])
def test_empty_dates_are_left_out_and_spaces_around_a_date_are_fine(client, params):
    assert search(client, q="DeepSeek", **params)["total"] == search(client, q="DeepSeek", **{
        key: value.strip() for key, value in params.items()})["total"]


def test_malformed_query_degrades_and_says_so(client):
    answer = search(client, q='"横空出世')
    assert answer["total"] >= 2
    assert answer["parsed"]["notes"]


# -- documents ----------------------------------------------------------------------------

def test_document_has_metadata_and_cleaned_text(client):
    report_id = ids_by_path(client)[DONGGUAN]
    answer = client.get(f"/api/documents/{report_id}")
    assert answer.status_code == 200
    doc = answer.json
    assert doc["ok"] is True and doc["id"] == report_id and doc["path"] == DONGGUAN
    assert doc["broker"] == "东莞证券" and doc["date"] == "2025-02-04" and doc["kind"] == "txt"
    assert {"title", "industry", "rating", "rating_action", "analysts", "stock_codes", "paths", "size",
            "content_hash", "added_at", "indexed_at", "text", "body_len"} <= set(doc)
    assert all(set(a) == {"name", "sac"} for a in doc["analysts"])
    assert 0 < doc["body_len"] <= len(doc["text"])


@pytest.mark.parametrize("report_id", ["000000000000", "nope", "x" * 64, "x" * 65, "%E6%A8%A1"])
def test_unknown_document_is_404(client, report_id):
    assert_error(client.get(f"/api/documents/{report_id}"), 404)


@pytest.mark.parametrize("url", ["/api/documents/../../etc/passwd", "/api/nowhere", "/api/documents/a/b"])
def test_unknown_api_paths_are_404_envelopes(client, url):
    assert_error(client.get(url), 404)


def test_wrong_method_is_a_405_envelope(client):
    error = assert_error(client.delete("/api/search"), 405)
    assert error["status"] == 405


# -- status, health, description ----------------------------------------------------------

def test_status_reports_counts_and_receipts(client):
    answer = client.get("/api/status")
    assert answer.status_code == 200
    status = answer.json
    assert status["ok"] is True and status["documents"] == 5
    assert status["failed"] == [] and status["generation"] is not None and status["last_sync"]
    assert {r["path"] for r in status["recent"]} == ALL


def test_healthz_counts_documents(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json == {"ok": True, "documents": 5}


@pytest.mark.parametrize("url", ["/api/search?q=模型", "/api/documents/000000000000", "/healthz"])
def test_missing_index_is_503(settings_factory, url):
    app = create_app(settings_factory())
    error = assert_error(app.test_client().get(url), 503)
    assert "index" in error["error"]


def test_healthz_of_an_empty_archive_is_ok(settings_factory):
    settings = settings_factory()
    Indexer(settings).build()
    answer = create_app(settings).test_client().get("/healthz")
    assert (answer.status_code, answer.json) == (200, {"ok": True, "documents": 0})


def test_search_over_an_empty_archive_finds_nothing(settings_factory):
    settings = settings_factory()
    Indexer(settings).build()
    answer = create_app(settings).test_client().get("/api/search", query_string={"q": "模型"})
    assert answer.status_code == 200 and answer.json["total"] == 0


def test_status_without_index_is_503_and_says_why(settings_factory):
    answer = create_app(settings_factory()).test_client().get("/api/status")
    assert answer.status_code == 503
    assert answer.json["ok"] is False and answer.json["status"] == 503 and "no index" in answer.json["error"]


def test_openapi_describes_every_endpoint_and_parameter(client):
    answer = client.get("/api/openapi.json")
    assert answer.status_code == 200
    spec = answer.json
    assert spec["openapi"].startswith("3.0")
    assert {"/api/search", "/api/documents/{id}", "/api/documents", "/api/status", "/healthz",
            "/search", "/documents/{id}", "/documents/{id}/raw"} <= set(spec["paths"])
    params = {p["name"] for p in spec["paths"]["/api/search"]["get"]["parameters"]}
    assert {"q", "page", "size", "sort", "broker", "industry", "rating", "from", "to"} <= params
    upload = spec["paths"]["/api/documents"]["post"]["responses"]
    assert {"200", "202", "400", "401", "403", "413"} <= set(upload)


def test_api_answers_carry_the_security_headers(client):
    for url in ("/api/search?q=模型", "/api/search", "/api/status", "/api/openapi.json", "/healthz"):
        answer = client.get(url)
        assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_unexpected_errors_are_500_envelopes_without_traceback(built_samples, caplog):
    app = create_app(built_samples)

    @app.get("/api/boom")
    def boom():
        raise RuntimeError("secret internals")

    answer = app.test_client().get("/api/boom")
    error = assert_error(answer, 500)
    assert "secret internals" not in error["error"]
    assert "RuntimeError: secret internals" in caplog.text     # logged with its traceback


# -- uploads ------------------------------------------------------------------------------

@pytest.fixture
def upload_app(settings_factory):
    """An app with uploads enabled (1 MB limit), an empty archive and no watcher."""
    settings = settings_factory(server={"admin_token": TOKEN, "max_upload_mb": 1})
    app = create_app(settings)
    app.config["UPLOAD_RECEIPT_WAIT_SECONDS"] = 0.2
    return app


def archive_files(app) -> dict[str, bytes]:
    root = Path(app.config["ARCHIVE_SETTINGS"].archive.root)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_upload_is_saved_and_queued(upload_app):
    answer = post_file(upload_app.test_client(), "新研报：算力专题.md", "# 算力\n\n国产算力加速。".encode())
    assert answer.status_code == 202
    assert answer.json == {"ok": True, "receipt": {"path": "新研报：算力专题.md", "status": "queued"}}
    assert archive_files(upload_app) == {"新研报：算力专题.md": "# 算力\n\n国产算力加速。".encode()}


@pytest.mark.parametrize("token_configured, token, status, fragment", [
    (False, TOKEN, 403, "uploads are disabled"),
    (False, None, 403, "uploads are disabled"),
    (True, None, 401, "token"),
    (True, "wrong", 401, "token"),
    (True, "", 401, "token"),
    (True, TOKEN + "x", 401, "token"),
])
def test_upload_needs_the_admin_token(settings_factory, token_configured, token, status, fragment):
    settings = settings_factory(server={"admin_token": TOKEN if token_configured else ""})
    answer = post_file(create_app(settings).test_client(), "a.txt", "正文".encode(), token=token)
    error = assert_error(answer, status)
    assert fragment in error["error"]
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert not list(Path(settings.archive.root).iterdir())


def test_upload_with_basic_auth_is_refused(upload_app):
    answer = upload_app.test_client().post("/api/documents", headers={"Authorization": f"Basic {TOKEN}"},
                                           data={"file": (io.BytesIO(b"x"), "a.txt")})
    assert_error(answer, 401)


def post_from(app, token: str, peer: str = "127.0.0.1", forwarded_for: str | None = None):
    """An upload of a small file with `token`, from the peer address `peer` (through a proxy: forwarded_for)."""
    headers = {"Authorization": f"Bearer {token}"}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    return app.test_client().post("/api/documents", headers=headers, environ_base={"REMOTE_ADDR": peer},
                                  data={"file": (io.BytesIO("正文".encode()), "a.txt")}, content_type="multipart/form-data")


def test_the_admin_token_passes_from_an_address_locked_out_by_wrong_ones(upload_app):
    statuses = [post_from(upload_app, f"guess-{n}").status_code for n in range(FAILED_AUTH_LIMIT + 2)]
    assert statuses == [401] * FAILED_AUTH_LIMIT + [429, 429]
    assert int(post_from(upload_app, "guess-x").headers["Retry-After"]) > 0
    assert post_from(upload_app, TOKEN).status_code in (200, 202)     # a correct token is never refused
    assert post_from(upload_app, "guess-y").status_code == 429


def test_wrong_tokens_are_counted_per_client_behind_a_trusted_proxy(settings_factory):
    settings = settings_factory(server={"admin_token": TOKEN, "trusted_proxies": 1})
    app = create_app(settings)
    app.config["UPLOAD_RECEIPT_WAIT_SECONDS"] = 0
    # the proxy (127.0.0.1) appends the address it saw; whatever the client wrote before it is not believed
    for n in range(FAILED_AUTH_LIMIT + 1):
        post_from(app, f"guess-{n}", forwarded_for=f"198.51.100.{n}, 203.0.113.9")
    assert post_from(app, "guess", forwarded_for="203.0.113.9").status_code == 429
    assert post_from(app, "typo", forwarded_for="192.0.2.1").status_code == 401      # another client is not locked out
    assert post_from(app, TOKEN, forwarded_for="203.0.113.9").status_code in (200, 202)


def test_x_forwarded_for_is_ignored_without_trusted_proxies(upload_app):
    for n in range(FAILED_AUTH_LIMIT):
        assert post_from(upload_app, f"guess-{n}", forwarded_for=f"198.51.100.{n}").status_code == 401
    assert post_from(upload_app, "guess", forwarded_for="192.0.2.1").status_code == 429   # same peer, same count
    assert post_from(upload_app, "typo", peer="192.0.2.2").status_code == 401


def test_wrong_tokens_are_counted_across_workers(upload_app):
    # two apps over the same settings hold nothing in common but the var folder, as two gunicorn workers
    other_worker = create_app(upload_app.config["ARCHIVE_SETTINGS"])
    for n in range(FAILED_AUTH_LIMIT // 2):
        assert post_from(upload_app, f"guess-a{n}").status_code == 401
        assert post_from(other_worker, f"guess-b{n}").status_code == 401
    assert post_from(upload_app, "guess-a").status_code == 429
    assert post_from(other_worker, "guess-b").status_code == 429


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 3 * 1024 * 1024])
def test_upload_over_the_limit_is_413(upload_app, size):
    error = assert_error(post_file(upload_app.test_client(), "大文件.txt", b"a" * size), 413)
    assert "1 MB" in error["error"]
    assert archive_files(upload_app) == {}


def test_upload_form_of_many_tiny_parts_is_413_for_its_parts_not_its_size(upload_app):
    fields = {f"field{n}": "x" for n in range(1500)}
    answer = upload_app.test_client().post("/api/documents", headers={"Authorization": f"Bearer {TOKEN}"},
                                           data={**fields, "file": (io.BytesIO("正文".encode()), "a.txt")},
                                           content_type="multipart/form-data")
    error = assert_error(answer, 413)
    assert error["code"] == "form_too_large" and error["params"] == {"max_parts": 1000, "max_text_kb": 500}
    assert "more than 1000 parts" in error["error"] and "MB" not in error["error"]
    assert archive_files(upload_app) == {}


@pytest.mark.parametrize("name, content, fragment", [
    ("报告.docx", b"PK", "unsupported file type"),
    ("报告.exe", b"MZ", "unsupported file type"),
    ("没有后缀", b"text", "unsupported file type"),
    ("报告.txt", b"", "empty"),
])
def test_upload_of_a_bad_file_is_400(upload_app, name, content, fragment):
    error = assert_error(post_file(upload_app.test_client(), name, content), 400)
    assert fragment in error["error"]
    assert archive_files(upload_app) == {}


def test_upload_without_the_file_field_is_400(upload_app):
    assert_error(post_file(upload_app.test_client(), "a.txt", b"x", field="document"), 400)


@pytest.mark.parametrize("name, saved", [
    ("../../evil.md", "evil.md"),
    ("/etc/passwd.txt", "passwd.txt"),
    ("...hidden.md", "hidden.md"),
    ("研报\x00\x1b[31m\u202e名称.pdf", "研报[31m名称.pdf"),
    ("  开源证券：周报  .TXT", "开源证券：周报.txt"),
    ("a<b>c?.md", "a_b_c_.md"),
])
def test_upload_name_is_made_safe(upload_app, name, saved):
    answer = post_file(upload_app.test_client(), name, b"%PDF-1.4 text" if saved.endswith(".pdf") else "正文".encode())
    assert answer.status_code == 202, answer.json
    assert answer.json["receipt"]["path"] == saved
    assert list(archive_files(upload_app)) == [saved]


@pytest.mark.parametrize("name, saved", [
    ("..\\..\\windows\\evil.txt", "evil.txt"),     # (a test client cannot send backslashes)
    ("C:\\Users\\张三\\研报.PDF", "研报.pdf"),
    ("./.././报告.markdown", "报告.markdown"),
    ("..md", "upload.md"),
    ("研\u2028报.txt", "研报.txt"),
    ("研\t\t报.txt", "研 报.txt"),
])
def test_safe_file_name(name, saved):
    assert safe_file_name(name) == saved


def test_long_upload_names_are_cut_to_150_characters():
    name = safe_file_name("研" * 400 + ".md")
    assert len(name) <= 150 and name.endswith(".md") and name.startswith("研研")


def test_a_different_file_under_the_same_name_gets_a_number(upload_app):
    first = post_file(upload_app.test_client(), "周报.md", "第一版".encode())
    second = post_file(upload_app.test_client(), "周报.md", "第二版".encode())
    third = post_file(upload_app.test_client(), "周报.md", "第三版".encode())
    again = post_file(upload_app.test_client(), "周报.md", "第一版".encode())
    assert [a.json["receipt"]["path"] for a in (first, second, third, again)] == \
        ["周报.md", "周报 (2).md", "周报 (3).md", "周报.md"]
    assert archive_files(upload_app) == {"周报.md": "第一版".encode(), "周报 (2).md": "第二版".encode(),
                                         "周报 (3).md": "第三版".encode()}


def test_upload_answers_with_the_watchers_receipt_when_it_comes_in_time(settings_factory):
    settings = settings_factory(server={"admin_token": TOKEN})
    Indexer(settings).build()
    app = create_app(settings)
    root = Path(settings.archive.root)
    stop = threading.Event()

    def watcher_stand_in():
        # The real watcher is another process; here one thread syncs once the file appears.
        while not stop.is_set():
            if (root / "算力周报.txt").exists():
                Indexer(settings).sync()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watcher_stand_in)
    thread.start()
    try:
        answer = post_file(app.test_client(), "算力周报.txt", "国产算力加速，智算中心建设提速。".encode())
    finally:
        stop.set()
        thread.join()
    assert answer.status_code == 200, answer.json
    receipt = answer.json["receipt"]
    assert receipt["path"] == "算力周报.txt" and receipt["status"] == "indexed" and receipt["id"]
    found = app.test_client().get("/api/search", query_string={"q": "智算中心"}).json
    assert [hit["path"] for hit in found["hits"]] == ["算力周报.txt"]


def test_raw_query_bytes_that_are_not_utf8_are_a_400(client):
    gbk = "q=模型".encode("gb18030").decode("latin-1")          # as a WSGI server passes raw bytes on
    error = assert_error(client.get("/api/search", environ_overrides={"QUERY_STRING": gbk}), 400)
    assert "UTF-8" in error["error"]


# -- python -m server -----------------------------------------------------------------------

def dev_server_query(raw: bytes) -> str:
    """QUERY_STRING as Werkzeug's development server builds it from raw bytes in the request line."""
    return raw.decode("latin-1").encode("utf-8").decode("latin-1")


def test_raw_utf8_queries_are_repaired_for_the_development_server(built_samples):
    from server.__main__ import RawUtf8Query

    app = create_app(built_samples)
    app.wsgi_app = RawUtf8Query(app.wsgi_app)
    client = app.test_client()
    repaired = client.get("/api/search", environ_overrides={"QUERY_STRING": dev_server_query("q=横空出世".encode())})
    assert repaired.status_code == 200 and repaired.json["total"] == 2 and repaired.json["query"] == "横空出世"
    truncated = dev_server_query("q=固态电池".encode()[:-1])   # http.server drops a final 0xA0 byte
    error = assert_error(client.get("/api/search", environ_overrides={"QUERY_STRING": truncated}), 400)
    assert "--data-urlencode" in error["error"]
    assert client.get("/api/search", query_string={"q": "横空出世"}).json["total"] == 2


@pytest.mark.slow
def test_server_command_runs_the_watcher_which_builds_the_index(tmp_path):
    import signal

    shutil.copytree(SAMPLES, tmp_path / "archive")
    with running_server(tmp_path) as (base, process, output):
        health = poll(lambda: get_json(f"{base}/healthz"), 60)      # 503 while the watcher builds
        assert health == {"ok": True, "documents": 5}, output.text()[-2000:]
        watchers = list(child_pids(process.pid))
        assert len(watchers) == 1
        assert "watch" in Path(f"/proc/{watchers[0]}/cmdline").read_bytes().decode().split("\0")
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    assert not Path(f"/proc/{watchers[0]}").exists()


@pytest.mark.parametrize("prod, kind", [(False, "file"), (True, "file"), (False, "missing")])
def test_server_command_stops_with_a_message_when_the_archive_root_is_not_a_folder(tmp_path, prod, kind):
    import subprocess
    import sys

    if kind == "file":
        (tmp_path / "reports").write_text("not a folder", encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(f'[archive]\nroot = "reports"\n[index]\ndir = "var/index"\n[server]\nport = {free_port()}\n',
                      encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    done = subprocess.run([sys.executable, "-m", "server", "--config", str(config), *(["--prod"] if prod else [])],
                          env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    said = "which is a file, not a folder" if kind == "file" else "which does not exist: create the folder"
    assert f"[archive].root is {tmp_path / 'reports'}, {said}" in done.stderr
    assert "watcher" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "reports").is_dir()          # nothing created in its place


def test_upload_parts_left_by_a_killed_server_are_removed_at_start(settings_factory, tmp_path):
    root = tmp_path / "archive"
    root.mkdir()
    old, fresh = root / ".upload-0123456789abcdef.part", root / ".upload-fedcba9876543210.part"
    old.write_bytes(b"half an upload")
    fresh.write_bytes(b"an upload being written now")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    create_app(settings_factory(root=root))
    assert not old.exists() and fresh.exists()


def test_status_does_not_show_the_servers_absolute_paths(sample_index):
    client = create_app(sample_index).test_client()
    report = client.get("/api/status").json
    assert report["archive"] == Path(sample_index.archive.root).name
    page = client.get("/status").data.decode()
    assert str(sample_index.archive.root) not in page and str(sample_index.index.dir) not in page


def test_times_are_in_the_archive_time_zone(built_samples):
    from dataclasses import replace
    from datetime import datetime, timedelta

    from server import create_app

    shanghai = create_app(built_samples).test_client()
    report_id = next(iter(ids_by_path(shanghai).values()))
    added = shanghai.get(f"/api/documents/{report_id}").json["added_at"]
    assert added.endswith("+08:00")
    assert "UTC+8" in shanghai.get(f"/documents/{report_id}").data.decode()
    # A time without a zone in indexed_to is the archive's: one minute before the report came in
    # (Shanghai's wall clock) leaves it out, which the same wall-clock time read as UTC would not.
    earlier = (datetime.fromisoformat(added) - timedelta(minutes=1)).replace(tzinfo=None).isoformat(timespec="seconds")
    assert report_id not in {hit["id"] for hit in search(shanghai, indexed_to=earlier)["hits"]}
    utc = replace(built_samples, archive=type(built_samples.archive)({**built_samples.archive._values, "time_zone": "UTC"}))
    client = create_app(utc).test_client()
    assert client.get(f"/api/documents/{report_id}").json["added_at"].endswith("+00:00")
    assert report_id in {hit["id"] for hit in search(client, indexed_to=earlier, size=10)["hits"]}


def test_a_report_id_keeps_naming_its_report_while_it_is_in_the_archive(tmp_path):
    from server import create_app

    settings = make_settings(tmp_path)
    archive = tmp_path / "archive"
    (archive / "研报B.txt").write_text("算力需求\n算力需求持续增长，数据中心建设提速。", encoding="utf-8")
    indexer = Indexer(settings)
    indexer.build()
    client = create_app(settings).test_client()
    first = search(client, q="算力")["hits"][0]
    # A copy under a name that sorts first, the first file gone, a rebuild: the id stays.
    (archive / "研报A.txt").write_bytes((archive / "研报B.txt").read_bytes())
    indexer.sync()
    hit = search(client, q="算力")["hits"][0]
    assert hit["paths"] == ["研报A.txt", "研报B.txt"] and hit["id"] == first["id"]
    (archive / "研报B.txt").unlink()
    indexer.sync()
    Indexer(settings).build()
    hit = search(client, q="算力")["hits"][0]
    assert hit["paths"] == ["研报A.txt"] and hit["id"] == first["id"] and hit["added_at"] == first["added_at"]
    # Gone and back (an unmounted share, a file moved out and in): the same id, the same added_at.
    moved = (archive / "研报A.txt").read_bytes()
    (archive / "研报A.txt").unlink()
    indexer.sync()
    assert client.get(f"/documents/{first['id']}").status_code == 404
    (archive / "回来的研报.txt").write_bytes(moved)
    indexer.sync()
    back = search(client, q="算力")["hits"][0]
    assert back["id"] == first["id"] and back["added_at"] == first["added_at"]


def test_the_id_of_a_file_name_leads_to_its_report(tmp_path):
    """A report's id comes from its first file's name; the name of its other files leads there too (308)."""
    from indexer.indexing import report_id
    from server import create_app

    settings = make_settings(tmp_path)
    archive = tmp_path / "archive"
    for name in ("研报A.txt", "研报B.txt"):
        (archive / name).write_text("算力需求\n算力需求持续增长，数据中心建设提速。", encoding="utf-8")
    Indexer(settings).build()
    client = create_app(settings).test_client()
    hit = search(client, q="算力")["hits"][0]
    other = report_id("研报B.txt")
    assert hit["id"] == report_id("研报A.txt") != other
    for url in (f"/documents/{other}?q=算力", f"/api/documents/{other}", f"/documents/{other}/raw"):
        moved = client.get(url)
        assert moved.status_code == 308, url
        assert moved.headers["Location"].startswith(url.replace(other, hit["id"]).split("?")[0])
    assert client.get(f"/documents/{other}?q=算力").headers["Location"].endswith("?q=%E7%AE%97%E5%8A%9B")
    assert client.get(f"/api/documents/{other}", follow_redirects=True).json["id"] == hit["id"]
