"""Reading report files of the archive folder: listing, decoding, PDF text, failures."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import yaml

from indexer.errors import ReadError
from indexer.pdftext import PdfLimits
from indexer.sandbox import TaskFailed, sandbox
from indexer.textrules import FRONT_MATTER

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".pdf"})

_KIND_BY_SUFFIX = {".txt": "txt", ".md": "md", ".markdown": "md", ".pdf": "pdf"}
_TEMP_SUFFIXES = (".part", ".swp", ".swx", ".tmp", ".crdownload", ".download")
# Front matter larger than this is not metadata; refusing it also bounds YAML alias expansion.
_MAX_FRONT_MATTER_CHARS = 64 * 1024
# Share of unusable characters (control, private-use, U+FFFD) above which a
# decoded file is treated as binary junk rather than text.
_MAX_JUNK_SHARE = 0.02
# A GB18030 decoding is accepted only when nearly all characters are common in Chinese text.
_MIN_COMMON_SHARE_GB18030 = 0.95
# Control characters (other than whitespace), U+FFFD, private-use glyphs and lone surrogates.
_JUNK = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd\ue000-\uf8ff\ud800-\udfff]")
# Anything outside what Chinese report text is made of: ASCII, Latin-1 and Greek (units, °,
# ×, α), general punctuation to misc symbols (①, ■, →), CJK punctuation and ideographs,
# compatibility ideographs, full-width forms.
_UNCOMMON = re.compile(r"[^\t\n\r\f\x20-\x7e\u00a0-\u03ff\u2000-\u2bff\u3000-\u33ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
# A PDF whose text is mostly unmappable glyphs has no usable text layer.
_MAX_JUNK_SHARE_PDF = 0.5


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A report file found in the archive folder (its absolute path as a string: a listing holds
    one per file, and a pathlib.Path of each doubled what a listing of 20,000 reports held)."""

    path: str
    relpath: str
    size: int
    mtime: float


@dataclass(frozen=True)
class RawDocument:
    """The decoded text and front matter of one report file, before normalization."""

    relpath: str
    kind: str
    text: str
    front_matter: dict
    encoding: str
    content_hash: str
    size: int
    mtime: float
    title_hint: str = ""  # a PDF's cover title: the largest type on its first page
    cover_lines: tuple[str, ...] = ()  # a PDF's first page, top to bottom, headers and footers included


def is_ignored(name: str) -> bool:
    """True when a file name is hidden, temporary or partial, or not a supported report type."""
    lower = name.lower()
    if not lower or lower.startswith((".", "~$", "#")) or lower.endswith(("~", "#")):
        return True
    if lower.endswith(_TEMP_SUFFIXES):
        return True
    return os.path.splitext(lower)[1] not in SUPPORTED_SUFFIXES


def list_archive(root: Path) -> list[SourceFile]:
    """Every supported report file under root, sorted by relpath; symlinks are not followed.

    One stat per file (os.scandir knows the entry's type), and strings rather than Path objects:
    the watcher lists the whole archive at every rescan.
    """
    top = os.path.abspath(root)
    found: list[SourceFile] = []
    folders = [(top, "")]
    while folders:
        folder, prefix = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:  # vanished, unreadable, or not a folder
            continue
        for entry in entries:
            name = entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not name.startswith("."):
                        folders.append((entry.path, prefix + name + "/"))
                    continue
                if is_ignored(name) or not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:  # vanished between the listing and the stat
                continue
            found.append(SourceFile(entry.path, prefix + name, st.st_size, st.st_mtime))
    found.sort(key=lambda f: f.relpath)
    return found


def read_document(path: Path, root: Path, max_bytes: int, pdf_limits: PdfLimits = PdfLimits()) -> RawDocument:
    """Read and decode one report file under root; raise ReadError saying why it cannot be."""
    path = Path(path).absolute()
    relpath = _relpath_inside(path, Path(root))
    suffix = path.suffix.lower()
    kind = _KIND_BY_SUFFIX.get(suffix)
    if kind is None:
        raise ReadError("unsupported_type", suffix=suffix or "(no suffix)")
    data, size, mtime = _read_bytes(path, max_bytes)
    content_hash = hashlib.sha256(data).hexdigest()
    title_hint, cover_lines = "", ()
    if kind == "pdf":
        (text, title_hint, cover_lines), encoding, front_matter = _pdf_text(data, pdf_limits), "pdf", {}
    else:
        text, encoding = _decode_text(data)
        front_matter, text = _split_front_matter(text)
    if not text.strip():
        raise ReadError("empty_front_matter" if front_matter else "empty_whitespace")
    return RawDocument(relpath, kind, text, front_matter, encoding, content_hash, size, mtime, title_hint, cover_lines)


def _relpath_inside(path: Path, root: Path) -> str:
    real_root = root.resolve()
    try:
        # resolve() of the parent keeps a symlinked file itself visible to _read_bytes
        real = path.parent.resolve() / path.name
        return real.relative_to(real_root).as_posix()
    except ValueError:
        raise ReadError("outside_archive", path=str(path)) from None


def _read_bytes(path: Path, max_bytes: int) -> tuple[bytes, int, float]:
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise ReadError("file_not_found") from None
    except OSError as e:
        raise ReadError("cannot_access", error=str(e.strerror or e)) from None
    if stat.S_ISLNK(st.st_mode):
        raise ReadError("symlink")
    if not stat.S_ISREG(st.st_mode):
        raise ReadError("not_regular")
    try:
        # O_NOFOLLOW and fstat close the gap between the checks above and the read
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ReadError("file_not_found") from None
    except OSError as e:
        raise ReadError("cannot_open", error=str(e.strerror or e)) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ReadError("not_regular")
        if st.st_size > max_bytes:
            raise ReadError("file_too_large", size=_format_size(st.st_size), limit=_format_size(max_bytes))
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while we were reading
        raise ReadError("over_limit", limit=_format_size(max_bytes))
    if not data:
        raise ReadError("empty_file")
    return data, len(data), st.st_mtime


def _format_size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


# --- text files -------------------------------------------------------------------------


def _decode_text(data: bytes) -> tuple[str, str]:
    """Decode by BOM, then strict UTF-8, then GB18030 if the result reads as Chinese text."""
    if data.startswith(b"\xef\xbb\xbf"):
        text, encoding = _decode_or_fail(data, "utf-8-sig"), "utf-8-sig"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text, encoding = _decode_or_fail(data, "utf-16"), "utf-16"
    elif b"\x00" in data:
        raise ReadError("binary_nul")
    else:
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            try:
                text, encoding = data.decode("gb18030"), "gb18030"
            except UnicodeDecodeError:
                raise ReadError("undecodable") from None
            if _common_share(text) < _MIN_COMMON_SHARE_GB18030:
                raise ReadError("undecodable_gb18030")
    if _junk_share(text) > _MAX_JUNK_SHARE:
        raise ReadError("binary_control", encoding=encoding)
    return _normalize_newlines(text), encoding


def _decode_or_fail(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise ReadError("bom_mismatch", encoding=encoding, error=str(e.reason)) from None


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _junk_share(text: str) -> float:
    return len(_JUNK.findall(text)) / len(text) if text else 0.0


def _common_share(text: str) -> float:
    return 1 - len(_UNCOMMON.findall(text)) / len(text) if text else 1.0


# libyaml's safe loader when PyYAML was built with it (its wheels are): 10x the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _split_front_matter(text: str) -> tuple[dict, str]:
    """YAML front matter and the body after it; ({}, text) when absent or invalid."""
    match = FRONT_MATTER.match(text[:_MAX_FRONT_MATTER_CHARS])
    if not match:
        return {}, text
    try:
        # Aliases let a few hundred bytes expand to gigabytes once the values are flattened;
        # report metadata never needs them.
        # An alias is written with "*": front matter without one needs no scan for them (the
        # scan parsed the YAML a second time: a tenth of reading a file, build_bench.py).
        source = match.group(1) or ""
        if "*" in source and any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(source, Loader=_YAML_LOADER)):
            log.debug("front matter uses YAML aliases, kept as text")
            return {}, text
        data = yaml.load(source, Loader=_YAML_LOADER)
    except yaml.YAMLError as e:
        log.debug("front matter is not valid YAML, kept as text: %s", str(e).splitlines()[0])
        return {}, text
    if data is None:
        data = {}
    if not isinstance(data, dict):  # e.g. a leading "---" rule in prose, not metadata
        return {}, text
    return {str(k): _coerce_value(v) for k, v in data.items()}, text[match.end():]


def _coerce_value(value: object) -> str | list[str]:
    if isinstance(value, (list, tuple, set)):
        return [_coerce_scalar(v) for v in value]
    return _coerce_scalar(value)


def _coerce_scalar(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


# --- PDF --------------------------------------------------------------------------------

PAGE_BREAK = "\f"  # between the pages of a PDF's text; cleaning keeps where each page starts
# How PDF reading failed (indexer.sandbox's kinds) as message codes (indexer.messages words them).
PDF_FAILURES = {kind: f"pdf_{kind}" for kind in
                ("password", "corrupt", "budget", "memory", "timeout", "recursion", "error", "crashed")}


def _pdf_text(data: bytes, limits: PdfLimits) -> tuple[str, str, tuple[str, ...]]:
    """Text of every page by position (indexer.pdftext), pages joined by a form feed; the cover's title and lines.

    The reading runs in a child process under `limits` (memory, seconds, pages, characters).
    """
    if b"%PDF-" not in data[:1024]:
        raise ReadError("not_pdf")
    try:
        pdf = sandbox().run("pdf", (data, limits.max_pages, limits.max_chars), limits.memory_mb, limits.seconds)
    except TaskFailed as e:
        raise ReadError(PDF_FAILURES.get(e.kind, "pdf_corrupt"), detail=e.detail) from None
    text = PAGE_BREAK.join(page.replace("\x00", "") for page in pdf.pages)
    visible = re.sub(r"\s+", "", text)
    if not visible:
        raise ReadError("pdf_no_text")
    if _junk_share(visible) > _MAX_JUNK_SHARE_PDF:
        raise ReadError("pdf_unmapped")
    return text, pdf.title, pdf.cover_lines


def _one_line(e: BaseException) -> str:
    detail = str(e).strip().splitlines()
    return f"{type(e).__name__}: {detail[0]}" if detail else type(e).__name__
