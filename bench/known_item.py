"""Known-item search: a query of 2-3 distinctive title words finds that report in the top 3.

Usage: python bench/known_item.py [--rebuild] [--sample N] [--seed N] [--no-report]

For a seeded sample of gator_reports, the query is made of the title's jieba words
(indexer.analysis.query_words of the folded title) minus generic report words (行业, 报告,
周报, ...) and numbers/dates, keeping the 2-3 with the lowest document frequency in the
corpus (frequency = documents whose folded text contains the word, the matching semantics),
in title order. The report counts as found at rank r if it, or a report with the same title
and date (the corpus holds duplicates), is the r-th hit of ArchiveSearcher.search.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexer.normalize import fold  # noqa: E402

CORPUS = "gator_reports"
GENERIC = {
    "行业", "报告", "观察", "研究", "分析", "周报", "点评", "深度", "月报", "双周报", "研报", "跟踪",
    "专题", "简报", "日报", "解析", "系列", "周期", "季报", "年报",
}
_NUMBERISH = re.compile(r"^[0-9.\-/年月日]+$")
TARGET_TOP3 = 0.90


def title_words(title: str, numbers: bool = True) -> tuple[list[str], list[str]]:
    """(distinctive, generic) words of a title, as the engine segments it when typed as a query.

    parse_query's segmentation: Latin words and numbers whole, jieba words of each CJK run.
    Single CJK characters are dropped; numbers and dates (2025.6.4) are kept only with numbers=True.
    """
    from indexer.query import parse_query

    words = list(dict.fromkeys(w for piece in parse_query(title).segmentation for w in piece))
    distinctive, generic = [], []
    for w in words:
        if len(w) == 1 and not w.isascii():
            continue
        if w in GENERIC or (not numbers and _NUMBERISH.match(w)):
            generic.append(w)
        else:
            distinctive.append(w)
    return distinctive, generic


def make_query(title: str, df, numbers: bool = True, n: int = 3) -> list[str]:
    """Up to 3 distinctive words with the lowest document frequency (at least 2: generic ones fill in), in title order."""
    distinctive, generic = title_words(title, numbers)
    chosen = sorted(distinctive, key=lambda w: (df(w), -len(w)))[:n]
    if len(chosen) < 2:
        chosen += sorted((w for w in generic if not _NUMBERISH.match(w)), key=lambda w: (df(w), -len(w)))[:2 - len(chosen)]
    order = distinctive + generic
    return sorted(chosen, key=order.index)


def run_variant(searcher, settings, sample, df, same_key, numbers: bool) -> list[dict]:
    from indexer.query import parse_request

    results = []
    for doc in sample:
        words = make_query(doc.title, df, numbers)
        q = " ".join(words) if words else doc.title
        answer = searcher.search(parse_request({"q": q, "size": 10}, settings))
        hit_ids = [h["id"] for h in answer["hits"]]
        strict = hit_ids.index(doc.id) + 1 if doc.id in hit_ids else None
        lenient = None
        for rank, h in enumerate(answer["hits"], 1):
            if h["id"] == doc.id or (h["title"] == doc.title and h["date"] == doc.date):
                lenient = rank
                break
        # Ambiguous: at least 3 other reports whose titles hold every query word as well.
        folded_words = [fold(w) for w in words]
        rivals = sum(1 for t in same_key["titles"] if t != doc.folded_title and all(w in t for w in folded_words))
        results.append({"doc": doc, "q": q, "words": words, "rank": lenient, "strict": strict,
                        "total": answer["total"], "hits": answer["hits"][:3], "rivals": rivals})
    return results


def figures(results: list[dict]) -> dict:
    def share(pred, rows=results) -> float:
        return sum(1 for r in rows if pred(r)) / len(rows) if rows else float("nan")

    def mrr(key: str) -> float:
        return statistics.fmean(1 / r[key] if r[key] else 0.0 for r in results)

    clear = [r for r in results if r["rivals"] < 3]
    return {
        "top1": share(lambda r: r["rank"] == 1),
        "top3": share(lambda r: r["rank"] and r["rank"] <= 3),
        "top10": share(lambda r: r["rank"] is not None),
        "mrr": mrr("rank"),
        "strict_top3": share(lambda r: r["strict"] and r["strict"] <= 3),
        "strict_mrr": mrr("strict"),
        "words": Counter(len(r["words"]) for r in results),
        "ambiguous": len(results) - len(clear),
        "clear_top3": share(lambda r: r["rank"] and r["rank"] <= 3, clear),
        "median_total": statistics.median(r["total"] for r in results),
    }


def main(argv: list[str] | None = None) -> int:
    from bench.common import stamp, ensure_index, load_docs, machine, md_table, write_section
    from indexer.search import ArchiveSearcher
    from indexer.query import SearchRequest, parse_query

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20260301)
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args(argv)

    settings, _ = ensure_index(CORPUS, args.rebuild)
    searcher = ArchiveSearcher(settings)
    view, docs = load_docs(searcher)
    docs.sort(key=lambda d: d.id)
    same_key = Counter((d.title, d.date) for d in docs)
    same_key_info = {"titles": [d.folded_title for d in docs]}

    cache: dict[str, int] = {}

    def df(word: str) -> int:
        """Documents the word alone matches (the engine's exact match set; exactness.py checks it)."""
        if word not in cache:
            cache[word] = len(searcher.match(view, parse_query(word), SearchRequest()))
        return cache[word]

    sample = random.Random(args.seed).sample(docs, min(args.sample, len(docs)))
    runs = {
        "with": run_variant(searcher, settings, sample, df, same_key_info, numbers=True),
        "without": run_variant(searcher, settings, sample, df, same_key_info, numbers=False),
    }
    fig = {k: figures(v) for k, v in runs.items()}
    dup_sample = sum(1 for d in sample if same_key[(d.title, d.date)] > 1)

    def pct(x: float) -> str:
        return f"{x:.1%}"

    a, b = fig["with"], fig["without"]
    summary = md_table(["measure", "A: title words incl. dates/numbers", "B: words only (no dates/numbers)"], [
        ["top-1", pct(a["top1"]), pct(b["top1"])],
        ["**top-3** (target ≥ 90%)", f"**{pct(a['top3'])}**", f"**{pct(b['top3'])}**"],
        ["top-10", pct(a["top10"]), pct(b["top10"])],
        ["MRR@10", f"{a['mrr']:.3f}", f"{b['mrr']:.3f}"],
        ["top-3 / MRR, this exact report only", f"{pct(a['strict_top3'])} / {a['strict_mrr']:.3f}",
         f"{pct(b['strict_top3'])} / {b['strict_mrr']:.3f}"],
        ["queries of 3 / 2 / 1 words", " / ".join(str(a["words"][n]) for n in (3, 2, 1)),
         " / ".join(str(b["words"][n]) for n in (3, 2, 1))],
        ["ambiguous queries (≥3 other titles hold every query word)", a["ambiguous"], b["ambiguous"]],
        ["top-3 among the unambiguous ones", pct(a["clear_top3"]), pct(b["clear_top3"])],
        ["median total hits", a["median_total"], b["median_total"]],
    ])

    sections = []
    for key, label in (("with", "A"), ("without", "B")):
        results = runs[key]
        failures = [r for r in results if not (r["rank"] and r["rank"] <= 3)]
        reasons: Counter = Counter()
        for r in failures:
            if r["rivals"] >= 3:
                reasons["ambiguous: ≥3 other reports' titles hold every query word"] += 1
            elif r["total"] == 0:
                reasons["no hit at all"] += 1
            elif r["rank"] is None:
                reasons["not in the top 10"] += 1
            else:
                reasons["rank 4-10"] += 1
        rank_dist = Counter(r["rank"] if r["rank"] else ">10" for r in results)
        rows = [[f"`{r['q']}`", f"{r['doc'].title} ({r['doc'].date})", r["rank"] or ">10", r["total"], r["rivals"],
                 "; ".join(f"{h['title']} ({h['date']})" for h in r["hits"])] for r in failures]
        shown = rows if key == "with" else [row for row, r in zip(rows, failures) if r["rivals"] < 3]
        table = md_table(["query", "wanted report", "rank", "total", "rival titles", "top 3 returned"], shown) if shown else "None."
        sections.append(f"**Variant {label}**: rank distribution "
                        + ", ".join(f"{k}: {v}" for k, v in sorted(rank_dist.items(), key=lambda kv: (isinstance(kv[0], str), kv[0])))
                        + f". Failures ({len(failures)}): " + (", ".join(f"{k}: {v}" for k, v in reasons.most_common()) or "none")
                        + ("." if key == "with" else ". Listed: the unambiguous ones only.") + "\n\n" + table)

    body = f"""{len(sample)} reports of {CORPUS} ({len(docs)} documents), seeded sample (seed {args.seed}); {machine()}.
Query = up to 3 words of the title as the engine segments it when typed (`parse_query(title).segmentation`: Latin words and numbers whole, jieba words of CJK runs), minus generic report words ({'/'.join(sorted(GENERIC))}) and single characters, choosing those with the lowest document frequency (the engine's exact match count of the word alone), in title order, ANDed; when fewer than 2 remain, the title's generic words fill up to 2. `ArchiveSearcher.search(size=10)`, relevance order. A hit counts if it is the report itself **or any report with the same title and date** (the corpus has duplicates; {dup_sample} sampled reports share their title and date with another report); the strict row counts only the report itself.
Gator titles are mostly "<date><industry>行业观察/周报" (e.g. 2025.6.6汽车行业观察): the only distinctive word is often the date in the title. Variant A keeps such date/number tokens (the lowest-frequency words, so usually chosen); variant B drops them, which leaves queries like `汽车行业 观察` that 10+ reports answer equally well ("ambiguous": the engine cannot know which one is meant; ties go to the newest).

{summary}

{chr(10).join(sections)}
"""
    print(body)
    if not args.no_report:
        write_section("Known-item search", "known_item.py", f"_{stamp()}_\n\n" + body)
    return 0 if fig["with"]["top3"] >= TARGET_TOP3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
