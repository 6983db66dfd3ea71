"""`python -m server --prod`: gunicorn workers plus the watcher child, served for real and stopped cleanly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import HUAAN, KAIYUAN, SAMPLES, child_pids, get_json, is_running, poll, running_server

from server.__main__ import MALLOC_ARENAS, SEARCH_NICENESS

pytest.importorskip("gunicorn")
pytestmark = pytest.mark.slow

NEW_REPORT = "氢能重卡行业深度：加氢站建设提速.txt"
NEW_TEXT = ("氢能重卡产业链梳理。\n\n"
            "今年加氢站建设明显提速，燃料电池系统成本持续下降，氢能重卡示范城市群扩容。\n")


@pytest.fixture
def prod_server(tmp_path):
    """`python -m server --prod` on a free port over two sample reports; yields (base url, process, output reader)."""
    (tmp_path / "archive").mkdir()
    for name in (KAIYUAN, HUAAN):
        shutil.copy(SAMPLES / name, tmp_path / "archive" / name)
    with running_server(tmp_path, "--prod", tables="workers = 2\nthreads = 2\n") as served:
        yield served


def test_prod_serves_searches_indexes_drops_and_stops_cleanly(prod_server, tmp_path):
    base, process, output = prod_server
    health = poll(lambda: get_json(f"{base}/healthz"), 30)
    assert health and health["ok"]

    def search(q: str) -> dict:
        return get_json(f"{base}/api/search?" + urllib.parse.urlencode({"q": q}))

    # the watcher's initial sync indexes the two reports; the gunicorn workers see its commit
    found = poll(lambda: search("智能车")["total"] >= 1 and search("智能车"), 20)
    assert found and found["hits"][0]["title"].startswith("DeepSeek-R1横空出世")
    assert search("氢能重卡")["total"] == 0

    (tmp_path / "archive" / NEW_REPORT).write_text(NEW_TEXT, encoding="utf-8")
    dropped = poll(lambda: search("氢能重卡")["total"] == 1 and search("氢能重卡"), 10)
    assert dropped, "the dropped report did not become searchable within 10 s"
    assert dropped["hits"][0]["title"].startswith("氢能重卡行业深度")

    children = child_pids(process.pid)
    watchers = [pid for pid, cmd in children.items() if "indexer" in cmd and "watch" in cmd]
    servers = [pid for pid, cmd in children.items() if "gunicorn" in cmd]
    assert len(watchers) == 1 and len(servers) == 1, children
    workers = child_pids(servers[0])
    assert len(workers) == 2, workers
    for pid in workers:   # searches yield the CPU to the writer
        assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, watchers[0]) + SEARCH_NICENESS
    for pid in [*workers, watchers[0]]:     # two malloc arenas in each long-running process
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
        child_environ = dict(item.split("=", 1) for item in environ if "=" in item)
        assert child_environ.get("MALLOC_ARENA_MAX") == str(MALLOC_ARENAS), pid

    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    gone = poll(lambda: not any(is_running(pid) for pid in [*watchers, *servers, *workers]), 2)
    assert gone, "a child of the server outlived it"

    text = output.text()
    assert "server.access: method=GET path=/api/search status=200 ms=" in text
    assert "server.access: method=GET path=/healthz status=200 ms=" in text
    assert f"indexed {NEW_REPORT}" in text     # the watcher's one line per indexed file


def test_prod_answers_healthz_while_slow_clients_hold_connections(prod_server):
    """Slow-loris: 100 clients each send a header line every second and never finish; /healthz still answers."""
    base, process, output = prod_server
    assert poll(lambda: get_json(f"{base}/healthz"), 30)
    port = int(base.rsplit(":", 1)[1])
    slow = []
    try:
        for _ in range(100):
            client = socket.create_connection(("127.0.0.1", port), timeout=5)
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(client)
        for second in range(4):
            for client in slow:
                try:
                    client.sendall(f"X-Slow-{second}: 1\r\n".encode())
                except OSError:
                    pass            # the server may close a client this slow: that frees it too
            # the gthread workers (2 x 2 threads here) answered nothing once 4 such clients were reading
            with urllib.request.urlopen(f"{base}/healthz", timeout=10) as answer:
                assert answer.status == 200 and json.load(answer)["ok"]
            time.sleep(1)
    finally:
        for client in slow:
            client.close()


def raw_get(port: int, target: bytes) -> tuple[int, dict, dict]:
    """GET `target` (bytes, sent as they are) on a fresh connection: status, headers, JSON body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := client.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


def test_prod_answers_long_and_raw_utf8_queries_itself(prod_server):
    base, process, output = prod_server
    assert poll(lambda: get_json(f"{base}/healthz"), 30)
    port = int(base.rsplit(":", 1)[1])

    def query(q: str) -> bytes:
        return b"/api/search?" + urllib.parse.urlencode({"q": q}).encode()

    phrase = '"' + "固态电池" * 115 + '"'               # 462 characters, 4,000+ bytes %-encoded
    status, _, answer = raw_get(port, query(phrase))
    assert status == 200 and answer["ok"] and answer["total"] == 0
    status, _, answer = raw_get(port, query("电" * 600))  # over [search].max_query_chars: the app's message
    assert status == 400 and "at most 500" in answer["error"]
    status, headers, answer = raw_get(port, query("电" * 1000))    # over gunicorn's longest request line
    assert status == 414 and answer["ok"] is False and answer["status"] == 414
    assert answer["code"] == "request_line_too_long" and answer["params"] == {"limit": 8190}
    assert "shorten the query" in answer["error"]
    assert headers["content-type"] == "application/json" and headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in headers["content-security-policy"]

    status, _, answer = raw_get(port, "/api/search?q=横空出世".encode())      # raw UTF-8, as curl sends it
    assert status == 200 and answer["total"] >= 1
    status, _, answer = raw_get(port, b"/api/search?q=\xe6\xa8")              # not whole UTF-8
    assert status == 400 and "%-encode" in answer["error"]
