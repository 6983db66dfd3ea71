# Report Archive: the web server and the watcher (the single index writer) in one container.
# The archive folder and the index are volumes; settings come from config.toml and
# ARCHIVE_<TABLE>_<KEY> environment variables (e.g. ARCHIVE_ADMIN_TOKEN).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    ARCHIVE_ARCHIVE_ROOT=/data/reports ARCHIVE_INDEX_DIR=/data/var/index ARCHIVE_SERVER_HOST=0.0.0.0

RUN useradd --create-home --uid 1000 archive
WORKDIR /app
COPY pyproject.toml README.md config.toml ./
COPY indexer ./indexer
COPY server ./server
COPY samples ./samples
RUN pip install --no-cache-dir '.[prod]' \
    && mkdir -p /data/reports /data/var \
    && cp -r samples/reports/. /data/reports/ \
    && chown -R archive:archive /data
USER archive
# Warm jieba's dictionary cache at build time (about 0.5 s saved at every start).
RUN python -c "from pathlib import Path; from indexer.analysis import init_jieba; init_jieba(Path('/data/var/jieba.cache'))"

VOLUME ["/data/reports", "/data/var"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
CMD ["python", "-m", "server", "--prod"]
