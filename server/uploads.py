"""Uploads: a report saved atomically into the archive folder under a safe name; the watcher indexes it."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import unicodedata
from pathlib import Path
from typing import BinaryIO

from indexer.config import Settings
from indexer.status import receipt_since

UPLOAD_SUFFIXES = (".txt", ".md", ".markdown", ".pdf")
MAX_NAME_CHARS = 150
MAX_NAME_BYTES = 240
RECEIPT_WAIT_SECONDS = 3.0
RECEIPT_POLL_SECONDS = 0.1
_CHUNK = 1024 * 1024
# Characters that are not allowed (or are dangerous) in file names on common systems.
_FORBIDDEN = set('<>:"|?*\\/')


class UploadRefused(Exception):
    """An upload the caller can fix; `status` is the HTTP code to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def safe_file_name(name: str) -> str:
    """The file name to store an upload under: no folders, control characters or leading dots.

    Chinese characters are kept; the result has a supported suffix and at most 150 characters.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(" " if ch in "\t\n\r\v\f" else ch for ch in name)
    name = "".join("_" if ch in _FORBIDDEN else ch for ch in name
                   if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"))
    name = " ".join(name.split())           # runs of spaces become one space
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    suffix = suffix.strip().lower()
    if f".{suffix}" not in UPLOAD_SUFFIXES:
        raise UploadRefused(400, f"unsupported file type {('.' + suffix) if suffix else '(no suffix)'!r}: "
                                 f"only {', '.join(UPLOAD_SUFFIXES)} files can be uploaded")
    # No hidden, lock or editor-backup names (the indexer would ignore them), no trailing dots.
    stem = stem.lstrip(".~$# ").rstrip(".~# ") or "upload"
    stem = stem[: MAX_NAME_CHARS - len(suffix) - 1 - len(" (999)")].rstrip(". ") or "upload"
    # File systems count bytes (255 at most); a Chinese character takes three.
    while len(f"{stem} (999).{suffix}".encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    stem = stem.rstrip(". ") or "upload"
    return f"{stem}.{suffix}"


def _numbered(name: str, n: int) -> str:
    stem, _, suffix = name.rpartition(".")
    return name if n == 1 else f"{stem} ({n}).{suffix}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_upload(settings: Settings, stream: BinaryIO, filename: str) -> str:
    """Save an uploaded file into the archive root atomically; the relative path it was saved as.

    The bytes go to a hidden `.upload-<random>.part` file (which the watcher ignores) and
    appear under the final name in one step. A different file already under that name is
    kept: the upload gets " (2)", " (3)", ... instead; the same content simply replaces it.
    """
    name = safe_file_name(filename)
    root = Path(settings.archive.root).resolve()
    if not root.is_dir():
        # An unmounted share: creating its folder would put the report on the wrong disk.
        raise UploadRefused(503, f"the archive folder {root.name} is not available (unmounted?): nothing was saved")
    limit = int(settings.server.max_upload_mb * 1024 * 1024)
    tmp = root / f".upload-{secrets.token_hex(8)}.part"
    digest = hashlib.sha256()
    size = 0
    try:
        with open(tmp, "xb") as fh:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                size += len(chunk)
                if size > limit:
                    raise UploadRefused(413, f"the upload is larger than the limit of {settings.server.max_upload_mb:g} MB")
                digest.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        if size == 0:
            raise UploadRefused(400, "the uploaded file is empty")
        for n in range(1, 1000):
            candidate = root / _numbered(name, n)
            if candidate.is_symlink() or candidate.is_dir():
                continue
            if candidate.exists():
                if _sha256(candidate) == digest.hexdigest():
                    os.replace(tmp, candidate)      # the same report again: refresh it in place
                    return candidate.name
                continue
            try:
                os.link(tmp, candidate)             # fails if the name was taken meanwhile
            except FileExistsError:
                continue
            except OSError:                         # no hard links on this file system
                os.replace(tmp, candidate)
            return candidate.name
        raise UploadRefused(409, f"too many files are named like {name!r} already")
    finally:
        tmp.unlink(missing_ok=True)


STALE_PART_SECONDS = 3600  # an upload still being written is younger than this


def remove_stale_parts(settings: Settings, older_than: float = STALE_PART_SECONDS) -> int:
    """Delete the `.upload-*.part` files a killed server left in the archive root; how many."""
    root = Path(settings.archive.root)
    removed = 0
    cutoff = time.time() - older_than
    try:
        parts = list(root.glob(".upload-*.part"))
    except OSError:
        return 0
    for part in parts:
        try:
            if part.is_file() and not part.is_symlink() and part.stat().st_mtime < cutoff:
                part.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def wait_for_receipt(settings: Settings, relpath: str, since: float,
                     timeout: float = RECEIPT_WAIT_SECONDS) -> dict | None:
    """The watcher's receipt for `relpath` written at or after `since` (epoch seconds), if it comes in time."""
    deadline = time.monotonic() + timeout
    while True:
        receipt = receipt_since(settings, relpath, since)
        if receipt is not None:
            return receipt
        if time.monotonic() >= deadline:
            return None
        time.sleep(RECEIPT_POLL_SECONDS)
