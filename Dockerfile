# Report Archive: the web server and the watcher (the single index writer) in one container.
# The archive folder and the index are volumes; settings come from config.toml and
# ARCHIVE_<TABLE>_<KEY> environment variables (e.g. ARCHIVE_ADMIN_TOKEN, ARCHIVE_SERVER_PORT).
# docker/entrypoint.sh checks the volumes and becomes `python -m server --prod` (gunicorn + the
# watcher); tests/test_entrypoint.py runs it outside a container and checks this file against it,
# tests/test_container.py builds and runs the image with podman (`make container-test`; podman build
# needs --format docker to keep the HEALTHCHECK).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    ARCHIVE_ARCHIVE_ROOT=/data/reports ARCHIVE_INDEX_DIR=/data/var/index ARCHIVE_SERVER_HOST=0.0.0.0

RUN useradd --create-home --uid 1000 archive
WORKDIR /app
# The dependencies first, read from pyproject.toml: this layer is built again only when that file
# changes, not at every change of the code (which then rebuilt in 14-19 s, now in 8 s; podman, 2 cores).
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print(*p['dependencies'], *p['optional-dependencies']['prod'], sep='\n')" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY README.md config.toml ./
COPY indexer ./indexer
COPY server ./server
COPY samples ./samples
RUN pip install --no-cache-dir --no-deps . && rm -rf build *.egg-info \
    && mkdir -p /data/reports /data/var \
    && cp -r samples/reports/. /data/reports/ \
    && chown -R archive:archive /data
COPY docker ./docker
# A warm copy of jieba's dictionary cache in the image, for the entrypoint to put into a var volume
# that has none (a fresh bind mount hides the one warmed below): healthz came 2.4-8.3 s after the
# start with each process building it, cold, at once.
RUN python -c "from pathlib import Path; from indexer.analysis import init_jieba; init_jieba(Path('/app/docker/jieba.cache'))"
USER archive
# Warm jieba's dictionary cache at build time, where the service reads it (beside [index].dir):
# about 0.5 s saved at every start.
RUN python -c "from indexer.config import load_settings; from indexer.analysis import init_jieba; s = load_settings(); init_jieba(s.var_dir / 'jieba.cache', s.index.user_dict)"

VOLUME ["/data/reports", "/data/var"]
EXPOSE 8000
# GET /healthz on [server].port (ARCHIVE_SERVER_PORT included): 200 while the index is readable.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["/app/docker/entrypoint.sh", "healthcheck"]
# Exec form: the script execs the server, which gets docker's SIGTERM itself and stops gunicorn
# and the watcher. Options after the image name go to `python -m server --prod`; a command runs
# instead of the service (e.g. `python -m indexer status`).
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD []
