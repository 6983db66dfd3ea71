"""The admin token of uploads, and the limit on wrong tokens per client address, shared by every worker."""

from __future__ import annotations

import hmac
import logging
import sqlite3
import time
from pathlib import Path

from flask import request

from server.errors import ApiError

log = logging.getLogger(__name__)

FAILED_AUTH_LIMIT = 10          # wrong tokens from one address per window before 429
FAILED_AUTH_WINDOW = 60.0       # seconds
FAILED_AUTH_FILE = "auth_failures.sqlite"   # under the var folder, beside the index


class FailedAuthLog:
    """Wrong tokens per client address over the last FAILED_AUTH_WINDOW seconds, in one SQLite file.

    A file rather than a dict in the app: every gunicorn worker process counts into the same
    table (with per-process dicts, 2 workers let 15 wrong tokens a minute through instead of 10).
    Times are wall-clock seconds, which every process reads alike.
    """

    def __init__(self, path: Path):
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        connection.execute("CREATE TABLE IF NOT EXISTS failure (address TEXT NOT NULL, at REAL NOT NULL)")
        connection.execute("CREATE INDEX IF NOT EXISTS failure_address ON failure (address, at)")
        return connection

    def add(self, address: str, now: float) -> float:
        """Record a wrong token from `address`; 0, or the seconds to wait when it is over the limit (not recorded)."""
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")     # one writer at a time: count and insert as one step
            # older rows go; rows from the future too (the clock was set back), or they would lock for ever
            connection.execute("DELETE FROM failure WHERE at <= ? OR at > ?", (now - FAILED_AUTH_WINDOW, now + 1))
            count, first = connection.execute("SELECT count(*), min(at) FROM failure WHERE address = ?",
                                              (address,)).fetchone()
            if count >= FAILED_AUTH_LIMIT:
                connection.execute("COMMIT")
                return max(1.0, FAILED_AUTH_WINDOW - (now - first))
            connection.execute("INSERT INTO failure VALUES (?, ?)", (address, now))
            connection.execute("COMMIT")
            return 0.0
        finally:
            connection.close()


def check_admin_token(settings) -> None:
    """Uploads need `Authorization: Bearer <admin token>`; none configured disables them.

    A correct token always passes, whoever else sent wrong ones. An address that sent
    FAILED_AUTH_LIMIT wrong tokens within FAILED_AUTH_WINDOW seconds gets 429 instead of 401 for
    the next wrong ones until the window has passed. The address is the peer's, or the one
    [server].trusted_proxies proxies put in X-Forwarded-For (ProxyFix, in create_app).
    """
    expected = settings.server.admin_token
    if not expected:
        raise ApiError(403, "uploads are disabled: no admin token is configured on the server")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8"), expected.encode("utf-8")):
        return
    try:
        wait = FailedAuthLog(settings.var_dir / FAILED_AUTH_FILE).add(request.remote_addr or "-", time.time())
    except (OSError, sqlite3.Error):
        # the token is wrong either way: refuse it, without the count
        log.exception("could not count a failed upload attempt in %s", settings.var_dir / FAILED_AUTH_FILE)
        wait = 0.0
    if wait:
        seconds = int(wait) + 1
        raise ApiError(429, f"too many failed upload attempts from this address: try again in {seconds} s",
                       headers={"Retry-After": str(seconds)})
    raise ApiError(401, "a valid admin token is required: send Authorization: Bearer <token>",
                   headers={"WWW-Authenticate": 'Bearer realm="report-archive"'})
