"""Errors: one JSON envelope for /api/*, a friendly Chinese page elsewhere; never a traceback."""

from __future__ import annotations

from flask import Flask, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from indexer.errors import ArchiveError, IndexUnavailable, InvalidRequest
from indexer.messages import Message
from server.messages import chinese


class ApiError(Exception):
    """An error the API answers with its envelope; `status` is the HTTP code."""

    def __init__(self, status: int, message: str | Message, headers: dict | None = None):
        self.code = message.code if isinstance(message, Message) else ""
        self.params = message.params if isinstance(message, Message) else {}
        self.message = message.text() if isinstance(message, Message) else message
        super().__init__(self.message)
        self.status = status
        self.headers = headers or {}


def status_of(exc: BaseException) -> int:
    """The HTTP status for an exception: 4xx for what the caller can fix, 5xx for our faults."""
    if isinstance(exc, HTTPException):
        return exc.code or 500
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, InvalidRequest):
        return 400
    if isinstance(exc, IndexUnavailable):
        return 503
    return 500


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def render_error(status: int, message: str | Message, page_message: str = "", headers: dict | None = None):
    """The error answer for the current request: the JSON envelope or the Chinese error page.

    A Message gives the envelope its code and parameters and the page its Chinese wording;
    `page_message` words a plain-text error for the page.
    """
    headers = headers or {}
    if isinstance(message, Message):
        text, code, params, page_text = message.text(), message.code, message.params, chinese(message)
    else:
        text, code, params, page_text = message, f"http_{status}", {}, page_message or message
    if wants_json():
        return {"ok": False, "error": text, "code": code, "params": params, "status": status}, status, headers
    return render_template("error.html", status=status, message=page_text, code=code), status, headers


_PAGE_TITLES = {
    400: "请求有误", 401: "需要授权", 403: "没有权限", 404: "找不到页面", 405: "不支持的请求方法",
    413: "文件太大", 503: "索引暂不可用",
}


def init_app(app: Flask) -> None:
    """Register the handlers that turn every exception into an envelope or a page."""

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        message = Message(exc.code, exc.params) if exc.code else exc.message
        return render_error(exc.status, message, headers=exc.headers)

    @app.errorhandler(ArchiveError)
    def archive_error(exc: ArchiveError):
        status = status_of(exc)
        if status >= 500:
            if isinstance(exc, IndexUnavailable):
                current_app.logger.info("index unavailable: %s", exc)
            else:
                current_app.logger.exception("unexpected archive error")
        if isinstance(exc, IndexUnavailable):
            if not wants_json():
                return index_unavailable_page(exc)
            return render_error(status, exc.message)
        if isinstance(exc, InvalidRequest):
            return render_error(status, exc.message)
        return render_error(status, str(exc), page_message="处理请求时出错了。")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        headers = {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}
        if status == 413 and form_over_its_limits():
            return render_error(status, Message("form_too_large", {"max_parts": request.max_form_parts,
                                                                   "max_text_kb": request.max_form_memory_size // 1000}),
                                headers=headers)
        if status == 413:
            limit = current_app.config["ARCHIVE_SETTINGS"].server.max_upload_mb
            return render_error(status, Message("upload_too_large", {"limit_mb": limit}), headers=headers)
        if status == 404:
            return render_error(status, Message("not_found"), headers=headers)
        if status == 405:
            return render_error(status, Message("method_not_allowed", {"method": request.method}), headers=headers)
        return render_error(status, exc.description or exc.name, page_message=exc.name, headers=headers)

    @app.errorhandler(UnicodeDecodeError)
    def undecodable_request(exc: UnicodeDecodeError):
        # Werkzeug decodes a raw (not %-encoded) query string as UTF-8 when it is first read.
        return render_error(400, Message("not_utf8"))

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        current_app.logger.exception("unexpected error on %s %s", request.method, request.path)
        return render_error(500, Message("internal_error"))

    app.jinja_env.globals["error_title"] = lambda status: _PAGE_TITLES.get(status, "出错了")


def form_over_its_limits() -> bool:
    """A 413 for a body within MAX_CONTENT_LENGTH: Werkzeug's multipart limits (parts, text field size) refused it."""
    length = request.content_length
    return length is not None and length <= current_app.config["MAX_CONTENT_LENGTH"]


def index_unavailable_page(exc: IndexUnavailable):
    """503: the index is being built (or cannot be read); the page refreshes itself."""
    from indexer.store import IndexStore

    store = IndexStore(current_app.config["ARCHIVE_SETTINGS"])
    building = not store.exists()
    failed = building and store.read_status().get("start_error")
    if exc.message.code == "index_damaged":
        message = chinese(exc.message)
    elif failed:
        # The first build failed (and the watcher retries it): say so instead of "being built" for ever.
        message = (f"索引建立失败：{failed['reason']}。请管理员查看“档案状态”页和服务日志；"
                   "问题解决后会自动重试，本页也会刷新。")
    elif building:
        message = "索引正在建立中，请稍候片刻，本页会自动刷新。"
    else:
        message = "索引暂时无法读取，请稍后再试；如果一直如此，请管理员重建索引（python -m indexer build）。"
    return render_template("error.html", status=503, message=message,
                           refresh=30 if failed else 5 if building else 0), 503
