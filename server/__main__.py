"""`python -m server [--prod]`: the web server (Werkzeug, or gunicorn) and the watcher, the index's only writer."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading

from indexer.config import load_settings
from indexer.errors import ConfigError

log = logging.getLogger("server")
RESTART_DELAY = 5.0
STOP_TIMEOUT = 10.0
GRACEFUL_SECONDS = 5.0     # gunicorn's --graceful-timeout: requests in flight get this long on SIGTERM
# gunicorn runs at a lower CPU priority than the watcher: when searches saturate the cores the
# single writer still gets its share, so a drop stays searchable within a second (soak bench:
# a merge took 0.9 s under full search load at equal priority, 0.1 s idle).
SEARCH_NICENESS = 5
MALLOC_ARENAS = 2           # MALLOC_ARENA_MAX of the gunicorn processes and the watcher: see malloc_environ
MAX_REQUEST_LINE = 8190     # gunicorn's largest --limit-request-line


class RawUtf8Query:
    """Repair raw (not %-encoded) UTF-8 in a query string for the Werkzeug development server.

    `curl 'http://host/api/search?q=固态电池'` sends raw UTF-8 bytes; http.server decodes them as
    Latin-1 (and its request-line split drops bytes 0x85 and 0xA0, which it takes for
    whitespace), then Werkzeug encodes that text as UTF-8 again. The double encoding is undone
    here; a query that lost bytes gets a 400 asking for %-encoding instead of a garbled search.
    A %-encoded query string is ASCII and passes through untouched.
    """

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        query = environ.get("QUERY_STRING", "")
        if not query.isascii():
            try:
                fixed = query.encode("latin-1").decode("utf-8")
                fixed.encode("latin-1").decode("utf-8")     # the raw bytes must be whole UTF-8
            except UnicodeError:
                return self.refuse(start_response)
            environ["QUERY_STRING"] = fixed
        return self.app(environ, start_response)

    @staticmethod
    def refuse(start_response):
        from server import SECURITY_HEADERS

        body = json.dumps({"ok": False, "status": 400, "code": "not_utf8", "params": {}, "error": "the query string is not valid UTF-8: "
                           "%-encode it (e.g. curl -G --data-urlencode 'q=...')"}).encode()
        start_response("400 BAD REQUEST", [("Content-Type", "application/json"),
                                           ("Content-Length", str(len(body))), *SECURITY_HEADERS.items()])
        return [body]


def stop_process(process: subprocess.Popen | None, name: str) -> None:
    """SIGTERM a child and wait for it; SIGKILL if it has not stopped within STOP_TIMEOUT."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop within %.0f s; killing it", name, STOP_TIMEOUT)
        process.kill()
        process.wait()


def malloc_environ(environ: dict) -> dict:
    """The environment of a long-running child: at most MALLOC_ARENAS glibc malloc arenas.

    glibc gives each thread that allocates its own malloc arena (up to 8 per core), and freed
    memory stays in them: in a 30-minute soak a 2x4 gunicorn worker grew 70-115 MB (+3.8 and
    +1.9 MB/min) with no more Python objects; with two arenas, 35-49 MB (+0.8, +1.0 MB/min). The
    watcher has threads too (the indexing worker, the lister, the scrub, the inotify reader).
    """
    environ = dict(environ)
    environ.setdefault("MALLOC_ARENA_MAX", str(MALLOC_ARENAS))
    return environ


class WatcherProcess:
    """`python -m indexer watch` as a child process, restarted if it dies, stopped with us."""

    def __init__(self, config_path: str | None):
        self.command = [sys.executable, "-m", "indexer"] + (["--config", config_path] if config_path else []) + ["watch"]
        self.process: subprocess.Popen | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._supervise, name="watcher-supervisor", daemon=True)

    def start(self) -> None:
        self._spawn()
        self.thread.start()

    def _spawn(self) -> None:
        log.info("starting the watcher: %s", " ".join(self.command))
        self.process = subprocess.Popen(self.command, env=malloc_environ(os.environ))

    def _supervise(self) -> None:
        while not self.stopping.is_set():
            code = self.process.wait()
            if self.stopping.is_set():
                return
            log.error("the watcher exited with code %s; restarting it in %.0f s", code, RESTART_DELAY)
            if self.stopping.wait(RESTART_DELAY):
                return
            self._spawn()

    def stop(self) -> None:
        self.stopping.set()
        stop_process(self.process, "the watcher")


def _lower_priority() -> None:
    """In the forked child before exec (no locks taken): nice the search processes."""
    os.nice(SEARCH_NICENESS)


class GunicornProcess:
    """gunicorn (gevent or gthread workers serving server.wsgi:app) as a child process; it only reads the index."""

    def __init__(self, settings, host: str, port: int):
        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        server = settings.server
        if server.worker_class == "gevent":
            workers = ["--worker-class", "server.gunicorn_worker.ArchiveGeventWorker",
                       "--worker-connections", str(server.worker_connections)]
        else:
            workers = ["--worker-class", "server.gunicorn_worker.ArchiveThreadWorker", "--threads", str(server.threads)]
        self.command = [sys.executable, "-m", "gunicorn", *workers, "--workers", str(server.workers),
                        # the longest request line gunicorn takes (0 would be 1 MB): a query of
                        # [search].max_query_chars=500 CJK characters is 4,500 bytes %-encoded, over the
                        # default 4,094, and a longer one gets the app's own "at most 500" answer
                        "--limit-request-line", str(MAX_REQUEST_LINE),
                        "--http-parser", "python",     # the parser server.gunicorn_worker adjusts
                        "--bind", bind, "--graceful-timeout", str(int(GRACEFUL_SECONDS)), "--no-control-socket",
                        "--worker-tmp-dir", "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir(),
                        "server.wsgi:app"]
        self.environ = malloc_environ(os.environ)
        if settings.source is not None:
            self.environ["ARCHIVE_CONFIG"] = str(settings.source)
        # --host/--port are given to gunicorn's --bind; the workers read the rest from the config.
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log.info("starting gunicorn: %s", " ".join(self.command))
        self.process = subprocess.Popen(self.command, env=self.environ, preexec_fn=_lower_priority)

    def wait(self) -> int:
        return self.process.wait()

    def stop(self) -> None:
        """SIGTERM (graceful: finish requests in flight), SIGKILL after STOP_TIMEOUT."""
        stop_process(self.process, "gunicorn")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m server`."""
    parser = argparse.ArgumentParser(prog="python -m server", description="Report Archive web server and watcher")
    parser.add_argument("--config", help="config file (default: $ARCHIVE_CONFIG or config.toml)")
    parser.add_argument("--host", help="address to listen on (default: [server].host)")
    parser.add_argument("--port", type=int, help="port to listen on (default: [server].port)")
    parser.add_argument("--prod", action="store_true",
                        help="serve with gunicorn ([server].workers processes of [server].worker_class)")
    parser.add_argument("--no-watch", action="store_true", help="serve only; do not start the watcher")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    root = settings.archive.root
    if root.exists() and not root.is_dir():
        # the watcher would fail to create it and be restarted every RESTART_DELAY seconds for ever
        print(f"error: [archive].root is {root}, which is a file, not a folder", file=sys.stderr)
        return 2
    if not root.exists():
        # a mistyped root or an unmounted share: serving an empty archive would hide the mistake
        print(f"error: [archive].root is {root}, which does not exist: create the folder or correct "
              f"[archive].root (or ARCHIVE_ARCHIVE_ROOT)", file=sys.stderr)
        return 2
    host = args.host or settings.server.host
    port = settings.server.port if args.port is None else args.port
    watcher = None if args.no_watch else WatcherProcess(str(settings.source) if settings.source else None)

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    if watcher is None:
        # The watcher scrubs the index's checksums; without one, this process does (its finds are
        # recorded in the index folder, where every search process looks).
        from indexer.store import IndexStore

        IndexStore(settings).scrubber().start()
    if args.prod:
        return serve_prod(settings, host, port, watcher)

    from server import create_app

    app = create_app(settings)
    app.wsgi_app = RawUtf8Query(app.wsgi_app)
    try:
        if watcher:
            watcher.start()
        log.info("serving %s on http://%s:%d/", settings.archive.root, host, port)
        app.run(host=host, port=port, threaded=True, use_reloader=False, debug=False)
    except KeyboardInterrupt:
        pass
    finally:
        if watcher:
            watcher.stop()
    return 0


def serve_prod(settings, host: str, port: int, watcher: WatcherProcess | None) -> int:
    """gunicorn and the watcher as two children of this process; SIGTERM/SIGINT stop both, so does either's end."""
    server = GunicornProcess(settings, host, port)
    code = 0
    try:
        if watcher:
            watcher.start()
        server.start()
        log.info("serving %s on http://%s:%d/ (gunicorn, %d %s workers)", settings.archive.root,
                 host, port, settings.server.workers, settings.server.worker_class)
        code = server.wait()
        log.error("gunicorn exited with code %s; stopping", code)
        code = code or 1
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)     # a second signal must not cut the cleanup short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # Both stop in parallel: gunicorn drains its requests while the watcher commits its batch.
        stopper = threading.Thread(target=server.stop, name="gunicorn-stop")
        stopper.start()
        if watcher:
            watcher.stop()
        stopper.join()
    return code


if __name__ == "__main__":
    sys.exit(main())
