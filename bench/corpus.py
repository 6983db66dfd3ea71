"""Writing the shared corpora out as an archive folder of report files, for benchmarks."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent
CORPUS = PROJECT.parent / "shared" / "corpus"
DATA = PROJECT / "bench" / "data"


def records(name: str) -> list[dict]:
    """The records of ../shared/corpus/<name>.jsonl.gz (SystemExit with a message if missing)."""
    path = CORPUS / f"{name}.jsonl.gz"
    if not path.exists():
        raise SystemExit(f"{path} is missing: benchmarks need ../shared/corpus beside the project")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def write_archive(name: str, limit: int | None = None, fresh: bool = False) -> Path:
    """bench/data/<name>/archive: one Markdown file with front matter per record."""
    root = DATA / name / "archive"
    done = root.parent / ".written"
    if done.exists() and not fresh and limit is None:
        return root
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for record in records(name)[:limit]:
        front = {"title": record["title"], "date": record.get("date", "")}
        if record.get("category"):
            front["industry"] = record["category"]
        body = "---\n" + yaml.safe_dump(front, allow_unicode=True) + "---\n\n" + record["text"] + "\n"
        safe_id = record["id"].replace("/", "_")
        (root / f"{safe_id}.md").write_text(body, encoding="utf-8")
    if limit is None:
        done.touch()
    return root


def text_bytes(name: str) -> int:
    """UTF-8 size of the corpus's texts and titles."""
    return sum(len((r["title"] + r["text"]).encode("utf-8")) for r in records(name))
