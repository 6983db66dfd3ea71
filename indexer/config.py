"""Settings: one typed table of every option, loaded from config.toml and the environment."""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from indexer.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIN_PDF_MEMORY_MB = 128  # below this the reading process cannot start
DEFAULT_CONFIG = PROJECT_ROOT / "config.toml"
WORKER_CLASSES = ("gevent", "gthread")   # [server].worker_class

# table -> key -> (type, default, documentation). The single source of truth for settings:
# config.toml documents the same keys and a test checks that they agree.
OPTIONS: dict[str, dict[str, tuple[type, Any, str]]] = {
    "archive": {
        "root": (Path, "samples/reports", "folder of report files that users drop files into"),
        "max_file_mb": (float, 50.0, "files larger than this are refused with a receipt"),
        "pdf_memory_mb": (int, 1024, "memory one PDF may take while it is read (in a child process)"),
        "pdf_seconds": (float, 60.0, "time one PDF may take to read; slower ones get a failed receipt"),
        "time_zone": (str, "Asia/Shanghai", "the time zone times are shown in (an IANA name), and naive "
                      "indexed_from/indexed_to times are read in"),
    },
    "index": {
        "dir": (Path, "var/index", "where the Whoosh index generations and the status live"),
        "user_dict": (Path, "", "extra jieba user dictionary (empty: only the bundled finance dictionary)"),
        "workers": (int, 2, "processes that read and tokenize reports during build and sync"),
        "hold_deletions_share": (float, 0.5, "a sync that would delete this share of the index (and 20+ "
                                 "documents) holds until the files return or `sync --allow-deletions`; 1.0: never hold"),
    },
    "server": {
        "host": (str, "127.0.0.1", "address the web server listens on"),
        "port": (int, 8000, "port the web server listens on"),
        "admin_token": (str, "", "bearer token for uploads; ARCHIVE_ADMIN_TOKEN overrides; empty disables uploads"),
        "public_url": (str, "", "address users reach the archive at (https://reports.example.com); the "
                       "OpenSearch description uses it instead of the request's Host header"),
        "trusted_proxies": (int, 0, "reverse proxies in front of the server whose X-Forwarded-For and "
                            "X-Forwarded-Proto are believed (0: none, the peer's address is the client's)"),
        "max_upload_mb": (float, 50.0, "largest accepted upload"),
        "workers": (int, 2, "gunicorn worker processes in production mode"),
        "worker_class": (str, "gevent", "gunicorn workers in production mode: gevent (hundreds of slow or idle "
                         "connections each) or gthread (threads; a thread per request being read)"),
        "threads": (int, 4, "threads per gunicorn worker with worker_class gthread"),
        "worker_connections": (int, 1000, "connections one gevent worker holds at once"),
    },
    "watcher": {
        "settle_seconds": (float, 0.15, "a file is indexed once its size and mtime were stable this long"),
        "rescan_seconds": (float, 60.0, "full rescan of the archive folder to catch missed events"),
        "batch_seconds": (float, 0.1, "changes arriving within this window are committed together"),
    },
    "search": {
        "default_size": (int, 10, "hits per page when the request does not say"),
        "max_size": (int, 100, "largest page size a request may ask for"),
        "max_query_chars": (int, 500, "longest accepted query"),
        "max_terms": (int, 32, "most words and phrases in one query"),
        "max_page": (int, 1000, "deepest page a request may ask for"),
        "export_rows": (int, 1000, "most rows of a results export (/search.csv)"),
        "feed_size": (int, 20, "entries of a query feed (/search.atom), newest in the archive first"),
    },
}


@dataclass(frozen=True)
class Section:
    """One table of settings; attributes are the keys of OPTIONS[table]."""

    _values: dict = field(repr=False)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class Settings:
    """All settings, resolved: paths are absolute."""

    archive: Section
    index: Section
    server: Section
    watcher: Section
    search: Section
    source: Path | None = None

    @property
    def zone(self) -> ZoneInfo:
        """The archive's time zone."""
        return ZoneInfo(self.archive.time_zone)

    @property
    def var_dir(self) -> Path:
        """Folder for everything the service writes besides the index (jieba cache, status)."""
        return self.index.dir.parent


def _coerce(table: str, key: str, value: Any, base: Path) -> Any:
    kind, _, _ = OPTIONS[table][key]
    where = f"[{table}].{key}"
    if kind is Path:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a path string, got {type(value).__name__}")
        if value == "":
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else (base / path).resolve()
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        if value < 0:
            raise ConfigError(f"{where} must not be negative, got {value!r}")
        return float(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        if value < 0:
            raise ConfigError(f"{where} must not be negative, got {value!r}")
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return value


def _from_env(table: str, key: str, text: str) -> Any:
    kind = OPTIONS[table][key][0]
    try:
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        raise ConfigError(f"environment ARCHIVE_{table.upper()}_{key.upper()} must be a {kind.__name__}, got {text!r}") from None
    return text


def load_settings(path: str | Path | None = None, overrides: dict | None = None,
                  environ: dict | None = None) -> Settings:
    """Load settings from `path` (or ARCHIVE_CONFIG, or the project's config.toml).

    `overrides` is a {table: {key: value}} dict applied last (tests use it);
    environment variables ARCHIVE_<TABLE>_<KEY> override the file.
    """
    environ = os.environ if environ is None else environ
    if path is None:
        path = environ.get("ARCHIVE_CONFIG") or DEFAULT_CONFIG
    source = Path(path).resolve() if path else None
    raw: dict = {}
    if source is not None:
        if not source.exists():
            raise ConfigError(f"config file {source} does not exist")
        try:
            raw = tomllib.loads(source.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {source} is not valid TOML: {exc}") from None
    base = source.parent if source is not None else PROJECT_ROOT
    merged: dict[str, dict] = {table: {} for table in OPTIONS}
    for table, values in raw.items():
        if table not in OPTIONS:
            raise ConfigError(f"unknown config table [{table}] (known: {', '.join(OPTIONS)})")
        if not isinstance(values, dict):
            raise ConfigError(f"[{table}] must be a table")
        for key, value in values.items():
            if key not in OPTIONS[table]:
                raise ConfigError(f"unknown config key [{table}].{key} (known: {', '.join(OPTIONS[table])})")
            merged[table][key] = value
    for table, keys in OPTIONS.items():
        for key in keys:
            env_name = f"ARCHIVE_{table.upper()}_{key.upper()}"
            if env_name in environ:
                merged[table][key] = _from_env(table, key, environ[env_name])
        # a mistyped variable (ARCHIVE_SERVER_PROT=9000) stops start-up like an unknown key in the file
        prefix = f"ARCHIVE_{table.upper()}_"
        for name in environ:
            if name.startswith(prefix) and name[len(prefix):].lower() not in keys:
                raise ConfigError(f"unknown environment variable {name}: [{table}] has no key "
                                  f"{name[len(prefix):].lower()!r} (known: {', '.join(keys)})")
    if "ARCHIVE_ADMIN_TOKEN" in environ:
        merged["server"]["admin_token"] = environ["ARCHIVE_ADMIN_TOKEN"]
    for table, values in (overrides or {}).items():
        for key, value in values.items():
            if table not in OPTIONS or key not in OPTIONS[table]:
                raise ConfigError(f"unknown config key [{table}].{key}")
            merged[table][key] = str(value) if isinstance(value, Path) else value
    sections = {}
    for table, keys in OPTIONS.items():
        values = {}
        for key, (_, default, _) in keys.items():
            values[key] = _coerce(table, key, merged[table].get(key, default), base)
        sections[table] = Section(values)
    if sections["archive"].root is None:
        raise ConfigError("[archive].root must not be empty")
    if sections["index"].dir is None:
        raise ConfigError("[index].dir must not be empty")
    # A path that exists but is the wrong kind of thing is a mistake to say at start-up, not a
    # traceback later (or a watcher restarting every few seconds).
    if sections["index"].dir.exists() and not sections["index"].dir.is_dir():
        raise ConfigError(f"[index].dir is {sections['index'].dir}, which is a file, not a folder")
    user_dict = sections["index"].user_dict
    if user_dict is not None and not user_dict.is_file():
        raise ConfigError(f"[index].user_dict is {user_dict}, which does not exist or is not a file")
    public_url = sections["server"].public_url
    if public_url and not re.fullmatch(r"https?://[^/\s?#@]+(/[^\s?#]*)?", public_url):
        raise ConfigError(f"[server].public_url must be an http:// or https:// address, got {public_url!r}")
    if not 0 < sections["server"].port < 65536:
        raise ConfigError(f"[server].port must be between 1 and 65535, got {sections['server'].port}")
    if sections["search"].max_size < 1 or sections["search"].default_size < 1:
        raise ConfigError("[search].default_size and max_size must be at least 1")
    if sections["server"].worker_class not in WORKER_CLASSES:
        raise ConfigError(f"[server].worker_class must be one of {', '.join(WORKER_CLASSES)}, "
                          f"got {sections['server'].worker_class!r}")
    for table, key in (("index", "workers"), ("server", "workers"), ("server", "threads"),
                       ("server", "worker_connections")):
        if sections[table]._values[key] < 1:
            raise ConfigError(f"[{table}].{key} must be at least 1, got {sections[table]._values[key]}")
    if not 0 < sections["index"].hold_deletions_share <= 1:
        raise ConfigError("[index].hold_deletions_share must be above 0 and at most 1 (1 never holds)")
    if sections["archive"].pdf_memory_mb < MIN_PDF_MEMORY_MB or sections["archive"].pdf_seconds <= 0:
        raise ConfigError(f"[archive].pdf_memory_mb must be at least {MIN_PDF_MEMORY_MB} and pdf_seconds above 0")
    try:
        ZoneInfo(sections["archive"].time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"[archive].time_zone {sections['archive'].time_zone!r} is not a time zone name "
                          f"like Asia/Shanghai or UTC") from None
    for key in ("export_rows", "feed_size"):
        if sections["search"]._values[key] < 1:
            raise ConfigError(f"[search].{key} must be at least 1")
    return Settings(source=source, **sections)
