"""The container image, built from the Dockerfile and run with podman: healthz, search, a dropped PDF, SIGTERM.

Runs with `make container-test` (pytest --container -m container), which .ci/run runs after `make test`;
the normal suite skips it. ../shared/tools/podman-base.sh prepares podman on these machines (no Docker
daemon; the base image is made locally). Where podman cannot be installed or cannot run a container
here, the test skips and says why; once podman runs containers, a broken image fails it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import KAIYUAN, SAMPLES, SHARED, free_port, get_json, layout_pdf, poll

from indexer.config import PROJECT_ROOT

pytestmark = pytest.mark.container

PODMAN_BASE = SHARED / "tools" / "podman-base.sh"
# crun and systemd cgroups do not work on these machines, and there is no CNI network (podman-base.sh)
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
BASE_IMAGE = "docker.io/library/python:3.11-slim"     # FROM of the Dockerfile, made by podman-base.sh
IMAGE_UID = 1000        # the Dockerfile's `useradd --uid 1000 archive`: mounted folders must be its
STOP_SECONDS = 30       # podman stop: SIGTERM, then SIGKILL (exit code 137) after this long
DROPPED = "钠离子电池行业点评：量产元年开启.pdf"
DROPPED_TITLE = "钠离子电池行业点评：量产元年开启"


def podman(*args: str, seconds: float = 120) -> subprocess.CompletedProcess:
    """Run a podman command to its end; output as text, stderr folded into stdout."""
    return subprocess.run([*PODMAN, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=seconds)


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass
class Image:
    tag: str
    build_seconds: float


@dataclass
class Container:
    name: str
    base: str           # http://127.0.0.1:PORT
    reports: Path       # the host folder mounted at /data/reports
    started: float      # time.monotonic() just before `podman run`
    last_seen_running: float = 0.0

    def logs(self) -> str:
        return podman("logs", self.name).stdout

    def state(self, field: str) -> str:
        return podman("container", "inspect", "--format", "{{.State.%s}}" % field, self.name).stdout.strip()

    def alive(self) -> bool:
        """True while the container runs (asked at most once a second); fails the test once it has exited."""
        if time.monotonic() - self.last_seen_running > 1:
            status = self.state("Status")
            assert status == "running", f"the container is {status}:\n{tail(self.logs())}"
            self.last_seen_running = time.monotonic()
        return True


@pytest.fixture(scope="module")
def ready_podman():
    """Prepare podman with podman-base.sh (or find it ready), or skip saying why it cannot run containers here."""
    if PODMAN_BASE.is_file():
        if os.geteuid() != 0:
            pytest.skip(f"{PODMAN_BASE} installs podman with apt-get and runs it rootful: it needs root")
        try:
            prepared = subprocess.run(["bash", str(PODMAN_BASE)], stdin=subprocess.DEVNULL, capture_output=True,
                                      text=True, timeout=1800)
        except subprocess.TimeoutExpired:
            pytest.skip(f"{PODMAN_BASE} did not finish within 30 minutes")
        if prepared.returncode != 0:
            pytest.skip(f"podman cannot be installed here: {PODMAN_BASE} exited {prepared.returncode}: "
                        f"{tail(prepared.stdout + prepared.stderr, 10)}")
    elif not shutil.which("podman"):
        pytest.skip(f"no podman, and no {PODMAN_BASE} to install it (../shared beside the project)")
    if podman("image", "exists", BASE_IMAGE).returncode != 0:
        pytest.skip(f"no {BASE_IMAGE} image to build on, and no {PODMAN_BASE} to make it")
    # Whether this machine can run a container at all (user namespaces, runc, mounts): a failure
    # here is the machine's, not the image's.
    probe = podman("run", "--rm", "--network", "host", "--entrypoint", "true", BASE_IMAGE)
    if probe.returncode != 0:
        pytest.skip(f"podman cannot run a container here: {tail(probe.stdout, 10)}")


@pytest.fixture(scope="module")
def image(ready_podman):
    """The image built from this project's Dockerfile, under a tag of this run (removed afterwards)."""
    tag = f"localhost/report-archive:smoke-{os.getpid()}"
    # docker format: the OCI format drops HEALTHCHECK
    started = time.monotonic()
    built = podman("build", "--format", "docker", "--network", "host", "-t", tag, str(PROJECT_ROOT), seconds=1800)
    seconds = time.monotonic() - started
    try:
        assert built.returncode == 0, f"the image did not build:\n{tail(built.stdout)}"
        yield Image(tag, seconds)
    finally:
        podman("rmi", tag)


@pytest.fixture
def container(image, tmp_path):
    """The image serving a copy of the sample archive from a host folder, its index in another, as the
    README says to run it; removed afterwards with its volumes."""
    reports, var = tmp_path / "reports", tmp_path / "var"
    shutil.copytree(SAMPLES, reports)
    var.mkdir()
    for path in (reports, *reports.iterdir(), var):
        os.chown(path, IMAGE_UID, IMAGE_UID)
    name = f"report-archive-smoke-{os.getpid()}"
    port = free_port()
    started = time.monotonic()
    run = podman("run", "-d", "--name", name, "--network", "host", "-e", f"ARCHIVE_SERVER_PORT={port}",
                 "-v", f"{reports}:/data/reports", "-v", f"{var}:/data/var", image.tag)
    try:
        assert run.returncode == 0, f"the container did not start:\n{tail(run.stdout)}"
        yield Container(name, f"http://127.0.0.1:{port}", reports, started)
    finally:
        podman("rm", "--force", "--volumes", name)


def dropped_pdf() -> bytes:
    """A one-page broker note as a PDF: a large title and a body line in Chinese."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    # reportlab's built-in CJK font (not embedded, mapped through its CMap, which PDFium reads):
    # unlike tests' cjk_font it needs no font package on the machine, so this test cannot skip for one
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return layout_pdf("STSong-Light", [[
        (60, 90, 22, DROPPED_TITLE),
        (60, 150, 11, "今年钠离子电池进入量产元年，储能与两轮车率先导入，正极材料路线逐步收敛。"),
    ]])


def test_image_serves_searches_indexes_a_dropped_pdf_and_stops_on_sigterm(image, container, capsys):
    def search(q: str) -> dict:
        return get_json(f"{container.base}/api/search?" + urllib.parse.urlencode({"q": q}))

    # The first start: the watcher builds the index while gunicorn answers 503.
    health = poll(lambda: container.alive() and get_json(f"{container.base}/healthz"), 120)
    healthy_after = time.monotonic() - container.started
    assert health == {"ok": True, "documents": 5}, \
        f"/healthz: {health}; container {container.state('Status')}:\n{tail(container.logs())}"
    # The image's HEALTHCHECK (kept by --format docker) agrees, run inside the container.
    check = podman("healthcheck", "run", container.name)
    assert check.returncode == 0, check.stdout

    found = search("智能车")      # 智能 and 车 in three reports; in the title of one
    assert found["total"] >= 1 and found["hits"][0]["path"] == KAIYUAN, found
    assert search("钠离子")["total"] == 0

    dropped = container.reports / DROPPED
    dropped.write_bytes(dropped_pdf())
    os.chown(dropped, IMAGE_UID, IMAGE_UID)
    written = time.monotonic()

    def dropped_hit():
        found = search("钠离子")
        return found["total"] == 1 and found["hits"][0]

    hit = poll(dropped_hit, 30)
    searchable_after = time.monotonic() - written
    assert hit, f"the dropped PDF was not searchable within 30 s:\n{tail(container.logs())}"
    assert hit["path"] == DROPPED and hit["title"] == DROPPED_TITLE, hit

    stopping = time.monotonic()
    stop = podman("stop", "--time", str(STOP_SECONDS), container.name, seconds=STOP_SECONDS + 30)
    stopped_after = time.monotonic() - stopping
    logs = container.logs()
    assert stop.returncode == 0, stop.stdout
    assert container.state("ExitCode") == "0", f"SIGTERM did not stop the service cleanly:\n{tail(logs)}"
    assert "Traceback" not in logs, logs
    assert f"indexed {DROPPED}" in logs, tail(logs)

    with capsys.disabled():
        print(f"\ncontainer: image built in {image.build_seconds:.1f} s; /healthz 200 {healthy_after:.1f} s after "
              f"podman run (first start, index built); dropped PDF searchable after {searchable_after:.1f} s; "
              f"SIGTERM to exit 0 in {stopped_after:.1f} s")
