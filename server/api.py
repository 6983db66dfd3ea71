"""The JSON API: search, documents, status, uploads and the OpenAPI description."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, request

from indexer.messages import Message
from indexer.status import status_report
from indexer.query import parse_request
from server import get_document, get_searcher, get_settings
from server.auth import check_admin_token
from server.errors import ApiError
from server.openapi import openapi_spec
from server.uploads import UploadRefused, save_upload, wait_for_receipt

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/search")
def search():
    """GET /api/search: the contract of DESIGN.md §2, plus how the query was understood."""
    settings = get_settings()
    return get_searcher().search(parse_request(request.args, settings))


@bp.get("/documents/<report_id>")
def document(report_id: str):
    """GET /api/documents/<id>: metadata and the cleaned text."""
    found = get_document(report_id)
    if found is None:
        raise ApiError(404, Message("no_such_report", {"id": report_id[:64]}))
    if found["id"] != report_id:
        from server.web import to_current_id
        return to_current_id(found)
    return {"ok": True, **found}


@bp.get("/status")
def status():
    """GET /api/status: as `python -m indexer status --json`."""
    report = status_report(get_settings(), full_paths=False)
    if not report["ok"]:
        return {**report, "status": 503}, 503
    return report


@bp.get("/openapi.json")
def openapi():
    return openapi_spec(get_settings())


@bp.post("/documents")
def upload():
    """POST /api/documents: save a report into the archive; the watcher's receipt if it comes within 3 s."""
    settings = get_settings()
    check_admin_token(settings)
    started = time.time()
    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        raise ApiError(400, "send the report as multipart/form-data in the field 'file'")
    try:
        relpath = save_upload(settings, upload_file.stream, upload_file.filename)
    except UploadRefused as exc:
        raise ApiError(exc.status, exc.message) from None
    current_app.logger.info("upload saved as %s", relpath)
    receipt = wait_for_receipt(settings, relpath, started, current_app.config["UPLOAD_RECEIPT_WAIT_SECONDS"])
    if receipt is None:
        return {"ok": True, "receipt": {"path": relpath, "status": "queued"}}, 202
    from server.web import explain_reason
    return {"ok": True, "receipt": {**receipt, "reason_zh": explain_reason(receipt) if receipt.get("reason") else ""}}, 200
