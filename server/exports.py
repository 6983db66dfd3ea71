"""Query feeds and exports: the results of a search as Atom (/search.atom) and as CSV (/search.csv)."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import datetime
from urllib.parse import urlencode
from xml.etree import ElementTree

from flask import Blueprint, make_response, request, url_for

from indexer.query import parse_request
from server import get_searcher, get_settings
from server.web import FACET_LABELS, current_state, state_pairs

bp = Blueprint("exports", __name__)

ATOM = "http://www.w3.org/2005/Atom"
# A cell a spreadsheet would run as a formula (=HYPERLINK(...), +cmd, @SUM) is kept as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (("title", "标题"), ("date", "日期"), ("broker", "券商"), ("industry", "行业"), ("rating", "评级"),
               ("added_at", "入库时间"), ("path", "文件"), ("url", "链接"))


def _absolute(path: str) -> str:
    return request.url_root.rstrip("/") + path


def _state_query(state: dict) -> str:
    pairs = [(key, value) for key, value in state_pairs(state) if key not in ("page", "size")]
    return ("?" + urlencode(pairs)) if pairs else ""


def _title(state: dict) -> str:
    parts = [state.get("q", "")] + [f"{FACET_LABELS[key]}：{'、'.join(state[key])}" for key in FACET_LABELS if key in state]
    shown = " · ".join(part for part in parts if part)
    return f"研报档案：{shown}" if shown else "研报档案：最新入库"


@bp.get("/search.atom")
def feed():
    """An Atom feed of the newest reports (by when they entered the archive) a query and its filters select."""
    settings = get_settings()
    state = current_state()
    search_request = dataclasses.replace(parse_request(request.args, settings), sort="added", page=1,
                                         size=settings.search.feed_size)
    answer = get_searcher().listing(search_request)
    query = _state_query(state)
    ElementTree.register_namespace("", ATOM)

    def element(parent, tag: str, text: str | None = None, **attributes) -> ElementTree.Element:
        node = ElementTree.SubElement(parent, f"{{{ATOM}}}{tag}", attributes)
        if text is not None:
            node.text = text
        return node

    root = ElementTree.Element(f"{{{ATOM}}}feed")
    self_url = _absolute(url_for("exports.feed")) + query
    element(root, "id", self_url)
    element(root, "title", _title(state))
    newest = max((hit["added_at"] for hit in answer["hits"] if hit["added_at"]), default="")
    element(root, "updated", newest or datetime.now(settings.zone).isoformat(timespec="seconds"))
    element(root, "link", rel="self", type="application/atom+xml", href=self_url)
    element(root, "link", rel="alternate", type="text/html", href=_absolute(url_for("web.search")) + query)
    element(element(root, "author"), "name", "研报档案")
    element(root, "generator", "Report Archive")
    for hit in answer["hits"]:
        entry = element(root, "entry")
        link = _absolute(url_for("web.document", report_id=hit["id"]))
        element(entry, "id", link)
        element(entry, "title", hit["title"])
        element(entry, "updated", hit["added_at"] or newest)
        if hit["date"]:
            element(entry, "published", f"{hit['date']}T00:00:00{_offset(hit['added_at'])}")
        element(entry, "link", rel="alternate", type="text/html", href=link)
        if hit["broker"]:
            element(element(entry, "author"), "name", hit["broker"])
        for facet in ("industry", "rating"):
            if hit[facet]:
                element(entry, "category", term=hit[facet], label=f"{FACET_LABELS[facet]}：{hit[facet]}")
        if hit["snippets"]:
            element(entry, "summary", " ".join(hit["snippets"]), type="html")
    body = ElementTree.tostring(root, encoding="unicode", xml_declaration=False)
    response = make_response('<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n")
    response.mimetype = "application/atom+xml"
    return response


def _offset(iso_time: str) -> str:
    """The UTC offset of an ISO time ("+08:00"), "Z" when it has none."""
    try:
        offset = datetime.fromisoformat(iso_time).strftime("%z")
    except ValueError:
        return "Z"
    return f"{offset[:3]}:{offset[3:]}" if offset else "Z"


def _cell(value: str) -> str:
    value = str(value or "")
    return "'" + value if value.startswith(_FORMULA_START) else value


@bp.get("/search.csv")
def export():
    """The results of a query and its filters as CSV (UTF-8 with a BOM, so that Excel reads the Chinese),
    in the requested order, up to [search].export_rows rows."""
    settings = get_settings()
    search_request = dataclasses.replace(parse_request(request.args, settings), page=1,
                                         size=settings.search.export_rows)
    answer = get_searcher().listing(search_request, snippets=False)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(label for _, label in CSV_COLUMNS)
    for hit in answer["hits"]:
        row = dict(hit, url=_absolute(url_for("web.document", report_id=hit["id"])))
        writer.writerow(_cell(row[key]) for key, _ in CSV_COLUMNS)
    response = make_response(out.getvalue())
    response.mimetype = "text/csv"
    response.charset = "utf-8"
    response.headers["Content-Disposition"] = "attachment; filename=\"report-archive.csv\"; filename*=UTF-8''" \
                                              "%E7%A0%94%E6%8A%A5%E6%A3%80%E7%B4%A2.csv"
    response.headers["X-Total-Count"] = str(answer["total"])
    return response
