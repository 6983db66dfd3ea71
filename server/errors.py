"""Errors: one JSON envelope for /api/*, a friendly Chinese page elsewhere; never a traceback."""

from __future__ import annotations

import re

from flask import Flask, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from indexer.errors import ArchiveError, IndexUnavailable, InvalidRequest, QueryTooLong


class ApiError(Exception):
    """An error the API answers with its envelope; `status` is the HTTP code."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


# Messages of the indexer core (English, for API clients) explained for the Chinese pages.
_EXPLAINED = [
    (re.compile(r"page (\d+) is beyond the last page \((\d+)\) of (\d+) results"),
     "第 {0} 页超出了范围：共 {2} 条结果，只有 {1} 页。"),
    (re.compile(r"the query is empty"), "请输入关键词、\"短语\"，或选择一个筛选条件。"),
    (re.compile(r"the query is (\d+) characters long; at most (\d+)"),
     "查询太长（{0} 个字符），最多 {1} 个字符。请缩短关键词。"),
    (re.compile(r"the query has (\d+) words and phrases; at most (\d+)"),
     "查询包含 {0} 个词和短语，最多 {1} 个。请减少关键词。"),
    (re.compile(r"size must be between (\d+) and (\d+)"), "每页条数须在 {0} 到 {1} 之间。"),
    (re.compile(r"page must be between (\d+) and (\d+)"), "页码须在 {0} 到 {1} 之间。"),
    (re.compile(r"(page|size) must be a whole number"), "页码和每页条数须为整数。"),
    (re.compile(r"sort must be one of"), "排序方式只能是“相关度”或“日期”。"),
    (re.compile(r"^(from|to) must be a date"), "日期格式不对，应为 2025-02-04 这样的形式。"),
    (re.compile(r"^(indexed_from|indexed_to) must be"), "入库时间格式不对，应为 2025-02-04 或 2025-02-04T09:30:00。"),
    (re.compile(r"from \((.+)\) is after to \((.+)\)"), "起始日期 {0} 晚于结束日期 {1}。"),
]


def explain(message: str) -> str:
    """A Chinese explanation of a core error message (the message itself when unknown)."""
    for pattern, chinese in _EXPLAINED:
        match = pattern.search(message)
        if match:
            return chinese.format(*match.groups())
    return message


def status_of(exc: BaseException) -> int:
    """The HTTP status for an exception: 4xx for what the caller can fix, 5xx for our faults."""
    if isinstance(exc, HTTPException):
        return exc.code or 500
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, (InvalidRequest, QueryTooLong)):
        return 400
    if isinstance(exc, IndexUnavailable):
        return 503
    return 500


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def render_error(status: int, message: str, detail: str = "", headers: dict | None = None):
    """The error answer for the current request: the JSON envelope or the Chinese error page."""
    if wants_json():
        return {"ok": False, "error": message, "status": status}, status, headers or {}
    return render_template("error.html", status=status, message=message, detail=detail), status, headers or {}


_PAGE_TITLES = {
    400: "请求有误", 401: "需要授权", 403: "没有权限", 404: "找不到页面", 405: "不支持的请求方法",
    413: "文件太大", 503: "索引暂不可用",
}


def init_app(app: Flask) -> None:
    """Register the handlers that turn every exception into an envelope or a page."""

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return render_error(exc.status, exc.message, headers=exc.headers)

    @app.errorhandler(ArchiveError)
    def archive_error(exc: ArchiveError):
        status = status_of(exc)
        if status >= 500:
            if isinstance(exc, IndexUnavailable):
                current_app.logger.info("index unavailable: %s", exc)
            else:
                current_app.logger.exception("unexpected archive error")
        if wants_json():
            return render_error(status, str(exc))
        if isinstance(exc, IndexUnavailable):
            return index_unavailable_page(exc)
        return render_error(status, explain(str(exc)), detail=str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            limit = current_app.config["ARCHIVE_SETTINGS"].server.max_upload_mb
            message = f"the upload is larger than the limit of {limit:g} MB"
        headers = {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}
        if wants_json():
            return render_error(status, message if status != 404 else "not found", headers=headers)
        chinese = {404: "没有这个页面或报告。", 405: "这个地址不支持该请求方法。",
                   413: "上传的文件超过了大小限制。"}.get(status, exc.name)
        return render_error(status, chinese, detail=message, headers=headers)

    @app.errorhandler(UnicodeDecodeError)
    def undecodable_request(exc: UnicodeDecodeError):
        # Werkzeug decodes a raw (not %-encoded) query string as UTF-8 when it is first read.
        return render_error(400, "the request is not valid UTF-8: %-encode the query string",
                            detail="请求不是有效的 UTF-8 编码。")

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        current_app.logger.exception("unexpected error on %s %s", request.method, request.path)
        if wants_json():
            return render_error(500, "internal error: the problem was logged on the server")
        return render_error(500, "服务器内部出错了，问题已记录在日志中。请稍后再试。")

    app.jinja_env.globals["error_title"] = lambda status: _PAGE_TITLES.get(status, "出错了")


def index_unavailable_page(exc: IndexUnavailable):
    """503: the index is being built (or cannot be read); the page refreshes itself."""
    from indexer.store import IndexStore

    building = not IndexStore(current_app.config["ARCHIVE_SETTINGS"]).exists()
    message = ("索引正在建立中，请稍候片刻，本页会自动刷新。" if building
               else "索引暂时无法读取，请稍后再试；如果一直如此，请管理员重建索引（python -m indexer build）。")
    return render_template("error.html", status=503, message=message, detail=str(exc),
                           refresh=5 if building else 0), 503
