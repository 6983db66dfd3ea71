"""Compare PDF text extractors on real broker PDFs, per PDF and in total; prints markdown tables.

Usage: python bench/pdf_compare.py [PDF_DIR] [--report] [--seed N] [--phrases N]
       (default PDF_DIR: ../shared/corpus/pdf; --report rewrites this script's section of bench/REPORT.md)

Extractors, each run on every PDF in the same run (pages joined by a blank line):
  pypdf          pypdf `page.extract_text()`: the baseline (speed and characters are given relative to it)
  pypdf-layout   pypdf `page.extract_text(extraction_mode="layout")`
  pdfminer       pdfminer.six `extract_text` with its layout analysis (LAParams defaults)
  pdfplumber     pdfplumber `page.extract_text()`
  pdfium         pypdfium2 (PDFium) plain `textpage.get_text_range()`
  engine         the engine's reader, `indexer.pdftext.read_pdf` (PDFium by position, running headers,
                 footers and page numbers taken out), its pages joined

Measures. Seconds per PDF and in total, as a ratio to pypdf (of the totals, and the median of the
per-PDF ratios). CJK characters, summed and relative to pypdf's. Garbage: "(cid:" glyph ids, U+FFFD
and private-use glyphs. Spaces wedged between two CJK characters. *Figures kept*: numbers pypdf sets
on a line of their own between CJK lines ("近" / "50" / "年") that pdfminer.six's layout lines
(LTTextLine) show next to that CJK character on one visual line; the phrase as printed (up to two
CJK characters each side, e.g. 近50年) must appear in the extractor's text once whitespace is
removed; *on one line* asks it of a single line of the extractor's text (line breaks kept).
*Reading order*: a seeded sample of phrases per PDF, each 8-12 consecutive characters
(whitespace removed, at least two thirds CJK) of one pdfminer LTTextLine; the share found in the
extractor's whitespace-removed text. Both references leave out running lines (the same line,
digits ignored, on >= 40% and >= 3 pages), which the engine drops on purpose. The reference lines
come from a separate, untimed pdfminer pass with LAParams(all_texts=True), so that text kept in
form XObjects is laid out too; pdfminer's timed extract_text (defaults) leaves that text unlaid,
and otherwise finds the references by construction.

The PDFs are read in place and never copied into the project. Missing folder: skipped (exit 0).
"""

from __future__ import annotations

import argparse
import logging
import random
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

if str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "pdf"
CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK = re.compile(f"[{CJK_RANGES}]")
PRIVATE_USE = re.compile(r"[\ue000-\uf8ff]")
NUMBER_LINE = re.compile(r"\d[\d.,]*\s?%?")        # a pypdf line that is only a number
SPACE = re.compile(r"\s+")
PHRASES_PER_PDF = 30
PHRASE_LENGTHS = (8, 12)
PHRASE_CJK_SHARE = 2 / 3
RUNNING_SHARE, RUNNING_MIN_PAGES = 0.4, 3
SEED = 20260101
LICENCE_PACKAGES = {"pypdf": "pypdf", "pypdf-layout": "pypdf", "pdfminer": "pdfminer.six",
                    "pdfplumber": "pdfplumber", "pdfium": "pypdfium2", "engine": "pypdfium2"}
# What a verdict asks of a candidate: within this many points of the best reading order and
# figures kept, at least this share of pypdf's CJK characters (the engine drops running headers
# by design), no more garbage than pypdf; the fastest of those is chosen. No AGPL in the core.
NEAR_BEST_POINTS = 2.0
MIN_CJK_KEPT = 0.95


def compact(text: str) -> str:
    return SPACE.sub("", text)


def digits_hashed(text: str) -> str:
    return re.sub(r"\d", "#", compact(text))


# --------------------------------------------------------------------------- extractors


def extract_pypdf(path: Path) -> list[str]:
    """Text of every page by pypdf."""
    from pypdf import PdfReader

    reader = PdfReader(path)
    return [page.extract_text() or "" for page in reader.pages]


def extract_pypdf_layout(path: Path) -> list[str]:
    """pypdf's layout mode: characters placed on a fixed grid by their positions."""
    from pypdf import PdfReader

    reader = PdfReader(path)
    return [page.extract_text(extraction_mode="layout") or "" for page in reader.pages]


def extract_pdfminer(path: Path) -> list[str]:
    """pdfminer.six's `extract_text` with its layout analysis (LAParams defaults), split at its form feeds."""
    from pdfminer.high_level import extract_text

    return extract_text(str(path)).split("\f")      # TextConverter ends every page with a form feed


def reference_lines(path: Path) -> list[list[str]]:
    """pdfminer.six's layout lines (LTTextLine) of every page: the bench's reference for one visual line.

    all_texts=True also lays out the text inside form XObjects (LTFigure), where several of these
    PDFs keep every character; with the defaults those pages have no lines at all.
    """
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTTextLine

    def walk(obj, out):
        if isinstance(obj, LTTextLine):
            out.append(obj.get_text())
        elif hasattr(obj, "__iter__"):
            for child in obj:
                walk(child, out)

    pages = []
    for layout in extract_pages(str(path), laparams=LAParams(all_texts=True)):
        pages.append([])
        walk(layout, pages[-1])
    return pages


def extract_pdfplumber(path: Path) -> list[str]:
    """pdfplumber's `page.extract_text()` (its own line clustering of pdfminer's characters)."""
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        texts = []
        for page in pdf.pages:
            texts.append(page.extract_text() or "")
            page.close()          # frees the page's cached objects
        return texts


def extract_pdfium(path: Path) -> list[str]:
    """PDFium's plain text of each page (pypdfium2 `get_text_range()`)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(path)
    try:
        texts = []
        for page in document:
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return texts
    finally:
        document.close()


def extract_engine(path: Path) -> list[str]:
    """The engine's reader: indexer.pdftext.read_pdf (PDFium by position, furniture removed)."""
    from indexer.pdftext import read_pdf

    return read_pdf(path.read_bytes(), 10_000, 100_000_000).pages


EXTRACTORS = {
    "pypdf": extract_pypdf,
    "pypdf-layout": extract_pypdf_layout,
    "pdfminer": extract_pdfminer,
    "pdfplumber": extract_pdfplumber,
    "pdfium": extract_pdfium,
    "engine": extract_engine,
}


def warm_up(path: Path) -> None:
    """Import every library and load its fonts/CMaps once (page 1 of the first PDF), untimed."""
    from pdfminer.high_level import extract_text
    import pdfplumber
    import pypdfium2 as pdfium
    from pypdf import PdfReader
    from indexer.pdftext import read_pdf

    page = PdfReader(path).pages[0]
    page.extract_text()
    page.extract_text(extraction_mode="layout")
    extract_text(str(path), maxpages=1)
    with pdfplumber.open(path) as pdf:
        pdf.pages[0].extract_text()
    document = pdfium.PdfDocument(path)
    document[0].get_textpage().get_text_range()
    document.close()
    read_pdf(path.read_bytes(), 10_000, 100_000_000)


def licences() -> dict[str, str]:
    """What each package's installed metadata says (as `pip show` does): License-Expression, License, classifiers."""
    from importlib import metadata

    out = {}
    for package in sorted(set(LICENCE_PACKAGES.values())):
        try:
            md = metadata.metadata(package)
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
            continue
        said = md.get("License-Expression") or (md.get("License") or "").strip().splitlines()[0:1]
        said = said[0] if isinstance(said, list) and said else said
        if not said:
            classifiers = [c.split("::")[-1].strip() for c in md.get_all("Classifier") or [] if c.startswith("License ::")]
            said = ", ".join(classifiers) + " (classifier)" if classifiers else "unknown"
        out[package] = f"{package} {version}: {said}"
    return out


# --------------------------------------------------------------------------- references


def running_lines(pages: list[list[str]]) -> set[str]:
    """Lines (digits as #, whitespace removed) standing on >= 40% and >= 3 of the pages: page furniture."""
    seen = Counter(k for lines in pages for k in {digits_hashed(l) for l in lines})
    return {k for k, n in seen.items() if len(k) >= 2 and n >= RUNNING_MIN_PAGES and n >= RUNNING_SHARE * len(pages)}


def find_figures(pypdf_pages: list[str], layout: list[list[str]], running: set[str]) -> list[str]:
    """Phrases (CJK + number + CJK as printed) of numbers pypdf sets on a line of their own between CJK lines.

    A candidate counts only when one of pdfminer's layout lines of the same page holds the number
    right next to the CJK character pypdf put before or after it: the number stood inline on the page.
    """
    from bench.common import figure_phrase

    phrases: list[str] = []
    for p, page in enumerate(pypdf_pages[: len(layout)]):
        lines = [l.strip() for l in page.split("\n")]
        refs = [compact(l) for l in layout[p] if digits_hashed(l) not in running]
        seen: set[str] = set()
        for i in range(1, len(lines) - 1):
            before, number, after = lines[i - 1], lines[i], lines[i + 1]
            if not NUMBER_LINE.fullmatch(number):
                continue
            number = compact(number)
            left = before[-1] if before and CJK.match(before[-1]) else ""
            right = after[0] if after and CJK.match(after[0]) else ""
            if not (left or right):
                continue
            for line in refs:
                phrase = figure_phrase(line, number, left, right, CJK_RANGES)
                if phrase:
                    if phrase not in seen:
                        seen.add(phrase)
                        phrases.append(phrase)
                    break
    return phrases


def sample_phrases(layout: list[list[str]], running: set[str], rng: random.Random, count: int) -> list[str]:
    """count phrases of 8-12 consecutive characters (whitespace removed, >= 2/3 CJK) each from one pdfminer line."""
    windows_by_line = []
    for page in layout:
        for line in page:
            if digits_hashed(line) in running:
                continue
            s = compact(line)
            windows = [(i, n) for n in range(PHRASE_LENGTHS[0], PHRASE_LENGTHS[1] + 1) for i in range(len(s) - n + 1)
                       if len(CJK.findall(s[i : i + n])) >= PHRASE_CJK_SHARE * n]
            if windows:
                windows_by_line.append((s, windows))
    picked = rng.sample(windows_by_line, min(count, len(windows_by_line)))
    phrases = []
    for s, windows in picked:
        i, n = rng.choice(windows)
        phrases.append(s[i : i + n])
    return phrases


# --------------------------------------------------------------------------- measures


def measure(text: str) -> dict:
    """Character count, CJK count and share, garbage counts of an extracted text."""
    visible = [c for c in text if not c.isspace()]
    cjk = len(CJK.findall(text))
    return {
        "chars": len(text),
        "cjk": cjk,
        "cjk_share": cjk / len(visible) if visible else 0.0,
        "gaps": len(re.findall(r"[\u4e00-\u9fff][ \t]+[\u4e00-\u9fff]", text)),
        "cid": text.count("(cid:"),
        "fffd": text.count("\ufffd"),
        "pua": len(PRIVATE_USE.findall(text)),
    }


@dataclass
class PdfRun:
    name: str
    pages: int
    figures: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)       # extractor -> measure() + figures/phrases found
    errors: dict = field(default_factory=dict)
    misses: dict = field(default_factory=dict)      # extractor -> phrases not found (first few)
    reference_seconds: float = 0.0


def run_pdf(pdf: Path, seed: int, phrases_per_pdf: int) -> PdfRun:
    pages = {}
    run = PdfRun(pdf.name, 0)
    for name, extract in EXTRACTORS.items():
        start = time.perf_counter()
        try:
            pages[name] = extract(pdf)
        except Exception as exc:                     # noqa: BLE001 - one library failing is a result
            pages[name] = []
            run.errors[name] = f"{type(exc).__name__}: {exc}"[:120]
        run.seconds[name] = time.perf_counter() - start
    start = time.perf_counter()
    layout = reference_lines(pdf)
    run.reference_seconds = time.perf_counter() - start
    run.pages = len(layout)
    running = running_lines(layout)
    run.figures = find_figures(pages["pypdf"], layout, running)
    run.phrases = sample_phrases(layout, running, random.Random(f"{seed}:{pdf.name}"), phrases_per_pdf)
    for name, page_texts in pages.items():
        text = "\n\n".join(page_texts)     # pages joined by a blank line
        flat = compact(text)
        m = measure(text)
        by_line = "\n".join(compact(line) for line in text.split("\n"))    # line breaks kept, other whitespace gone
        m["figures"] = sum(f in flat for f in run.figures)
        m["inline"] = sum(f in by_line for f in run.figures)
        found = [p in flat for p in run.phrases]
        m["order"] = sum(found)
        run.misses[name] = [p for p, ok in zip(run.phrases, found) if not ok]
        run.stats[name] = m
    return run


# --------------------------------------------------------------------------- output


def pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def totals(runs: list[PdfRun]) -> dict:
    base_seconds = sum(r.seconds["pypdf"] for r in runs)
    base_cjk = sum(r.stats["pypdf"]["cjk"] for r in runs)
    figures = sum(len(r.figures) for r in runs)
    phrases = sum(len(r.phrases) for r in runs)
    out = {}
    for name in EXTRACTORS:
        seconds = sum(r.seconds[name] for r in runs)
        ratios = [r.seconds[name] / r.seconds["pypdf"] for r in runs if r.seconds["pypdf"] > 0]
        s = {k: sum(r.stats[name][k] for r in runs) for k in ("chars", "cjk", "gaps", "cid", "fffd", "pua", "figures", "inline", "order")}
        out[name] = {**s, "seconds": seconds, "ratio": seconds / base_seconds if base_seconds else float("nan"),
                     "median_ratio": statistics.median(ratios) if ratios else float("nan"),
                     "cjk_kept": s["cjk"] / base_cjk if base_cjk else float("nan"),
                     "garbage": s["cid"] + s["fffd"] + s["pua"],
                     "figures_share": s["figures"] / figures if figures else float("nan"),
                     "inline_share": s["inline"] / figures if figures else float("nan"),
                     "order_share": s["order"] / phrases if phrases else float("nan"),
                     "errors": sum(name in r.errors for r in runs)}
    return out


def verdict(tot: dict, lic: dict) -> tuple[str, str]:
    """(chosen extractor, one line why), by the rule stated at NEAR_BEST_POINTS / MIN_CJK_KEPT."""
    best_order = max(t["order_share"] for t in tot.values())
    best_figures = max(t["inline_share"] for t in tot.values())
    base_garbage = tot["pypdf"]["garbage"]
    passing = [n for n, t in tot.items()
               if "AGPL" not in lic.get(LICENCE_PACKAGES[n], "").upper()
               and t["order_share"] >= best_order - NEAR_BEST_POINTS / 100
               and t["inline_share"] >= best_figures - NEAR_BEST_POINTS / 100
               and t["cjk_kept"] >= MIN_CJK_KEPT and t["garbage"] <= base_garbage and not t["errors"]]
    if not passing:
        return "", (f"no extractor is within {NEAR_BEST_POINTS:g} points of the best reading order "
                    f"({best_order:.1%}) and figures kept on one line ({best_figures:.1%}) with ≥ {MIN_CJK_KEPT:.0%} of pypdf's "
                    "CJK characters and no more garbage than pypdf")
    chosen = min(passing, key=lambda n: tot[n]["seconds"])
    t = tot[chosen]
    others = ", ".join(f"{n} {tot[n]['ratio']:.2f}x" for n in passing if n != chosen)
    why = (f"**{chosen}**: reading order {t['order_share']:.1%} (best {best_order:.1%}), figures kept on one line "
           f"{t['inline_share']:.1%} (best {best_figures:.1%}), CJK kept {t['cjk_kept']:.1%} of pypdf's, "
           f"garbage {t['garbage']} (pypdf {base_garbage}), and the fastest that does so at {t['ratio']:.2f}x pypdf's time"
           + (f" (also passing: {others})" if others else " (the only one passing)")
           + f"; licence {lic.get(LICENCE_PACKAGES[chosen], '?')}.")
    return chosen, why


def render(runs: list[PdfRun], lic: dict, seed: int, phrases_per_pdf: int, elapsed: float, where: str) -> tuple[str, str]:
    from bench.common import machine, md_table

    tot = totals(runs)
    nfig = sum(len(r.figures) for r in runs)
    nphr = sum(len(r.phrases) for r in runs)
    summary = md_table(
        ["extractor", "licence (installed metadata)", "seconds", "÷ pypdf (total)", "÷ pypdf (median per PDF)",
         "CJK chars", "CJK kept vs pypdf", "(cid:", "U+FFFD", "private-use", "CJK␣CJK gaps",
         f"figures kept (of {nfig}, from {sum(bool(r.figures) for r in runs)} PDFs)", "figures on one line", f"reading order (of {nphr})", "errors"],
        [[n, lic.get(LICENCE_PACKAGES[n], "?"), f"{t['seconds']:.2f}", f"{t['ratio']:.2f}x", f"{t['median_ratio']:.2f}x",
          f"{t['cjk']:,}", f"{t['cjk_kept']:.1%}", t["cid"], t["fffd"], t["pua"], f"{t['gaps']:,}",
          f"{t['figures']} ({pct(t['figures'], nfig)})", f"{t['inline']} ({pct(t['inline'], nfig)})", f"{t['order']} ({pct(t['order'], nphr)})", t["errors"]]
         for n, t in tot.items()])
    names = list(EXTRACTORS)
    per_pdf = md_table(
        ["file", "pages", "figures", "phrases"] + names,
        [[r.name[:28], r.pages, len(r.figures), len(r.phrases)] + [
            ("error · " if n in r.errors else "")
            + f"{r.seconds[n]:.2f} s · {r.seconds[n] / r.seconds['pypdf'] if r.seconds['pypdf'] else float('nan'):.2f}x"
            f" · CJK {pct(r.stats[n]['cjk'], r.stats['pypdf']['cjk'])} · fig {r.stats[n]['figures']}/{r.stats[n]['inline']}"
            f" · order {r.stats[n]['order']}" for n in names] for r in runs])
    chosen, why = verdict(tot, lic)
    e = tot["engine"]
    engine_line = ("The engine reads PDFs with PDFium through indexer/pdftext.py, which this confirms"
                   if chosen in ("engine", "pdfium") else
                   "The engine reads PDFs with PDFium through indexer/pdftext.py; these numbers do not pick PDFium")
    engine_line += (f" (its reader, with lines by position and running headers/footers removed: {e['ratio']:.2f}x pypdf's "
                    f"time, reading order {e['order_share']:.1%}, figures on one line {e['inline_share']:.1%}).")
    misses = []
    for n in ("engine", "pdfium", "pdfplumber", "pypdf"):
        lost = [f"`{p}`" for r in runs for p in r.misses.get(n, [])][:5]
        if lost:
            misses.append(f"- {n}: " + ", ".join(lost))
    errors = [f"- {r.name[:28]} / {n}: {e}" for r in runs for n, e in r.errors.items()]
    lost = []
    for n in names:
        few = [r for r in runs if r.stats[n]["cjk"] < 0.5 * r.stats["pypdf"]["cjk"]]
        if few:
            lost.append(f"- {n}: less than half of pypdf's CJK characters on {len(few)} of {len(runs)} PDFs "
                        f"({sum(r.stats[n]['cjk'] == 0 for r in few)} with none), e.g. {few[0].name[:28]}")

    body = "\n".join([
        f"{len(runs)} broker PDFs ({sum(r.pages for r in runs)} pages) of {where}, read in place "
        f"(never copied into the project); every extractor on every PDF in one run, each library warmed up once "
        f"on page 1 first; {machine()}; seed {seed}, {phrases_per_pdf} phrases per PDF; run {elapsed:.0f} s.",
        "",
        f"**Verdict, by the numbers:** {why if chosen else 'none chosen: ' + why} {engine_line} Rule: within "
        f"{NEAR_BEST_POINTS:g} points of the best reading order and figures kept on one line, ≥ {MIN_CJK_KEPT:.0%} of pypdf's "
        "CJK characters (the engine drops running headers and footers on purpose), no more garbage than pypdf, "
        "no AGPL; then the fastest.",
        "",
        summary,
        "",
        "*Figures kept*: numbers pypdf sets on a line of their own between CJK lines (近 / 50 / 年) that pdfminer's "
        "layout lines show inline; the phrase as printed (≤ 2 CJK each side, e.g. 近50年) must be in the extractor's "
        "text, whitespace removed; *on one line* asks the same of a single line of the extractor's text (line breaks "
        "kept, other whitespace removed), which pypdf misses by construction unless the phrase recurs elsewhere. "
        "*Reading order*: seeded phrases of 8-12 characters (≥ 2/3 CJK) from one pdfminer LTTextLine, found in the "
        f"whitespace-removed text. Both references come from a separate untimed pdfminer.six pass "
        f"({sum(r.reference_seconds for r in runs):.0f} s) with LAParams(all_texts=True), running lines left out: "
        "pdfminer's own extract_text shares that layout analysis and is favoured by it (where text sits in form "
        "XObjects its defaults emit the characters in content order, unlaid). *CJK kept* sums CJK characters against pypdf's; the engine's "
        "share is lower by the running headers and footers it removes.",
        "",
        "Per PDF (seconds · ratio to pypdf · CJK kept vs pypdf · figures kept / on one line · phrases found):",
        "",
        per_pdf,
        "",
        *(["Text lost (below half of pypdf's CJK characters on a PDF):", *lost, ""] if lost else []),
        "Phrases not found (first 5):" if misses else "Every phrase found by every extractor.",
        *misses,
        *(["", "Errors:", *errors] if errors else []),
    ])
    return body, why


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pdf_dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--report", action="store_true", help="rewrite this script's section of bench/REPORT.md")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--phrases", type=int, default=PHRASES_PER_PDF, help="reading-order phrases per PDF")
    args = parser.parse_args(argv[1:])
    logging.basicConfig(level=logging.ERROR)  # pypdf warns through logging
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    if not args.pdf_dir.is_dir():
        print(f"SKIPPED: no PDF folder at {args.pdf_dir} (give one: python bench/pdf_compare.py PDF_DIR)", file=sys.stderr)
        return 0
    pdfs = sorted(args.pdf_dir.glob("*.pdf"))
    if not pdfs:
        print(f"SKIPPED: no *.pdf in {args.pdf_dir}", file=sys.stderr)
        return 0
    started = time.perf_counter()
    warm_up(pdfs[0])
    lic = licences()
    runs = []
    for n, pdf in enumerate(pdfs, 1):
        run = run_pdf(pdf, args.seed, args.phrases)
        runs.append(run)
        print(f"[{n}/{len(pdfs)}] {pdf.name[:40]}: " + ", ".join(f"{k} {v:.2f}s" for k, v in run.seconds.items()),
              file=sys.stderr, flush=True)
    where = "../shared/corpus/pdf" if args.pdf_dir.resolve() == DEFAULT_DIR.resolve() else str(args.pdf_dir)
    body, _ = render(runs, lic, args.seed, args.phrases, time.perf_counter() - started, where)
    print(body)
    if args.report:
        from bench.common import stamp, write_section

        write_section("PDF text extraction: pypdf, pdfminer.six, pdfplumber, PDFium, the engine's reader",
                      "pdf_compare.py", f"_{stamp()}_\n\n" + body)
        print("\nwrote bench/REPORT.md section (pdf_compare.py)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
