"""The gunicorn workers of `python -m server --prod`: gevent (or gthread), refusals in the app's JSON envelope."""

from __future__ import annotations

import json
import re

from gunicorn import util
from gunicorn.http import message
from gunicorn.http.message import MAX_REQUEST_LINE
from gunicorn.workers.ggevent import GeventWorker
from gunicorn.workers.gthread import ThreadWorker

from indexer.messages import Message
from server import SECURITY_HEADERS

# gunicorn answers a request it cannot parse (request line over --limit-request-line, too many or
# too large headers, broken HTTP) itself, before the app sees it, with an HTML page and none of our
# headers. Its workers call gunicorn.util.write_error for that answer and offer no hook, so this
# module, the one seam, replaces that function in every process that loads these worker classes.


def refusal(status_int: int, mesg: str) -> Message:
    """What gunicorn refused, as a message code."""
    if status_int == 414:
        return Message("request_line_too_long", {"limit": MAX_REQUEST_LINE})
    if status_int == 431:
        return Message("headers_too_large")
    if status_int >= 500:
        return Message("internal_error")
    return Message("bad_http", {"reason": mesg[:200]})


def write_refusal(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's error answer as the app's envelope (ok, error, code, params, status) with its security headers."""
    message = refusal(status_int, mesg)
    body = json.dumps({"ok": False, "error": message.text(), "code": message.code, "params": message.params,
                       "status": status_int}, ensure_ascii=False).encode("utf-8")
    head = [f"HTTP/1.1 {status_int} {reason}", "Connection: close", "Content-Type: application/json",
            f"Content-Length: {len(body)}", *(f"{name}: {value}" for name, value in SECURITY_HEADERS.items())]
    util.write_nonblock(sock, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


util.write_error = write_refusal

# gunicorn refuses a request target with bytes outside printable ASCII (RFC 9112 wants them
# %-encoded), so `curl 'http://host/api/search?q=固态电池'` was 400 on --prod while the development
# server answers it. Bytes 0x80-0xFF are let through, as Latin-1 text in the WSGI environ (PEP 3333),
# which Werkzeug decodes as UTF-8; spaces and control characters are still refused. The pure-Python
# parser reads this pattern (`--http-parser python`, set by python -m server).
message.RFC9112_TARGET_INVALID = re.compile(r"[^\x21-\x7e\x80-\xff]")


class ArchiveGeventWorker(GeventWorker):
    """gevent: each connection is a greenlet, so hundreds of slow or idle clients hold no worker thread."""

    def init_process(self):
        # A search is CPU work that never waits: let it yield between its stages, so the short
        # searches queued on this worker are not held up by a long one.
        import gevent

        import indexer.search

        indexer.search.cooperative_yield = gevent.sleep
        super().init_process()


class ArchiveThreadWorker(ThreadWorker):
    """gthread (the former default): a thread per request being read, so 4 slow clients stall a worker."""
