#!/bin/sh
# The container's entrypoint: check the volumes, then become `python -m server --prod`.
#
#   entrypoint.sh [--config PATH] [--no-watch] [other options of python -m server]
#       check that the archive folder and the index's parent folder exist and are writable, then
#       exec gunicorn + the watcher (python -m server --prod ARGS): that process receives docker's
#       signals itself, and SIGTERM stops gunicorn and the watcher before it exits 0.
#   entrypoint.sh healthcheck
#       exit 0 when GET /healthz on [server].port answers 200 (the HEALTHCHECK). It reads the
#       settings, not the server's arguments: move the port with ARCHIVE_SERVER_PORT, not --port.
#   entrypoint.sh COMMAND [ARGS...]
#       run another command instead, e.g. `python -m indexer status`.
#
# Settings: config.toml, or the file that ARCHIVE_CONFIG or --config names; ARCHIVE_<TABLE>_<KEY>
# environment variables override single keys (ARCHIVE_ARCHIVE_ROOT, ARCHIVE_INDEX_DIR, ...).
# PYTHON names the interpreter (default: python).
#
# No index is built here: the watcher's initial sync builds it when there is none (and rebuilds an
# outdated or damaged one) while gunicorn already answers, /healthz with 503 until the index is
# there. A build here would either repeat that check or keep the server down for the whole first
# build, and SIGTERM during it would reach a shell rather than the build.
set -eu

PYTHON=${PYTHON:-python}
# The packages next to this script, whatever the working directory (`docker run -w`).
APP_DIR=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
PYTHONPATH=$APP_DIR${PYTHONPATH:+:$PYTHONPATH}
export PYTHONPATH

fail() {
    printf 'entrypoint: %s\n' "$*" >&2
    exit 1
}

# The config file the server will read: --config PATH (or --config=PATH) wins over ARCHIVE_CONFIG.
config_file() {
    config=${ARCHIVE_CONFIG:-}
    next_is_config=
    for arg in "$@"; do
        if [ -n "$next_is_config" ]; then
            config=$arg
            next_is_config=
            continue
        fi
        case $arg in
            --config) next_is_config=1 ;;
            --config=*) config=${arg#--config=} ;;
        esac
    done
    printf '%s' "$config"
}

healthcheck() {
    exec "$PYTHON" -c '
import sys
import urllib.request

from indexer.config import load_settings

try:
    server = load_settings(sys.argv[1] or None).server
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(server.host, server.host)
    if ":" in host:
        host = f"[{host}]"
    url = f"http://{host}:{server.port}/healthz"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # never through a proxy
    with opener.open(url, timeout=4) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except Exception as exc:
    sys.exit(f"unhealthy: {exc}")
' "$(config_file)"
}

# Reads the settings as the server will; sets archive_root and index_dir.
read_settings() {
    assignments=$("$PYTHON" -c '
import shlex
import sys

from indexer.config import load_settings
from indexer.errors import ConfigError

try:
    settings = load_settings(sys.argv[1] or None)
except ConfigError as exc:
    sys.exit(f"entrypoint: error: {exc}")
print("archive_root=" + shlex.quote(str(settings.archive.root)))
print("index_dir=" + shlex.quote(str(settings.index.dir)))
' "$(config_file "$@")") || exit 2
    eval "$assignments"
}

# require_folder DESCRIPTION PATH HINT: PATH must be a folder this user can list and write into.
require_folder() {
    if [ ! -d "$2" ]; then
        fail "the $1 $2 does not exist or is not a folder: $3"
    fi
    if [ ! -r "$2" ] || [ ! -w "$2" ] || [ ! -x "$2" ]; then
        fail "uid $(id -u) cannot read and write the $1 $2: $3"
    fi
}

case ${1:-} in
    healthcheck) healthcheck ;;
    '' | -*) ;;
    *) exec "$@" ;;
esac

read_settings "$@"
uid=$(id -u)
var_dir=$(dirname "$index_dir")
require_folder "archive folder" "$archive_root" \
    "mount a reports folder that uid $uid can write there (docker run -v /path/to/reports:$archive_root), or set ARCHIVE_ARCHIVE_ROOT (uploads are saved into it)"
require_folder "parent folder of the index" "$var_dir" \
    "mount a volume that uid $uid can write there (docker run -v report-archive-var:$var_dir), or set ARCHIVE_INDEX_DIR"
# jieba's dictionary cache, warmed into the image (Dockerfile): a var volume that has none (a fresh
# bind mount hides the one warmed there) gets a copy, so that each process of the service loads it
# (about 0.3 s) instead of building it (about 1 s, three processes at once on the first start).
warm_cache=$APP_DIR/docker/jieba.cache
if [ -f "$warm_cache" ] && [ ! -e "$var_dir/jieba.cache" ]; then
    if cp -p "$warm_cache" "$var_dir/.jieba.cache.$$" 2>/dev/null; then
        mv -f "$var_dir/.jieba.cache.$$" "$var_dir/jieba.cache"
    else
        rm -f "$var_dir/.jieba.cache.$$"     # a full volume: jieba builds its own, as without the copy
    fi
fi
if [ -e "$index_dir" ]; then
    require_folder "index folder" "$index_dir" "give uid $uid write access to it, or remove it to have it rebuilt"
fi
if [ ! -d "$index_dir" ] || [ -z "$(ls -A "$index_dir")" ]; then
    printf 'entrypoint: no index in %s yet: the watcher builds it from %s now (/healthz answers 503 until then)\n' \
        "$index_dir" "$archive_root" >&2
fi

exec "$PYTHON" -m server --prod "$@"
