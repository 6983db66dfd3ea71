"""Access log: one key=value line per request (method, path, status, latency) on logger "server.access"."""

from __future__ import annotations

import json
import logging
import time

from flask import Flask, g, request

access_log = logging.getLogger("server.access")


def init_app(app: Flask) -> None:
    """Time every request and log it when its response is ready."""
    app.before_request(start_timer)
    app.after_request(log_request)


def start_timer() -> None:
    g.request_started = time.perf_counter()


def log_request(response):
    """One line per request: `method=GET path=/api/search status=200 ms=9.3`."""
    started = g.get("request_started")
    millis = (time.perf_counter() - started) * 1000 if started is not None else -1.0
    access_log.info("method=%s path=%s status=%d ms=%.1f", request.method, log_value(request.path),
                    response.status_code, millis)
    return response


def log_value(text: str) -> str:
    """A value that keeps one line parseable as key=value: quoted (JSON) when it has spaces, quotes or '='."""
    if text and not any(c.isspace() or c in '"=\\' for c in text) and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)
