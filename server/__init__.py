"""Report Archive's web server (Flask): the application factory."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from flask import Flask, current_app
from werkzeug.middleware.proxy_fix import ProxyFix

from indexer.config import Settings, load_settings
from indexer.search import ArchiveSearcher
from server.uploads import RECEIPT_WAIT_SECONDS

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; object-src 'none'; "
                                "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
# Multipart framing around an uploaded file: allowed on top of [server].max_upload_mb.
UPLOAD_OVERHEAD_BYTES = 64 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask application for `settings` (None: load config.toml / $ARCHIVE_CONFIG)."""
    if settings is None:
        settings = load_settings()
    app = Flask(__name__)
    app.config.update(
        ARCHIVE_SETTINGS=settings,
        JSON_AS_ASCII=False,
        MAX_CONTENT_LENGTH=int(settings.server.max_upload_mb * 1024 * 1024) + UPLOAD_OVERHEAD_BYTES,
        UPLOAD_RECEIPT_WAIT_SECONDS=RECEIPT_WAIT_SECONDS,
    )
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["archive_searcher"] = ArchiveSearcher(settings)
    from server.uploads import remove_stale_parts

    remove_stale_parts(settings)   # left by a server killed in the middle of an upload
    if not app.debug and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from server import api, errors, exports, logs, web

    app.register_blueprint(web.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(exports.bp)
    errors.init_app(app)
    logs.init_app(app)
    app.after_request(add_security_headers)
    app.jinja_env.filters["short_time"] = short_time
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    if settings.server.trusted_proxies:
        # The client's address (for the wrong-token limit) and scheme as the proxies saw them;
        # only the last trusted_proxies entries are believed, the rest a client could have written.
        proxies = settings.server.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    return app


def get_settings() -> Settings:
    """The settings of the current app."""
    return current_app.config["ARCHIVE_SETTINGS"]


def get_searcher() -> ArchiveSearcher:
    """The app's one searcher (it reopens the index when the watcher commits)."""
    return current_app.extensions["archive_searcher"]


def get_document(report_id: str) -> dict | None:
    """The document of an id, or None for an unknown (or impossible) id; ids are the only way to a file."""
    if not 0 < len(report_id) <= 64 or not all(c.isascii() and (c.isalnum() or c in "_-") for c in report_id):
        return None
    return get_searcher().document(report_id)


def add_security_headers(response):
    """Every response: a strict CSP (no inline script), nosniff, no framing."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def short_time(value: str | None) -> str:
    """An ISO timestamp as `2025-02-04 17:30 UTC+8`, in the archive's time zone (or the input when it is not one)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(current_app.config["ARCHIVE_SETTINGS"].zone)
    return moment.strftime("%Y-%m-%d %H:%M") + " " + utc_offset(moment)


def utc_offset(moment: datetime) -> str:
    """The zone of a time as its offset: UTC+8, UTC-3:30, UTC."""
    minutes = int(moment.utcoffset().total_seconds() // 60)
    if not minutes:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'+' if minutes > 0 else '-'}{hours}" + (f":{rest:02d}" if rest else "")
