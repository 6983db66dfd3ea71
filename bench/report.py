"""bench/REPORT.md: each benchmark script replaces only its own section."""

from __future__ import annotations

import re
import time
from pathlib import Path

REPORT = Path(__file__).resolve().parent / "REPORT.md"
HEADER = "# Benchmark report\n\nEach section is written by the script named in its heading, from one run.\n"


def replace_section(title: str, body: str) -> None:
    """Write `## title` with body (and the date), replacing that section if it exists."""
    text = REPORT.read_text(encoding="utf-8") if REPORT.exists() else HEADER
    section = f"## {title}\n\n_{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}_\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    REPORT.write_text(text, encoding="utf-8")
