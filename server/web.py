"""HTML pages: search and results, document view, original file, status, health, OpenSearch."""

from __future__ import annotations

import codecs
import math
import re
import unicodedata
from pathlib import Path
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from flask import Blueprint, abort, make_response, redirect, render_template, request, send_file, url_for

from indexer.status import status_report
from indexer.errors import IndexUnavailable, InvalidRequest
from indexer.messages import Message
from indexer.query import parse_request
from server import get_document, get_searcher, get_settings
from server.errors import ApiError, render_error
from server.messages import chinese
from server.rendering import render_document

bp = Blueprint("web", __name__)

# Query-string keys that make up a results page's state (shareable URLs).
STATE_KEYS = ("q", "broker", "industry", "rating", "from", "to", "indexed_from", "indexed_to", "sort", "size", "page")
FILTER_KEYS = ("broker", "industry", "rating", "from", "to", "indexed_from", "indexed_to")
FILTER_LABELS = {"broker": "券商", "industry": "行业", "rating": "评级", "analyst": "分析师", "code": "代码",
                 "from": "从", "to": "到",
                 "indexed_from": "入库从", "indexed_to": "入库到"}
FACET_LABELS = {"broker": "券商", "industry": "行业", "rating": "评级"}
FACET_LIMIT = 12
BROWSE_SIZE = 8
MIME_TYPES = {"txt": "text/plain", "md": "text/markdown", "pdf": "application/pdf"}
RECEIPT_LABELS = {"queued": "排队中", "indexed": "已入库", "unchanged": "未变化", "duplicate": "重复",
                  "deleted": "已删除", "failed": "失败"}
def current_state() -> dict[str, str | list[str]]:
    """The results page's state from the query string (only known keys, empty ones dropped);
    a facet holds the list of its selected values (broker=A&broker=B)."""
    state: dict[str, str | list[str]] = {}
    for key in STATE_KEYS:
        if key in FACET_LABELS:
            values = list(dict.fromkeys(v.strip() for v in request.args.getlist(key) if v.strip()))
            if values:
                state[key] = values
        elif request.args.get(key, "").strip():
            state[key] = request.args.get(key, "").strip()
    return state


@bp.app_template_global()
def state_url(state: dict, **changes) -> str:
    """The /search URL of `state` with `changes` applied (None removes a key); page resets unless given."""
    merged = dict(state)
    if "page" not in changes:
        merged.pop("page", None)
    for key, value in changes.items():
        if value in (None, "", []):
            merged.pop(key, None)
        else:
            merged[key] = value if isinstance(value, list) else str(value)
    return url_for("web.search") + ("?" + urlencode(state_pairs(merged)) if merged else "")


@bp.app_template_global()
def state_pairs(state: dict) -> list[tuple[str, str]]:
    """The query-string pairs of a state, in a stable order (one pair per selected facet value)."""
    pairs = []
    for key in STATE_KEYS:
        value = state.get(key)
        if value:
            pairs.extend((key, item) for item in (value if isinstance(value, list) else [value]))
    return pairs


@bp.app_template_global()
def toggle_url(state: dict, name: str, value: str) -> str:
    """The URL with facet value `value` selected when it was not, deselected when it was."""
    chosen = list(state.get(name, []))
    chosen = [v for v in chosen if v != value] if value in chosen else [*chosen, value]
    return state_url(state, **{name: chosen or None})


def page_numbers(page: int, last: int) -> list[int | None]:
    """Page links around the current page: 1 … p-2 … p+2 … last (None marks a gap)."""
    shown = sorted({1, last, *range(max(1, page - 2), min(last, page + 2) + 1)})
    out: list[int | None] = []
    for number in shown:
        if out and number - out[-1] > 1:
            out.append(None)
        out.append(number)
    return out


def understood(parsed: dict) -> list[tuple[str, str]]:
    """How the query was understood, as (label, text) pairs for one quiet line."""
    parts = []
    if parsed["segmentation"]:
        parts.append(("分词", parsed["segmentation"]))
    if parsed["phrases"]:
        parts.append(("短语", "、".join(f"“{p}”" for p in parsed["phrases"])))
    if parsed["any_of"]:
        parts.append(("任一", "；".join(" 或 ".join(group) for group in parsed["any_of"])))
    if parsed["same_as"]:
        parts.append(("同指", "；".join(f"{text} = {other}" for text, other in parsed["same_as"])))
    if parsed["excluded"]:
        parts.append(("排除", "、".join(parsed["excluded"])))
    for name, values in parsed["filters"].items():
        parts.append((FILTER_LABELS.get(name, name), "、".join(values)))
    parts.extend(("提示", chinese(Message(note["code"], note["params"]))) for note in parsed["notes"])
    return parts


def browse_answer() -> dict | None:
    """The newest reports and the facets of the whole archive, for the start page."""
    return get_searcher().newest(BROWSE_SIZE)


def render_home(status: int = 200, hint: str = ""):
    answer = browse_answer()
    return render_template("search.html", answer=None, browse=answer, state=current_state(), error=None,
                           hint=hint, facet_labels=FACET_LABELS, facet_limit=FACET_LIMIT,
                           is_home=True), status


@bp.get("/")
def home():
    return render_home()


@bp.get("/search")
def search():
    """The results page: the same parameters and the same search call as GET /api/search."""
    settings = get_settings()
    state = current_state()
    error = None
    answer = None
    try:
        search_request = parse_request(request.args, settings)
        if not any(key in state for key in ("q", *FILTER_KEYS)):
            return render_home(hint="请输入关键词。" if "q" in request.args else "")
        answer = get_searcher().search(search_request)
    except InvalidRequest as exc:
        error = {"message": chinese(exc.message), "code": exc.message.code,
                 "first_page": state_url(state, page=None) if exc.message.code == "page_beyond_end" else None}
    context = dict(state=state, facet_labels=FACET_LABELS, facet_limit=FACET_LIMIT,
                   is_home=False, browse=None, hint="",
                   active=[key for key in FILTER_KEYS if key in state], filter_labels=FILTER_LABELS,
                   json_url=url_for("api.search") + "?" + urlencode(state_pairs(state)),
                   feed_url=url_for("exports.feed") + "?" + urlencode(
                       [(k, v) for k, v in state_pairs(state) if k not in ("page", "size", "sort")]),
                   csv_url=url_for("exports.export") + "?" + urlencode(
                       [(k, v) for k, v in state_pairs(state) if k not in ("page", "size")]))
    if error:
        return render_template("search.html", answer=None, error=error, **context), 400
    last = max(1, math.ceil(answer["total"] / answer["size"]))
    last = min(last, settings.search.max_page)
    return render_template("search.html", answer=answer, error=None, last_page=last,
                           pages=page_numbers(answer["page"], last), understood=understood(answer["parsed"]),
                           **context)


@bp.get("/documents/<report_id>")
def document(report_id: str):
    """The document view; with ?q= the query's matches are marked and can be stepped through."""
    found = get_document(report_id)
    if found is None:
        abort(404)
    if found["id"] != report_id:
        return to_current_id(found)
    q = request.args.get("q", "").strip()[: get_settings().search.max_query_chars]
    rendered = render_document(found, q)
    return render_template("document.html", doc=found, rendered=rendered, q=q,
                           back_url=state_url({"q": q}) if q else None,
                           file_name=Path(found["path"]).name)


def to_current_id(found: dict):
    """A permanent redirect from an id the report had (a file's, before a copy under a smaller name
    became its primary) to the id it has now, keeping the query string."""
    endpoint = request.endpoint or "web.document"
    return redirect(url_for(endpoint, report_id=found["id"], **request.args.to_dict(flat=False)), 308)


def original_file(found: dict) -> Path | None:
    """The archived file of a document, only if it is a regular file inside the archive root."""
    root = Path(get_settings().archive.root).resolve()
    try:
        path = (root / found["path"]).resolve()
    except (OSError, ValueError):
        return None
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def content_type(found: dict, path: Path) -> str:
    """The original file's Content-Type; text types carry the encoding the indexer detected."""
    kind = found.get("kind") or path.suffix.lower().lstrip(".")
    mime = MIME_TYPES.get(kind, "application/octet-stream")
    if mime.startswith("text/"):
        try:
            charset = codecs.lookup(found.get("encoding") or "utf-8").name
        except LookupError:
            charset = "utf-8"
        mime += "; charset=" + ("utf-8" if charset == "utf-8-sig" else charset)
    return mime


def content_disposition(name: str, inline: bool = False) -> str:
    """`attachment` (or `inline`) with an ASCII fallback name and the real (Chinese) name per RFC 5987 / 6266."""
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    ascii_stem = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_stem).strip("._") or "report"
    fallback = ascii_stem + (f".{re.sub(r'[^A-Za-z0-9]', '', suffix)}" if suffix else "")
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@bp.get("/documents/<report_id>/raw")
def raw(report_id: str):
    """The original file named like the original (RFC 5987 filename*); a PDF opens in the browser (#page=N)."""
    found = get_document(report_id)
    if found is None:
        abort(404)
    if found["id"] != report_id:
        return to_current_id(found)
    path = original_file(found)
    if path is None:
        raise ApiError(404, Message("original_missing"))
    response = send_file(path, mimetype="application/octet-stream", max_age=0)
    response.headers["Content-Type"] = content_type(found, path)
    response.headers["Content-Disposition"] = content_disposition(path.name, inline=found.get("kind") == "pdf")
    return response


@bp.app_template_global()
def explain_reason(record: dict) -> str:
    """A receipt's or failed file's reason in Chinese (its code worded), the English one for an old record."""
    if record.get("code"):
        return chinese(Message(record["code"], record.get("params") or {}))
    return record.get("reason", "")


@bp.get("/status")
def status():
    report = status_report(get_settings(), full_paths=False)
    return render_template("status.html", report=report, receipt_labels=RECEIPT_LABELS)


@bp.get("/healthz")
def healthz():
    try:
        documents = get_searcher().document_count()
    except IndexUnavailable as exc:
        return render_error(503, exc.message)
    return {"ok": True, "documents": documents}


@bp.get("/opensearch.xml")
def opensearch():
    """The OpenSearch description that lets a browser add the archive as a search engine."""
    # The configured address, not the Host header that any client can write; without one, the
    # host the browser asked (the only one known), kept out of every shared cache.
    public_url = get_settings().server.public_url
    root = (public_url or request.url_root).rstrip("/")
    urls = {"text/html": url_for("web.search"), "application/json": url_for("api.search")}
    icon = url_for("static", filename="favicon.svg")
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<OpenSearchDescription xmlns="http://a9.com/-/spec/opensearch/1.1/">',
        "  <ShortName>研报档案</ShortName>",
        "  <Description>研报全文检索</Description>",
        "  <InputEncoding>UTF-8</InputEncoding>",
        f'  <Image type="image/svg+xml">{xml_escape(root + icon)}</Image>',
        *(f'  <Url type="{kind}" method="get" template={quoteattr(root + path + "?q={searchTerms}")}/>'
          for kind, path in urls.items()),
        "</OpenSearchDescription>",
    ]
    response = make_response("\n".join(lines) + "\n")
    response.mimetype = "application/opensearchdescription+xml"
    if not public_url:
        response.headers["Cache-Control"] = "no-store"
    return response
