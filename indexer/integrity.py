"""Checksums of the index's files: written at each commit, verified at open and by a background scrub.

Lucene ends every index file with a CRC32 footer and checks it when a segment is opened (and in
full by CheckIndex). Whoosh's files carry none, and our postings file neither: 64 KB of noise in the
middle of either went unseen at open, and searches then failed (zlib.error, IndexError) or, worse,
answered with fewer documents. Here each segment gets a manifest, `<segment>.sums` (JSON: each file's
size and CRC32: Whoosh's `.seg`, our `.post` and `.cols`), written once its files are complete and before the table of contents that makes the
segment visible; the table of contents gets one too (`_<index>_<generation>.sums`). Segment files
never change after their commit (deletions live in the table of contents), so a manifest holds for
the segment's life, and Whoosh's clean-up deletes it with the segment (the name matches its pattern).

Verification: at open, every file's size (a stat) and, the first time this process sees a file (or
when its size, inode or mtime changed), its CRC32 in full; a background Scrubber reads every summed
file again at a low rate, for damage that leaves size and mtime alone (a failing disk). Damage found
is recorded in the generation's folder (`damaged.json`), so every process reports it until a build
replaces the generation. A segment without a manifest (an index written before checksums) is
"not summed": sizes and sums unknown, it is trusted as Whoosh and our reader find it, and gets its
manifest at the next commit that keeps it (`adopt`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from indexer.durable import write_atomic
from indexer.messages import Message

log = logging.getLogger(__name__)

SUFFIX = ".sums"
DAMAGE_FILE = "damaged.json"
FORMAT = 1
CHUNK = 1 << 20
# The scrub reads at most this many bytes a second, then rests between passes. CRC32 runs at about
# 4 GB/s from the page cache (xwlb_stories: 19,589 reports, 79 MB of segment files summed in 20 ms,
# opening it for searching 75 ms): the rate only spares the disk; a pass over xwlb takes 10 s.
SCRUB_BYTES_PER_SECOND = 8 << 20
SCRUB_PAUSE_SECONDS = 600.0
# A process serving searches stats the live files (and sums one whose size, inode or mtime changed) at
# most this often: a file written over in place is found by the next search, not the next scrub.
RECHECK_SECONDS = 1.0


class Damaged(Exception):
    """A file of the index differs from what its manifest recorded (or the manifest is unreadable)."""

    def __init__(self, file: str, detail: str):
        self.file = file
        self.detail = detail
        super().__init__(f"{file}: {detail}")

    def message(self) -> Message:
        return Message("index_damaged", {"file": self.file, "detail": self.detail})


@dataclass
class Verified:
    """What a verification saw: files summed in full, their bytes, files without a manifest, seconds."""

    files: int = 0
    bytes: int = 0
    unsummed: int = 0
    seconds: float = 0.0


def crc32_of(path: Path, throttle=None) -> tuple[int, int]:
    """(size, CRC32) of a file read in 1 MB chunks; `throttle(n)` is called after each chunk."""
    crc, size = 0, 0
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(CHUNK):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
            if throttle is not None:
                throttle(len(chunk))
    return size, crc


def manifest_path(folder: Path, name: str) -> Path:
    """The manifest of a segment (`reports_<id>`) or of a table of contents (`_reports_<generation>`)."""
    return Path(folder) / f"{name}{SUFFIX}"


def _check(files: dict) -> int:
    return zlib.crc32(json.dumps(files, sort_keys=True).encode("utf-8"))


def write_manifest(path: Path, files: dict[str, Path]) -> None:
    """Sum `files` ({name in the manifest: file read now}, beside it) and write their manifest durably
    (temporary name, fsync, rename)."""
    entries = {}
    for name, file in files.items():
        size, crc = crc32_of(file)
        entries[name] = [size, crc]
        _remember(path.parent / name, os.stat(file))      # a rename keeps inode and mtime
    data = json.dumps({"format": FORMAT, "algorithm": "crc32", "files": entries, "check": _check(entries)})
    write_atomic(path, [data.encode("utf-8")])


def read_manifest(path: Path) -> dict[str, list[int]] | None:
    """{file name: [size, crc32]} of a manifest; None when there is none; Damaged when unreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
        files = data["files"]
        if data.get("check") != _check(files):
            raise ValueError("its own check differs")
        return files
    except (ValueError, KeyError, TypeError) as exc:
        raise Damaged(path.name, f"the checksum manifest is unreadable ({exc})") from None


# Files this process has summed in full: path -> (inode, size, mtime_ns) when their sum matched.
# Another write in place changes the mtime: the next open sums the file again.
_summed: dict[str, tuple[int, int, int]] = {}


def _key(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_ino, st.st_size, st.st_mtime_ns


_SUMMED_PRUNE_AT = 4096     # entries; then those of files that are gone (merged away) are forgotten
_prune_at = _SUMMED_PRUNE_AT


def _remember(path: Path, st: os.stat_result) -> None:
    global _prune_at
    _summed[str(path)] = _key(st)
    if len(_summed) > _prune_at:
        # Every commit writes new files and deletes merged ones: without this the memo grows by ~4 entries
        # per commit for as long as the process runs (a watcher committing every second: ~50 MB a day).
        for name in list(_summed):     # a copy: other threads remember files meanwhile
            if not os.path.exists(name):
                _summed.pop(name, None)
        _prune_at = max(_SUMMED_PRUNE_AT, 2 * len(_summed))


def verify(folder: Path, names: list[str], full: bool = True, force: bool = False, throttle=None,
           missing_ok: bool = False) -> Verified:
    """Check the files of the manifests `names` (segments, tables of contents) in `folder`.

    Sizes always; full: the CRC32 of each file this process has not summed as it is now (force: of
    every file). Raises Damaged; missing_ok: a file gone since is skipped (a commit cleaned it up).
    """
    started = time.perf_counter()
    seen = Verified()
    for name in names:
        files = read_manifest(manifest_path(folder, name))
        if files is None:
            seen.unsummed += 1
            continue
        for file_name, (size, crc) in files.items():
            path = Path(folder) / file_name
            try:
                st = os.stat(path)
            except FileNotFoundError:
                if missing_ok:
                    continue
                raise Damaged(file_name, "the file is missing") from None
            if st.st_size != size:
                raise Damaged(file_name, f"{st.st_size:,} bytes, {size:,} when it was written")
            if not full or (not force and _summed.get(str(path)) == _key(st)):
                continue
            try:
                _, found = crc32_of(path, throttle)
            except FileNotFoundError:
                if missing_ok:
                    continue
                raise
            except OSError as exc:
                raise Damaged(file_name, f"cannot be read ({exc.strerror or exc})") from None
            seen.files += 1
            seen.bytes += size
            if found != crc:
                _summed.pop(str(path), None)
                raise Damaged(file_name, f"CRC32 {found:08x}, {crc:08x} when it was written")
            _remember(path, st)
    seen.seconds = time.perf_counter() - started
    return seen


def summed_names(folder: Path) -> list[str]:
    """The names of every manifest in a generation's folder."""
    return sorted(p.name[:-len(SUFFIX)] for p in Path(folder).glob(f"*{SUFFIX}"))


def record_damage(folder: Path, damage: Damaged, found_by: str) -> None:
    """Write down that a generation is damaged, for every process, until a build replaces it."""
    log.error("index damaged: %s (found by %s in %s); run `python -m indexer build`", damage, found_by, folder)
    _damage[str(folder)] = damage
    record = {"file": damage.file, "detail": damage.detail, "found_by": found_by,
              "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp = Path(folder) / f".{DAMAGE_FILE}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, Path(folder) / DAMAGE_FILE)
    except OSError as exc:      # a read-only index: this process still knows
        tmp.unlink(missing_ok=True)
        log.warning("could not record the damage in %s: %s", folder, exc)


_damage: dict[str, Damaged] = {}


def recorded_damage(folder: Path) -> Damaged | None:
    """The damage found in a generation by this or another process, or None."""
    known = _damage.get(str(folder))
    if known is not None:
        return known
    try:
        record = json.loads((Path(folder) / DAMAGE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return Damaged(DAMAGE_FILE, "a damage record that cannot be read")
    return Damaged(str(record.get("file", "?")), str(record.get("detail", "")))


_rechecked: dict[str, float] = {}


def recheck(folder: Path) -> None:
    """verify() the files of a generation already opened, at most every RECHECK_SECONDS; damage recorded."""
    now = time.monotonic()
    if now - _rechecked.get(str(folder), float("-inf")) < RECHECK_SECONDS:
        return
    _rechecked[str(folder)] = now
    try:
        verify(folder, summed_names(folder), missing_ok=True)
    except Damaged as damage:
        record_damage(folder, damage, "open")


class Scrubber(threading.Thread):
    """A daemon thread that reads every summed file of the live generation again, at a low rate.

    `live_folder()` names the live generation's folder (or raises OSError when there is none).
    """

    def __init__(self, live_folder, rate: float = SCRUB_BYTES_PER_SECOND, pause: float = SCRUB_PAUSE_SECONDS):
        super().__init__(name="index-scrub", daemon=True)
        self.live_folder = live_folder
        self.rate = rate
        self.pause = pause
        self.passes = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.pause):     # opening the index verified it a moment ago
            try:
                self.scrub()
            except Exception:
                log.exception("index scrub: unexpected error; trying again next pass")

    def stop(self) -> None:
        self.stopping.set()

    def _throttle(self, nbytes: int) -> None:
        if self.rate:
            self.stopping.wait(nbytes / self.rate)

    def scrub(self) -> Verified | None:
        """One pass over the live generation: its damage recorded, or what was verified."""
        try:
            folder = Path(self.live_folder())
        except OSError:
            return None
        if recorded_damage(folder) is not None:
            return None
        try:
            seen = verify(folder, summed_names(folder), force=True, throttle=self._throttle, missing_ok=True)
        except Damaged as damage:
            record_damage(folder, damage, "scrub")
            return None
        self.passes += 1
        log.info("index scrub: %d files, %.1f MB verified in %.0f s", seen.files, seen.bytes / 1e6, seen.seconds)
        return seen
