"""The container's entrypoint (docker/entrypoint.sh) run for real outside a container, and the Dockerfile kept in step with it."""

from __future__ import annotations

import json
import os
import posixpath
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import urllib.parse
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import (KAIYUAN, SAMPLES, OutputReader, child_pids, descendant_pids, free_port, get_json, is_running,
                      kill_process_tree, poll)

from indexer.config import OPTIONS, PROJECT_ROOT, load_settings

pytest.importorskip("gunicorn")

ENTRYPOINT = PROJECT_ROOT / "docker" / "entrypoint.sh"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DROPPED = "钠离子电池行业点评：量产元年开启.txt"
DROPPED_TEXT = "钠离子电池产业化提速。\n\n今年钠离子电池进入量产元年，储能与两轮车率先导入，正极材料路线逐步收敛。\n"


# -- the Dockerfile, read the way docker reads it ------------------------------------------------

class Dockerfile:
    """The instructions of a Dockerfile, with the few look-ups the checks below need."""

    def __init__(self, path: Path = DOCKERFILE):
        self.instructions: list[tuple[str, str, str]] = []     # (INSTRUCTION, arguments, WORKDIR then)
        workdir, pending = "/", ""
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue        # docker drops comment lines, also inside a continued instruction
            if stripped.endswith("\\"):
                pending += stripped[:-1] + " "
                continue
            keyword, _, arguments = (pending + stripped).partition(" ")
            pending = ""
            keyword, arguments = keyword.upper(), arguments.strip()
            if keyword == "WORKDIR":
                workdir = posixpath.join(workdir, arguments)
            self.instructions.append((keyword, arguments, workdir))

    def all(self, keyword: str) -> list[str]:
        return [arguments for kw, arguments, _ in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"the Dockerfile has no {keyword}"
        return found[-1]

    def index(self, keyword: str, containing: str = "") -> int:
        """Position of the last `keyword` instruction whose arguments contain `containing`."""
        found = [i for i, (kw, arguments, _) in enumerate(self.instructions) if kw == keyword and containing in arguments]
        assert found, f"the Dockerfile has no {keyword} with {containing!r}"
        return found[-1]

    def env(self) -> dict[str, str]:
        """The environment its ENV instructions set."""
        environ = {}
        for arguments in self.all("ENV"):
            words = shlex.split(arguments)
            if "=" not in words[0]:         # the legacy form: ENV NAME value with spaces
                environ[words[0]] = arguments.split(None, 1)[1]
                continue
            environ.update(word.split("=", 1) for word in words)
        return environ

    def volumes(self) -> list[str]:
        found = []
        for arguments in self.all("VOLUME"):
            found += json.loads(arguments) if arguments.startswith("[") else arguments.split()
        return found

    def healthcheck(self) -> list[str]:
        """The HEALTHCHECK command as an argv (the shell form through /bin/sh -c)."""
        command = self.last("HEALTHCHECK").split(" CMD ", 1)[1].strip()
        return json.loads(command) if command.startswith("[") else ["/bin/sh", "-c", command]

    def local_path(self, image_path: str) -> Path | None:
        """The file of this project that COPY puts at `image_path` in the image (None if no COPY does)."""
        found = None
        for keyword, arguments, workdir in self.instructions:
            if keyword != "COPY":
                continue
            words = [w for w in shlex.split(arguments) if not w.startswith("--")]
            sources, dest = words[:-1], posixpath.normpath(posixpath.join(workdir, words[-1]))
            if image_path != dest and not image_path.startswith(dest + "/"):
                continue
            rest = image_path[len(dest):].lstrip("/")
            for source in sources:
                local = PROJECT_ROOT / source
                if local.is_dir():
                    candidate = local / rest if rest else local
                elif rest in ("", local.name):
                    candidate = local
                else:
                    continue
                if candidate.exists():
                    found = candidate      # a later COPY overwrites an earlier one
        return found


def python_on_path(tmp_path: Path) -> str:
    """A PATH whose `python` is this test run's interpreter, to run the Dockerfile's commands verbatim."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "python"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def clean_environ(*layers: dict[str, str]) -> dict[str, str]:
    """This process's environment without ARCHIVE_* settings, with `layers` applied in order."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    for layer in layers:
        environ.update(layer)
    return environ


def image_command(image: Dockerfile, argv: list[str]) -> list[str]:
    """`argv` of the image with its first word mapped to this project's copy of the file."""
    if argv[0].startswith("/") and image.local_path(argv[0]):
        return [str(image.local_path(argv[0])), *argv[1:]]
    return argv


# -- running the entrypoint -----------------------------------------------------------------------

def service_environ(tmp_path: Path, port: int, **values: str) -> dict[str, str]:
    """The entrypoint's environment: the venv's python; archive, index and port set by ARCHIVE_* overrides."""
    return clean_environ({
        "PYTHON": sys.executable,
        "ARCHIVE_ARCHIVE_ROOT": str(tmp_path / "archive"), "ARCHIVE_INDEX_DIR": str(tmp_path / "var" / "index"),
        "ARCHIVE_SERVER_HOST": "127.0.0.1", "ARCHIVE_SERVER_PORT": str(port),
        "ARCHIVE_SERVER_WORKERS": "1", "ARCHIVE_SERVER_THREADS": "2", "ARCHIVE_INDEX_WORKERS": "1"}, values)


def run_to_end(argv: list[str], environ: dict, seconds: float = 30, **options) -> subprocess.CompletedProcess:
    """Run a command that should end by itself; on a timeout kill it with everything it started, and fail."""
    process = subprocess.Popen(argv, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options)
    try:
        stdout, stderr = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        kill_process_tree(process)
        pytest.fail(f"{argv} did not end within {seconds} s (it should have refused to start)")
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


@contextmanager
def unwritable(folder: Path):
    """Make `folder` unwritable for this user: mode 555, plus the immutable flag for root (which ignores modes)."""
    folder.chmod(0o555)
    immutable = False
    if os.access(folder, os.W_OK) and shutil.which("chattr"):
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("this user can write a folder whatever its mode (root, and no chattr +i here)")
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


@pytest.fixture
def service(tmp_path):
    """docker/entrypoint.sh over a copy of the samples (no index yet), run from a foreign folder; yields
    (base url, process, output reader)."""
    shutil.copytree(SAMPLES, tmp_path / "archive")
    (tmp_path / "var").mkdir()
    (tmp_path / "elsewhere").mkdir()
    port = free_port()
    process = subprocess.Popen([str(ENTRYPOINT)], env=service_environ(tmp_path, port), cwd=tmp_path / "elsewhere",
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reader = OutputReader(process.stdout)
    try:
        yield f"http://127.0.0.1:{port}", process, reader
    finally:
        kill_process_tree(process)


# -- the entrypoint -------------------------------------------------------------------------------

@pytest.mark.slow
def test_entrypoint_builds_serves_indexes_drops_and_stops_cleanly(service, tmp_path):
    base, process, output = service
    health = poll(lambda: get_json(f"{base}/healthz"), 30)
    assert health == {"ok": True, "documents": 5}, output.text()

    # The script exec'd the server: docker's signals reach it, not a shell.
    command = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode().split("\0")
    assert command[1:4] == ["-m", "server", "--prod"], command
    children = child_pids(process.pid)
    watchers = [pid for pid, cmd in children.items() if "indexer" in cmd and "watch" in cmd]
    masters = [pid for pid, cmd in children.items() if "gunicorn" in cmd]
    assert len(watchers) == 1 and len(masters) == 1 and len(children) == 2, children
    assert len(child_pids(masters[0])) == 1       # ARCHIVE_SERVER_WORKERS=1 reached gunicorn

    def search(q: str) -> dict:
        return get_json(f"{base}/api/search?" + urllib.parse.urlencode({"q": q}))

    found = search("智能车")      # 智能 and 车 in three reports; in the title of one
    assert found["total"] >= 1 and found["hits"][0]["path"] == KAIYUAN
    assert search("钠离子")["total"] == 0

    # The Dockerfile's HEALTHCHECK, as written, passes against the running service.
    environ = service_environ(tmp_path, int(base.rsplit(":", 1)[1]), PATH=python_on_path(tmp_path))
    check = run_to_end(image_command(Dockerfile(), Dockerfile().healthcheck()), environ, cwd=PROJECT_ROOT)
    assert check.returncode == 0, check.stderr

    (tmp_path / "archive" / DROPPED).write_text(DROPPED_TEXT, encoding="utf-8")
    dropped = poll(lambda: search("钠离子")["total"] == 1 and search("钠离子"), 10)
    assert dropped, "the dropped report did not become searchable within 10 s"
    assert dropped["hits"][0]["path"] == DROPPED

    everything = descendant_pids(process.pid)
    commands = {pid: " ".join(Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")) for pid in everything}
    helpers = [pid for pid, cmd in commands.items() if "multiprocessing" in cmd]
    # watcher, gunicorn master, one worker; the watcher's sandbox child (Markdown was rendered)
    # and multiprocessing's resource tracker beside it
    assert len(everything) - len(helpers) == 3 and len(helpers) <= 2, commands
    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0
    gone = poll(lambda: not any(is_running(pid) for pid in everything), 2)
    assert gone, "a child of the service outlived it"
    text = output.text()
    assert "entrypoint: no index in" in text            # a first start says that the watcher builds it
    assert f"indexed {DROPPED}" in text


def missing(tmp_path: Path) -> Path:
    return tmp_path / "missing"


def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("not a folder", encoding="utf-8")
    return path


@pytest.mark.parametrize("setting, make, message", [
    ("ARCHIVE_ARCHIVE_ROOT", missing, "the archive folder {path} does not exist"),
    ("ARCHIVE_ARCHIVE_ROOT", a_file, "the archive folder {path} does not exist or is not a folder"),
    ("ARCHIVE_INDEX_DIR", lambda tmp: missing(tmp) / "index", "the parent folder of the index {parent} does not exist"),
])
def test_entrypoint_refuses_a_missing_folder(tmp_path, setting, make, message):
    (tmp_path / "archive").mkdir()
    (tmp_path / "var").mkdir()
    path = make(tmp_path)
    result = run_to_end([str(ENTRYPOINT)], service_environ(tmp_path, free_port(), **{setting: str(path)}))
    assert result.returncode == 1
    assert message.format(path=path, parent=path.parent) in result.stderr
    assert setting in result.stderr          # and how to fix it


@pytest.mark.parametrize("folder, message", [
    ("archive", "cannot read and write the archive folder"),
    ("var", "cannot read and write the parent folder of the index"),
])
def test_entrypoint_refuses_an_unwritable_folder(tmp_path, folder, message):
    (tmp_path / "archive").mkdir()
    (tmp_path / "var").mkdir()
    with unwritable(tmp_path / folder):
        result = run_to_end([str(ENTRYPOINT)], service_environ(tmp_path, free_port()))
    assert result.returncode == 1
    assert f"uid {os.getuid()} {message} {tmp_path / folder}:" in result.stderr


@pytest.mark.parametrize("how", ["--config", "--config=", "ARCHIVE_CONFIG"])
def test_entrypoint_checks_the_folders_of_the_config_file_the_server_reads(tmp_path, how):
    config = tmp_path / "other.toml"
    config.write_text('[archive]\nroot = "from-the-file"\n', encoding="utf-8")
    environ = clean_environ({"PYTHON": sys.executable})
    if how == "ARCHIVE_CONFIG":
        environ["ARCHIVE_CONFIG"], argv = str(config), [str(ENTRYPOINT)]
    else:
        argv = [str(ENTRYPOINT), "--no-watch", *([how, str(config)] if how == "--config" else [how + str(config)])]
    result = run_to_end(argv, environ)
    assert result.returncode == 1
    assert f"the archive folder {tmp_path / 'from-the-file'} does not exist" in result.stderr


def test_entrypoint_refuses_a_bad_setting_naming_it(tmp_path):
    (tmp_path / "archive").mkdir()
    (tmp_path / "var").mkdir()
    result = run_to_end([str(ENTRYPOINT)], service_environ(tmp_path, free_port(), ARCHIVE_SERVER_PORT="eighty"))
    assert result.returncode == 2
    assert "ARCHIVE_SERVER_PORT" in result.stderr and "'eighty'" in result.stderr


def test_entrypoint_gives_a_var_volume_without_one_the_image_s_warm_jieba_cache(tmp_path):
    """The image's warm cache (docker/jieba.cache beside the script) is copied into a var folder that has
    none, and never over one that has; the server then starts (here: stops at a bad option)."""
    app = tmp_path / "app"
    (app / "docker").mkdir(parents=True)
    script = app / "docker" / "entrypoint.sh"
    shutil.copy2(ENTRYPOINT, script)
    warm = b"warm jieba cache " * 1000
    (app / "docker" / "jieba.cache").write_bytes(warm)
    (tmp_path / "archive").mkdir()
    (tmp_path / "var").mkdir()
    environ = service_environ(tmp_path, free_port(), PYTHONPATH=str(PROJECT_ROOT))
    result = run_to_end([str(script), "--bogus-option"], environ)
    assert result.returncode == 2 and "--bogus-option" in result.stderr     # the server itself refused
    assert (tmp_path / "var" / "jieba.cache").read_bytes() == warm
    assert [p.name for p in (tmp_path / "var").iterdir()] == ["jieba.cache"]   # no temporary copy left
    (tmp_path / "var" / "jieba.cache").write_bytes(b"the volume's own")
    run_to_end([str(script), "--bogus-option"], environ)
    assert (tmp_path / "var" / "jieba.cache").read_bytes() == b"the volume's own"


def test_entrypoint_runs_another_command_instead(tmp_path):
    result = run_to_end([str(ENTRYPOINT), sys.executable, "-c", "import indexer.config; print('ran instead')"],
                        clean_environ(), cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == "ran instead\n", result.stderr


# -- the Dockerfile in step with the script and the settings -------------------------------------

def test_dockerfile_entrypoint_is_the_script():
    image = Dockerfile()
    entrypoint = json.loads(image.last("ENTRYPOINT"))    # exec form, or a shell would be PID 1 and eat SIGTERM
    assert isinstance(entrypoint, list) and len(entrypoint) == 1, entrypoint
    assert image.local_path(entrypoint[0]) == ENTRYPOINT
    assert os.access(ENTRYPOINT, os.X_OK) and ENTRYPOINT.read_text(encoding="utf-8").startswith("#!/bin/sh\n")
    assert image.all("CMD") and json.loads(image.last("CMD")) == []   # not python:3.11-slim's CMD ["python3"]


def test_dockerfile_environment_is_real_settings():
    image = Dockerfile()
    environ = image.env()
    names = {f"ARCHIVE_{table.upper()}_{key.upper()}": (table, key) for table, keys in OPTIONS.items() for key in keys}
    names["ARCHIVE_ADMIN_TOKEN"] = ("server", "admin_token")
    archive_vars = {name: value for name, value in environ.items() if name.startswith("ARCHIVE_")}
    assert archive_vars, "the Dockerfile sets no ARCHIVE_* setting"
    unknown = set(archive_vars) - set(names)
    assert not unknown, f"not settings: {sorted(unknown)} (known: {sorted(names)})"

    config = image.local_path(posixpath.join(image.instructions[image.index("WORKDIR")][2], "config.toml"))
    assert config == PROJECT_ROOT / "config.toml"       # the file the image's load_settings() reads
    settings = load_settings(config, environ=environ)
    for name, value in archive_vars.items():
        table, key = names[name]
        kind = OPTIONS[table][key][0]
        assert getattr(getattr(settings, table), key) == (Path(value) if kind is Path else kind(value)), name

    # The archive folder and the whole var folder (index, jieba cache, status) are volumes.
    volumes = [Path(v) for v in image.volumes()]
    assert settings.archive.root in volumes
    assert settings.var_dir in volumes and settings.index.dir.parent == settings.var_dir
    assert str(settings.server.port) in image.last("EXPOSE").split()
    assert settings.server.host == "0.0.0.0"         # reachable from outside the container


def test_dockerfile_runs_as_a_user_that_is_not_root():
    image = Dockerfile()
    user = image.last("USER").split(":")[0]
    assert user not in ("root", "0"), user
    assert image.index("USER") < image.index("ENTRYPOINT")
    assert any("useradd" in run and user in run.split() for run in image.all("RUN")), "the user is never created"


class HealthProbe(BaseHTTPRequestHandler):
    """Answers every GET with the server's `status` and records the path asked for."""

    def do_GET(self):
        self.server.paths.append(self.path)
        self.send_response(self.server.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_dockerfile_healthcheck_asks_healthz_on_the_configured_port(tmp_path):
    image = Dockerfile()
    command = image_command(image, image.healthcheck())
    probe = ThreadingHTTPServer(("127.0.0.1", 0), HealthProbe)
    probe.paths, probe.status = [], 200
    threading.Thread(target=probe.serve_forever, daemon=True).start()
    # The image's environment (host 0.0.0.0), the port moved by ARCHIVE_SERVER_PORT as a user would.
    environ = clean_environ(image.env(), {"ARCHIVE_SERVER_PORT": str(probe.server_address[1]),
                                          "PATH": python_on_path(tmp_path)})
    try:
        healthy = run_to_end(command, environ, cwd=PROJECT_ROOT)
        assert healthy.returncode == 0, healthy.stderr
        assert probe.paths == ["/healthz"]
        probe.status = 503
        unhealthy = run_to_end(command, environ, cwd=PROJECT_ROOT)
        assert unhealthy.returncode != 0 and "503" in unhealthy.stderr
    finally:
        probe.shutdown()
        probe.server_close()
    refused = run_to_end(command, environ, cwd=PROJECT_ROOT)
    assert refused.returncode != 0 and "unhealthy" in refused.stderr


def test_dockerfile_warms_jieba_where_the_service_reads_it(tmp_path):
    from indexer.indexing import Indexer

    image = Dockerfile()
    warm = image.index("RUN", "init_jieba")
    assert image.index("USER") < warm           # so the cache belongs to the user that runs the service
    environ = clean_environ(image.env(), {"ARCHIVE_INDEX_DIR": str(tmp_path / "var" / "index"),
                                          "PATH": python_on_path(tmp_path)})
    result = run_to_end(["/bin/sh", "-c", image.instructions[warm][1]], environ, seconds=60, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    settings = load_settings(PROJECT_ROOT / "config.toml", environ=environ)
    cache = Indexer(settings).jieba_cache
    assert cache.is_file() and cache.stat().st_size > 1_000_000
