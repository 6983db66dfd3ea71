"""The OpenAPI 3.0 description of every endpoint, its parameters and its answers."""

from __future__ import annotations

from indexer.config import Settings
from indexer.query import MAX_FACET_VALUES, SORTS, UNKNOWN

STR = {"type": "string"}
INT = {"type": "integer"}
STR_LIST = {"type": "array", "items": STR}
DAY_OR_EMPTY = {"type": "string", "pattern": r"^(\d{4}-\d{2}-\d{2})?$"}
INSTANT_OR_EMPTY = {"type": "string", "pattern": r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}([+-]\d{2}:\d{2}|Z)?)?$"}
RECEIPT_STATUSES = ["queued", "indexed", "unchanged", "duplicate", "deleted", "failed"]


def _obj(properties: dict, required: list[str] | None = None, closed: bool = False) -> dict:
    schema = {"type": "object", "properties": properties, "required": list(properties) if required is None else required}
    if closed:
        schema["additionalProperties"] = False
    return schema


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _html(description: str) -> dict:
    return {"description": description, "content": {"text/html": {"schema": STR}}}


def _schemas() -> dict:
    facet = {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2,
                                         "items": {"oneOf": [STR, {"type": "integer", "minimum": 1}]}}}
    receipt = _obj({"path": STR, "status": {"type": "string", "enum": RECEIPT_STATUSES}, "reason": STR,
                    "id": STR, "at": STR, "code": {"type": "string", "description": "the reason's code (not_pdf, "
                    "pdf_no_text, same_content_as …), empty without a reason"},
                    "params": {"type": "object"},
                    "reason_zh": {"type": "string", "description": "the reason in Chinese (upload answers only)"}},
                   required=["path", "status"])
    return {
        "Error": _obj({"ok": {"type": "boolean", "enum": [False]},
                       "error": {"type": "string", "description": "the message in English"},
                       "code": {"type": "string", "description": "what went wrong, for programs (not_a_date, "
                                "page_beyond_end, no_such_report …; http_<status> for the rest)"},
                       "params": {"type": "object", "description": "the values the message names"},
                       "status": {"type": "integer", "minimum": 400, "maximum": 599}}, closed=True),
        "ParsedQuery": _obj({
            "terms": STR_LIST, "phrases": STR_LIST, "excluded": STR_LIST,
            "any_of": {"type": "array", "items": STR_LIST},
            "filters": {"type": "object", "additionalProperties": STR_LIST},
            "segmentation": STR,
            "same_as": {"type": "array", "items": {"type": "array", "items": STR, "minItems": 2, "maxItems": 2},
                        "description": "[query word, what it also found]: a company's code and name as the archive "
                                       "pairs them (宁德时代（300750.SZ）)"},
            "notes": {"type": "array", "items": _obj({"code": STR, "params": {"type": "object"}, "text": STR}),
                      "description": "what was ignored or read differently, each with its code"},
        }),
        "Hit": _obj({
            "id": STR, "title": STR,
            "title_html": {"type": "string", "description": "the title, escaped, its matches wrapped in <mark>"},
            "date": DAY_OR_EMPTY, "broker": STR, "industry": STR, "rating": STR,
            "path": STR, "paths": {"type": "array", "items": STR, "minItems": 1},
            "added_at": {"type": "string", "description": "when the report entered the archive (ISO, archive's zone)"},
            "score": {"type": "number", "minimum": 0},
            "snippets": {"type": "array", "items": STR, "maxItems": 3,
                         "description": "HTML fragments: matches wrapped in <mark>, all other text escaped"},
            "passages": {"type": "array", "maxItems": 3, "items": _obj({
                "html": {"type": "string", "description": "the snippet of the same place in `snippets`"},
                "page": {"type": "integer", "minimum": 1, "nullable": True,
                         "description": "the PDF page the passage starts on; null for .txt and .md"},
            }), "description": "the snippets in the same order, each with its page"},
        }),
        "SearchAnswer": _obj({
            "ok": {"type": "boolean", "enum": [True]},
            "query": STR,
            "parsed": _ref("ParsedQuery"),
            "total": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
            "size": {"type": "integer", "minimum": 1},
            "sort": {"type": "string", "enum": list(SORTS)},
            "took_ms": {"type": "number", "minimum": 0},
            "hits": {"type": "array", "items": _ref("Hit")},
            "facets": _obj({"broker": facet, "industry": facet, "rating": facet}),
        }),
        "Document": _obj({
            "ok": {"type": "boolean", "enum": [True]},
            "id": STR, "title": STR, "date": DAY_OR_EMPTY, "broker": STR, "industry": STR, "rating": STR,
            "rating_action": STR,
            "analysts": {"type": "array", "items": _obj({"name": STR, "sac": STR})},
            "stock_codes": STR_LIST,
            "companies": {"type": "array", "items": _obj({"code": STR, "name": STR}),
                          "description": "the first stock codes with the company name the archive writes before "
                                         "them (empty when it writes none)"},
            "kind": {"type": "string", "enum": ["txt", "md", "pdf"]},
            "encoding": STR, "path": STR, "paths": {"type": "array", "items": STR, "minItems": 1},
            "size": {"type": "integer", "minimum": 0},
            "content_hash": STR, "added_at": STR, "indexed_at": STR,
            "text": {"type": "string", "description": "cleaned display text: body, then boilerplate"},
            "body_len": {"type": "integer", "minimum": 0, "description": "text[:body_len] is the body"},
            "ranked_share": {"type": "number", "minimum": 0, "maximum": 1,
                             "description": "share of the text that ranks: the body before trailing disclaimers"},
            "html": {"type": "object", "nullable": True, "properties": {"body": STR, "boilerplate": STR},
                     "required": ["body", "boilerplate"],
                     "description": "a Markdown report's sanitized HTML as rendered at index time; null otherwise"},
            "similar": {"type": "array", "maxItems": 5, "items": _obj({
                "id": STR, "title": STR, "date": DAY_OR_EMPTY, "broker": STR,
                "words": {"type": "array", "items": STR, "description": "the rare words both reports hold"}}),
                "description": "the reports most like this one (the most shared rare words), best first"},
            "render_note": {"type": "string", "description": "why a Markdown report has no html: too_large, "
                            "timeout, recursion, memory, crashed or error; empty otherwise"},
            "pages": {"type": "array", "items": {"type": "array", "items": {"type": "integer", "minimum": 0},
                                                 "minItems": 2, "maxItems": 2},
                      "description": "[offset, page]: from this offset of `text` on, the PDF page; empty for .txt and .md"},
        }),
        "Receipt": receipt,
        "Status": _obj({
            "ok": {"type": "boolean"},
            "documents": {"type": "integer", "minimum": 0},
            "generation": {"type": "integer", "nullable": True},
            "build": {"type": "string", "nullable": True},
            "last_sync": {"type": "string", "nullable": True},
            "queue": {"type": "integer", "minimum": 0},
            "failed": {"type": "array", "items": _obj({"path": STR, "reason": STR, "code": STR,
                                                       "params": {"type": "object"}}, required=["path", "reason"])},
            "recent": {"type": "array", "items": receipt},
            "archive": STR, "index": STR,
            "start_error": {"type": "object", "nullable": True, "properties": {"reason": STR, "at": STR},
                            "description": "why the watcher could not start (its first sync or build failed)"},
            "held": {"type": "object", "nullable": True, "properties": {
                "missing": {"type": "integer"}, "documents": {"type": "integer"}, "since": STR},
                "description": "deletions held: most of the archive vanished at once (an unmounted share?); "
                               "null otherwise"},
            "error": {"type": "string", "description": "present when the index cannot be opened"},
            "code": {"type": "string", "description": "with error: index_unavailable, or index_damaged (a file "
                                                      "differs from its checksum: run `python -m indexer build`)"},
            "params": {"type": "object", "description": "with error: the code's parameters (index_damaged: file, detail)"},
            "status": {"type": "integer", "description": "503, present when the index cannot be opened"},
        }, required=["ok", "documents", "generation", "last_sync", "queue", "failed", "recent"]),
        "UploadAnswer": _obj({"ok": {"type": "boolean", "enum": [True]}, "receipt": receipt}),
        "Health": _obj({"ok": {"type": "boolean", "enum": [True]}, "documents": {"type": "integer", "minimum": 0}}),
    }


def _or_empty(schema: dict) -> dict:
    """A parameter that may also be sent empty (as HTML forms do): empty means left out."""
    return {"anyOf": [schema, {"type": "string", "maxLength": 0}]}


def _search_parameters(settings: Settings) -> list[dict]:
    limits = settings.search

    def query(name: str, schema: dict, description: str) -> dict:
        if schema.get("type") != "string" or "format" in schema or "enum" in schema:
            schema = _or_empty(schema)
            description += "; an empty value is the same as leaving the parameter out"
        return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}

    def facet_values(name: str, label: str) -> dict:
        return {"name": name, "in": "query", "required": False, "style": "form", "explode": True,
                "schema": {"type": "array", "items": STR, "maxItems": MAX_FACET_VALUES},
                "description": f"only reports of one of these {label} values (repeat the parameter: values of "
                               f"one facet are ORed, different facets ANDed; the facet's counts stay those of "
                               f"the other filters); {UNKNOWN} selects the reports without a {label}"}

    return [
        query("q", {"type": "string", "maxLength": limits.max_query_chars},
              'the query: words (ANDed), "exact phrases", OR, -word / NOT word, title: broker: industry: rating:; '
              "may be empty only when a filter is given"),
        query("page", {"type": "integer", "minimum": 1, "maximum": limits.max_page, "default": 1},
              "1-based page; a page beyond the last one is a 400"),
        query("size", {"type": "integer", "minimum": 1, "maximum": limits.max_size, "default": limits.default_size},
              "hits per page"),
        query("sort", {"type": "string", "enum": list(SORTS), "default": "relevance"},
              "relevance (BM25F with proximity), date (newest report date first) or added (newest in the "
              "archive first)"),
        *(facet_values(name, label) for name, label in (("broker", "broker"), ("industry", "industry"),
                                                          ("rating", "rating"))),
        query("from", {"type": "string", "format": "date"}, "report date on or after this day (YYYY-MM-DD)"),
        query("to", {"type": "string", "format": "date"}, "report date on or before this day (YYYY-MM-DD)"),
        query("indexed_from", {"type": "string", "format": "date-time"}, "added to the archive at or after this time"),
        query("indexed_to", {"type": "string", "format": "date-time"}, "added to the archive at or before this time"),
    ]


def openapi_spec(settings: Settings) -> dict:
    """The OpenAPI 3.0 document served at /api/openapi.json."""
    id_param = {"name": "id", "in": "path", "required": True, "description": "a report id (from a search hit)",
                "schema": {"type": "string", "pattern": r"^[0-9A-Za-z_-]{1,64}$"}}
    q_param = {"name": "q", "in": "query", "required": False, "description": "highlight this query's matches",
               "schema": {"type": "string", "maxLength": settings.search.max_query_chars}}
    search_params = _search_parameters(settings)
    bad = _json("Error", "a parameter the caller can fix (the message says which)")
    unknown = _json("Error", "no report with this id")
    unavailable = _json("Error", "the index is missing (being built) or cannot be read")
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Report Archive",
            "version": "1.0.0",
            "description": "Full-text search over an archive of Chinese research reports (研报). "
                           "Every error answers {\"ok\": false, \"error\": message, \"code\": code, "
                           "\"params\": {…}, \"status\": http status}.",
        },
        "tags": [{"name": "api", "description": "JSON API"}, {"name": "pages", "description": "HTML pages"}],
        "paths": {
            "/api/search": {"get": {
                "tags": ["api"], "operationId": "search", "summary": "Search the archive",
                "parameters": search_params,
                "responses": {"200": _json("SearchAnswer", "one page of hits, facets and the parsed query"),
                              "400": bad, "503": unavailable},
            }},
            "/api/documents/{id}": {"get": {
                "tags": ["api"], "operationId": "getDocument", "summary": "Metadata and cleaned text of a report",
                "parameters": [id_param],
                "responses": {"200": _json("Document", "the report"), "404": unknown, "503": unavailable},
            }},
            "/api/documents": {"post": {
                "tags": ["api"], "operationId": "uploadDocument",
                "summary": "Upload a report (.txt .md .markdown .pdf) into the archive folder",
                "security": [{"adminToken": []}],
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}}}}}},
                "responses": {
                    "200": _json("UploadAnswer", "saved and processed by the watcher: its receipt"),
                    "202": _json("UploadAnswer", "saved; the watcher has not reported on it yet (status queued)"),
                    "400": _json("Error", "no file field, an empty file or an unsupported file type"),
                    "401": _json("Error", "missing or wrong admin token"),
                    "403": _json("Error", "uploads are disabled (no admin token configured)"),
                    "409": _json("Error", "too many files with this name"),
                    "413": _json("Error", f"larger than {settings.server.max_upload_mb:g} MB"),
                    "429": _json("Error", "a wrong token from an address that sent 10 within a minute "
                                 "(Retry-After); the right token always passes"),
                },
            }},
            "/api/status": {"get": {
                "tags": ["api"], "operationId": "status", "summary": "Index status, failed files, recent receipts",
                "responses": {"200": _json("Status", "the status"),
                              "503": _json("Status", "the index cannot be opened: ok false, error, status 503 "
                                                     "and what is known (last sync, failed files, receipts)")},
            }},
            "/api/openapi.json": {"get": {
                "tags": ["api"], "operationId": "openapi", "summary": "This description",
                "responses": {"200": {"description": "OpenAPI 3.0 document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            }},
            "/healthz": {"get": {
                "tags": ["api"], "operationId": "health", "summary": "Whether the index opens",
                "responses": {"200": _json("Health", "the index opens"), "503": unavailable},
            }},
            "/": {"get": {"tags": ["pages"], "operationId": "home", "summary": "Search page",
                          "responses": {"200": _html("the search page"), "503": _html("index unavailable")}}},
            "/search": {"get": {
                "tags": ["pages"], "operationId": "searchPage", "summary": "Results page (the API's parameters)",
                "parameters": search_params,
                "responses": {"200": _html("results"), "400": _html("a parameter the caller can fix"),
                              "503": _html("index unavailable")},
            }},
            "/documents/{id}": {"get": {
                "tags": ["pages"], "operationId": "documentPage", "summary": "Document view",
                "parameters": [id_param, q_param],
                "responses": {"200": _html("the report"), "404": _html("unknown id"), "503": _html("index unavailable")},
            }},
            "/documents/{id}/raw": {"get": {
                "tags": ["pages"], "operationId": "documentRaw", "summary": "The original file (attachment)",
                "parameters": [id_param],
                "responses": {
                    "200": {"description": "the original file", "content": {
                        "text/plain": {"schema": STR}, "text/markdown": {"schema": STR},
                        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                    "404": _html("unknown id, or the file is gone"), "503": _html("index unavailable")},
            }},
            "/status": {"get": {"tags": ["pages"], "operationId": "statusPage", "summary": "Status page",
                                "responses": {"200": _html("status")}}},
            "/opensearch.xml": {"get": {
                "tags": ["pages"], "operationId": "opensearch", "summary": "OpenSearch description",
                "responses": {"200": {"description": "OpenSearch description document", "content": {
                    "application/opensearchdescription+xml": {"schema": STR}}}},
            }},
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer",
                                               "description": "[server].admin_token or ARCHIVE_ADMIN_TOKEN"}},
        },
    }
