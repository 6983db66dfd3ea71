"""Search latency over xwlb_stories: ours (with snippets) against SQLite FTS5-trigram and a plain scan.

Usage: python bench/search_bench.py [--rebuild] [--passes N] [--no-profile] [--no-report]

Builds (or reuses) the index of xwlb_stories (19,589 documents) in bench/data/xwlb_stories,
runs a fixed set of queries through ArchiveSearcher.search (size 10: total, facets and the
snippets of the top 10 hits, the real cost of an API call), first once on a fresh searcher
(cold), then one warm-up pass, then N measured passes. In the same run the same queries go
to SQLite FTS5 with the trigram tokenizer (bm25 ranking, snippet() for the top 10, a count
for the total) and to a plain Python substring scan over the texts (top 10 by occurrence
count, naive snippet). Writes the table to bench/REPORT.md; profiles the slowest queries
with cProfile when a target is missed.
"""

from __future__ import annotations

import argparse
import cProfile
import heapq
import html
import io
import os
import pstats
import sqlite3
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import percentile  # noqa: E402

CORPUS = "xwlb_stories"
TARGET_P50_MS = 10.0
TARGET_P99_MS = 50.0
TARGET_FTS_RATIO = 3.0
TARGET_SCAN_RATIO = 5.0

# (label, params): the fixed query set. "{broker}" is replaced by the corpus's most common broker.
QUERIES: list[tuple[str, dict]] = [
    # common words
    ("common", {"q": "经济"}),
    ("common", {"q": "发展"}),
    ("common", {"q": "中国"}),
    ("common", {"q": "合作"}),
    ("common", {"q": "会议"}),
    ("common", {"q": "人民"}),
    ("common", {"q": "建设"}),
    ("common", {"q": "工作"}),
    ("common", {"q": "习近平"}),
    ("common", {"q": "总书记"}),
    # very common single characters
    ("1-char", {"q": "的"}),
    ("1-char", {"q": "了"}),
    ("1-char", {"q": "国"}),
    ("1-char", {"q": "水"}),
    ("1-char", {"q": '"新"'}),
    # rare words
    ("rare", {"q": "可控核聚变"}),
    ("rare", {"q": "神舟十八号"}),
    ("rare", {"q": "量子计算"}),
    ("rare", {"q": "杭州亚运会"}),
    ("rare", {"q": "大熊猫"}),
    ("rare", {"q": "碳达峰"}),
    ("rare", {"q": "新质生产力"}),
    ("rare", {"q": "嫦娥六号"}),
    # multi-word (ANDed)
    ("multi-word", {"q": "习近平 会见"}),
    ("multi-word", {"q": "经济 增长 数据"}),
    ("multi-word", {"q": "乡村 振兴 农业"}),
    ("multi-word", {"q": "中国 美国 合作"}),
    ("multi-word", {"q": "人工智能 产业"}),
    ("multi-word", {"q": "乡村振兴"}),
    ("multi-word", {"q": "高质量发展 新质生产力"}),
    # phrases
    ("phrase", {"q": '"高质量发展"'}),
    ("phrase", {"q": '"习近平"'}),
    ("phrase", {"q": '"一带一路"'}),
    ("phrase", {"q": '"中共中央政治局"'}),
    ("phrase", {"q": '"人类命运共同体"'}),
    ("phrase", {"q": '"国务院总理李强"'}),
    ("phrase", {"q": '"的"'}),
    # phrases crossing jieba word boundaries
    ("cross", {"q": '"近平总"'}),
    ("cross", {"q": '"展高质"'}),
    ("cross", {"q": '"国人民"'}),
    ("cross", {"q": '"记强调"'}),
    ("cross", {"q": '"济社会发"'}),
    ("cross", {"q": '"型大"'}),
    # Latin and numbers
    ("latin", {"q": "APEC"}),
    ("latin", {"q": "G20"}),
    ("latin", {"q": "5G"}),
    ("latin", {"q": "GDP"}),
    ("latin", {"q": "2024"}),
    ("latin", {"q": "ＡＩ"}),
    ("mixed", {"q": '"5G基站"'}),
    # boolean
    ("boolean", {"q": "台湾 OR 香港"}),
    ("boolean", {"q": "疫情 -防控"}),
    ("boolean", {"q": "经济 NOT 美国"}),
    # filters, sort
    ("filter", {"q": "经济", "from": "2024-01-01", "to": "2024-12-31"}),
    ("filter", {"q": "习近平", "from": "2025-01-01"}),
    ("filter", {"q": '"高质量发展"', "to": "2023-06-30"}),
    ("filter", {"q": "的", "from": "2023-03-01", "to": "2023-03-31"}),
    ("filter", {"q": "合作", "broker": "{broker}"}),
    ("filter", {"q": "", "from": "2024-06-01", "to": "2024-06-30"}),
    ("sort", {"q": "经济", "sort": "date"}),
    ("sort", {"q": "的", "sort": "date"}),
    ("sort", {"q": '"高质量发展"', "sort": "date"}),
    ("sort", {"q": "科技 创新", "sort": "date", "from": "2025-01-01"}),
]


# -- shared pieces ------------------------------------------------------------------------

def stats(ms: list[float]) -> dict:
    return {"p50": statistics.median(ms), "p99": percentile(ms, 99), "mean": statistics.fmean(ms), "max": max(ms)}


class Plan:
    """A query as FTS5 and the scan see it: AND of clauses (OR of alternatives (AND of terms)), minus excluded.

    Taken from our own parse_query, so all three engines answer the same request. Every
    term is a folded substring for FTS5 and the scan (whole-word Latin matching is ours only).
    """

    def __init__(self, params: dict, parsed):
        self.clauses = [[[t.text for t in alt] for alt in clause] for clause in parsed.clauses]
        self.excluded = [t.text for t in parsed.excluded]
        self.terms = list(dict.fromkeys(t for clause in self.clauses for alt in clause for t in alt))
        self.date_from = params.get("from", "")
        self.date_to = params.get("to", "")
        self.broker = params.get("broker", "")
        self.sort = params.get("sort", "relevance")


def naive_snippet(text: str, terms: list[str], width: int = 60) -> str:
    pos, term = -1, ""
    for t in terms:
        pos = text.find(t)
        if pos >= 0:
            term = t
            break
    if pos < 0:
        return html.escape(text[:2 * width])
    lo, hi = max(0, pos - width), min(len(text), pos + len(term) + width)
    return (html.escape(text[lo:pos]) + "<mark>" + html.escape(term) + "</mark>"
            + html.escape(text[pos + len(term):hi]))


# -- SQLite FTS5 with the trigram tokenizer ----------------------------------------------

class Fts5:
    """FTS5-trigram over the same folded cleaned texts; 1-2 character terms go through LIKE."""

    def __init__(self, path: Path, docs, rebuild: bool = False):
        self.path = path
        fresh = rebuild or not path.exists()
        if fresh and path.exists():
            path.unlink()
        self.db = sqlite3.connect(str(path))
        self.build_seconds = None
        if fresh:
            started = time.perf_counter()
            self.db.execute("CREATE VIRTUAL TABLE docs USING fts5(title, text, date UNINDEXED, broker UNINDEXED, "
                            "tokenize='trigram')")
            self.db.executemany("INSERT INTO docs(rowid, title, text, date, broker) VALUES (?, ?, ?, ?, ?)",
                                ((d.docnum + 1, d.folded_title, d.folded, d.date, d.broker) for d in docs))
            self.db.commit()
            self.db.execute("INSERT INTO docs(docs) VALUES ('optimize')")
            self.db.commit()
            self.build_seconds = time.perf_counter() - started

    @staticmethod
    def _quote(term: str) -> str:
        return '"' + term.replace('"', '""') + '"'

    def _sql(self, plan: Plan) -> tuple[str, list, bool]:
        """WHERE clause, its arguments, and whether a MATCH (hence bm25 and snippet) is used."""
        match_parts: list[str] = []
        where: list[str] = []
        args: list = []
        for clause in plan.clauses:
            if all(len(t) >= 3 for alt in clause for t in alt):
                alts = ["(" + " AND ".join(self._quote(t) for t in alt) + ")" for alt in clause]
                match_parts.append("(" + " OR ".join(alts) + ")")
            else:
                ors = []
                for alt in clause:
                    ands = []
                    for t in alt:
                        ands.append("+text LIKE ?")   # '+': a row scan (see the note on short patterns)
                        args.append(f"%{t}%")
                    ors.append("(" + " AND ".join(ands) + ")")
                where.append("(" + " OR ".join(ors) + ")")
        for t in plan.excluded:
            if len(t) >= 3 and match_parts:
                match_parts[-1] = match_parts[-1] + " NOT " + self._quote(t)
            else:
                where.append("+text NOT LIKE ?")
                args.append(f"%{t}%")
        if plan.date_from:
            where.append("date >= ?")
            args.append(plan.date_from)
        if plan.date_to:
            where.append("date <= ?")
            args.append(plan.date_to)
        if plan.broker:
            where.append("broker = ?")
            args.append(plan.broker)
        has_match = bool(match_parts)
        if has_match:
            where.insert(0, "docs MATCH ?")
            args.insert(0, " AND ".join(match_parts))
        return (" WHERE " + " AND ".join(where)) if where else "", args, has_match

    def search(self, plan: Plan, size: int = 10) -> tuple[int, list]:
        where, args, has_match = self._sql(plan)
        total = self.db.execute(f"SELECT count(*) FROM docs{where}", args).fetchone()[0]
        if plan.sort == "date" or not has_match:
            order = "date DESC, rowid"
        else:
            order = "bm25(docs, 3.0, 1.0), date DESC"
        if has_match:
            rows = self.db.execute(
                f"SELECT rowid, title, date, snippet(docs, 1, '<mark>', '</mark>', '…', 40) FROM docs{where} "
                f"ORDER BY {order} LIMIT {size}", args).fetchall()
        else:   # no full-text query, so no snippet(): the same naive snippet as the scan
            rows = self.db.execute(f"SELECT rowid, title, date, text FROM docs{where} ORDER BY {order} LIMIT {size}",
                                   args).fetchall()
            rows = [(r, t, d, naive_snippet(text, plan.terms)) for r, t, d, text in rows]
        return total, rows


# -- the plain scan ------------------------------------------------------------------------

def scan_search(docs, plan: Plan, size: int = 10) -> tuple[int, list]:
    """All terms contained (substring), filters checked, top 10 by occurrence count."""
    hits = []
    for d in docs:
        if plan.date_from and not (d.date and d.date >= plan.date_from):
            continue
        if plan.date_to and not (d.date and d.date <= plan.date_to):
            continue
        if plan.broker and d.broker != plan.broker:
            continue
        text = d.folded
        if not all(any(all(t in text for t in alt) for alt in clause) for clause in plan.clauses):
            continue
        if any(t in text for t in plan.excluded):
            continue
        hits.append(d)
    if plan.sort == "date":
        top = heapq.nlargest(size, hits, key=lambda d: d.date)
    else:
        top = heapq.nlargest(size, hits, key=lambda d: sum(d.folded.count(t) for t in plan.terms))
    return len(hits), [(d.id, d.title, naive_snippet(d.text, plan.terms)) for d in top]


# -- running ---------------------------------------------------------------------------------

def timed(fn, *args):
    started = time.perf_counter()
    result = fn(*args)
    return (time.perf_counter() - started) * 1000, result


def profile_queries(searcher, settings, queries: list[dict], repeat: int = 3, top: int = 12) -> tuple[str, str]:
    """cProfile of the given queries (warm): a Markdown table of where the time goes, and the raw listing."""
    from indexer.query import parse_request

    for params in queries:
        searcher.search(parse_request({**params, "size": 10}, settings))
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        for params in queries:
            searcher.search(parse_request({**params, "size": 10}, settings))
    profiler.disable()
    st = pstats.Stats(profiler)
    total = st.total_tt or 1e-9
    rows_ours, rows_own = [], []
    for (filename, line, name), (cc, nc, tt, ct, callers) in st.stats.items():
        where = f"{Path(filename).parent.name}/{Path(filename).name}:{line} {name}"
        if "/indexer/" in filename and ct / total >= 0.02:
            rows_ours.append((ct, where, nc))
        rows_own.append((tt, where, nc))
    rows_ours.sort(reverse=True)
    rows_own.sort(reverse=True)
    table = md_table_local(["our function (cumulative)", "calls", "s", "share"],
                           [[f"`{w}`", n, f"{ct:.3f}", f"{ct / total:.0%}"] for ct, w, n in rows_ours[:top]])
    table += "\n\n" + md_table_local(["function (own time)", "calls", "s", "share"],
                                       [[f"`{w}`", n, f"{tt:.3f}", f"{tt / total:.0%}"] for tt, w, n in rows_own[:top]])
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    header = (f"{len(queries)} queries × {repeat} warm runs under cProfile, {total:.2f} s in all "
              f"({total / (len(queries) * repeat) * 1000:.0f} ms per search with the profiler's overhead):")
    return header + "\n\n" + table, out.getvalue()


def md_table_local(header, rows):
    from bench.common import md_table
    return md_table(header, rows)


def main(argv: list[str] | None = None) -> int:
    from bench.common import DATA, ensure_index, load_docs, machine, md_table, stamp, write_section
    from indexer.search import ArchiveSearcher
    from indexer.query import parse_query, parse_request

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="build the index and the FTS5 database again")
    parser.add_argument("--passes", type=int, default=5, help="measured warm passes per engine")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args(argv)

    settings, build_seconds = ensure_index(CORPUS, args.rebuild)
    load_before = os.getloadavg()

    # Ours, cold: a fresh searcher, the first time each query runs.
    searcher = ArchiveSearcher(settings)
    cold_ms: list[float] = []
    open_ms, _ = timed(searcher.view)
    view = searcher.view()
    brokers = searcher.search(parse_request({"q": "的", "size": 1}, settings))["facets"]["broker"]
    broker = brokers[0][0] if brokers else ""
    queries = []
    for label, params in QUERIES:
        params = dict(params)
        if params.get("broker") == "{broker}":
            if not broker:
                continue
            params["broker"] = broker
        queries.append((label, params))
    for _, params in queries:
        ms, _ = timed(lambda p: searcher.search(parse_request({**p, "size": 10}, settings)), params)
        cold_ms.append(ms)

    # Texts for FTS5 and the scan: the same stored cleaned texts, folded.
    _, docs = load_docs(searcher)
    fts = Fts5(DATA / CORPUS / "fts5_trigram.sqlite", docs, args.rebuild)
    plans = [Plan(params, parse_query(params.get("q", ""))) for _, params in queries]

    engines = {
        "ours": lambda i: searcher.search(parse_request({**queries[i][1], "size": 10}, settings)),
        "fts5": lambda i: fts.search(plans[i]),
        "scan": lambda i: scan_search(docs, plans[i]),
    }
    fts_cold = [timed(engines["fts5"], i)[0] for i in range(len(queries))]
    samples: dict[str, list[list[float]]] = {name: [[] for _ in queries] for name in engines}
    totals: dict[str, list[int]] = {name: [0] * len(queries) for name in engines}
    for name, run in engines.items():
        for i in range(len(queries)):           # warm-up pass
            run(i)
        passes = args.passes if name != "scan" else max(1, min(args.passes, 2))
        for _ in range(passes):
            for i in range(len(queries)):
                ms, result = timed(run, i)
                samples[name][i].append(ms)
                totals[name][i] = result["total"] if name == "ours" else result[0]
        print(f"{name}: done ({passes} passes)", file=sys.stderr)

    flat = {name: [ms for per in samples[name] for ms in per] for name in engines}
    # FTS5 is only itself on queries whose terms all have 3+ characters (MATCH, no LIKE scan).
    matchable = [i for i, plan in enumerate(plans)
                 if plan.terms and all(len(t) >= 3 for t in plan.terms + plan.excluded)]
    sub = {name: [ms for i in matchable for ms in samples[name][i]] for name in ("ours", "fts5")}
    st = {name: stats(values) for name, values in flat.items()}
    cold = stats(cold_ms)
    ratio_fts = {k: st["ours"][k] / st["fts5"][k] for k in ("p50", "p99", "mean")}
    ratio_scan = {k: st["scan"][k] / st["ours"][k] for k in ("p50", "p99", "mean")}

    rows = [
        ["ours (cold: first pass, fresh searcher)", len(cold_ms), f"{cold['p50']:.2f}", f"{cold['p99']:.1f}",
         f"{cold['mean']:.2f}", f"{sum(cold_ms):.0f}"],
    ]
    for name, label in (("ours", "ours (warm)"), ("fts5", "SQLite FTS5 trigram (warm)"), ("scan", "plain substring scan")):
        rows.append([label, len(flat[name]), f"{st[name]['p50']:.2f}", f"{st[name]['p99']:.1f}",
                     f"{st[name]['mean']:.2f}", f"{sum(flat[name]) / max(1, len(flat[name])) * len(queries):.0f}"])
    if matchable:
        for name, label in (("ours", "ours, on the FTS5-MATCH-only queries"), ("fts5", "FTS5, MATCH-only queries (no LIKE)")):
            sm = stats(sub[name])
            rows.append([label, len(sub[name]), f"{sm['p50']:.2f}", f"{sm['p99']:.1f}", f"{sm['mean']:.2f}", ""])
    fc = stats(fts_cold)
    rows.insert(2, ["FTS5 (cold: first pass)", len(fts_cold), f"{fc['p50']:.2f}", f"{fc['p99']:.1f}",
                    f"{fc['mean']:.2f}", f"{sum(fts_cold):.0f}"])
    table = md_table(["engine", "samples", "p50 ms", "p99 ms", "mean ms", "one pass ms"], rows)

    match_ratio = (stats(sub["ours"])["p50"] / stats(sub["fts5"])["p50"]) if matchable else float("nan")
    ok_p50 = st["ours"]["p50"] <= TARGET_P50_MS
    ok_p99 = st["ours"]["p99"] <= TARGET_P99_MS
    ok_fts = ratio_fts["p50"] <= TARGET_FTS_RATIO and ratio_fts["p99"] <= TARGET_FTS_RATIO
    ok_scan = ratio_scan["p50"] >= TARGET_SCAN_RATIO and ratio_scan["p99"] >= TARGET_SCAN_RATIO

    def mark(ok: bool) -> str:
        return "met" if ok else "**missed**"

    targets = md_table(["target", "measured", ""], [
        [f"p50 ≤ {TARGET_P50_MS:g} ms", f"{st['ours']['p50']:.2f} ms", mark(ok_p50)],
        [f"p99 ≤ {TARGET_P99_MS:g} ms", f"{st['ours']['p99']:.1f} ms", mark(ok_p99)],
        [f"ours/FTS5 ≤ {TARGET_FTS_RATIO:g}× (p50, p99, mean)",
         f"{ratio_fts['p50']:.2f}× / {ratio_fts['p99']:.2f}× / {ratio_fts['mean']:.2f}×", mark(ok_fts)],
        [f"ours/FTS5 on the {len(matchable)} MATCH-only queries (p50)", f"{match_ratio:.1f}×",
         mark(match_ratio <= TARGET_FTS_RATIO)],
        [f"scan/ours ≥ {TARGET_SCAN_RATIO:g}× (p50, p99, mean)",
         f"{ratio_scan['p50']:.1f}× / {ratio_scan['p99']:.1f}× / {ratio_scan['mean']:.1f}×", mark(ok_scan)],
    ])

    median_of = {name: [statistics.median(per) for per in samples[name]] for name in engines}
    slow = sorted(range(len(queries)), key=lambda i: -median_of["ours"][i])[:10]

    def show(params: dict) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in params.items() if k != "q")
        return f"`{params.get('q', '')}`" + (f" ({extra})" if extra else "")

    slow_rows = [[show(queries[i][1]), queries[i][0], f"{median_of['ours'][i]:.1f}", f"{max(samples['ours'][i]):.1f}",
                  f"{totals['ours'][i]:,}", f"{median_of['fts5'][i]:.1f}", f"{totals['fts5'][i]:,}",
                  f"{median_of['scan'][i]:.0f}", f"{totals['scan'][i]:,}"] for i in slow]
    slow_table = md_table(["query", "kind", "ours median ms", "ours max ms", "ours total", "FTS5 ms", "FTS5 total",
                           "scan ms", "scan total"], slow_rows)

    by_kind: dict[str, list[int]] = {}
    for i, (label, _) in enumerate(queries):
        by_kind.setdefault(label, []).append(i)
    kind_rows = []
    for label, idx in by_kind.items():
        kind_rows.append([label, len(idx)] + [f"{statistics.median([ms for i in idx for ms in samples[n][i]]):.2f}"
                                              for n in engines]
                         + [f"{max(ms for i in idx for ms in samples['ours'][i]):.1f}"])
    kind_table = md_table(["kind", "queries", "ours p50 ms", "FTS5 p50 ms", "scan p50 ms", "ours max ms"], kind_rows)

    profile_text = ""
    if not args.no_profile and not (ok_p50 and ok_p99 and ok_fts):
        profile_text, raw = profile_queries(searcher, settings, [queries[i][1] for i in slow[:5]])
        print(raw, file=sys.stderr)
    load_after = os.getloadavg()

    built = f"built in {build_seconds:.0f} s" if build_seconds else "reused (built earlier; --rebuild to rebuild)"
    body = f"""Corpus {CORPUS}: {len(docs):,} documents, {sum(len(d.text) for d in docs) / 1e6:.1f} M characters of cleaned text; index {built}. {machine()}; SQLite {sqlite3.sqlite_version}. Load average (1 min) {load_before[0]:.1f} before and {load_after[0]:.1f} after the run (other work shares the machine: compare engines within this run, not across runs).
{len(queries)} fixed queries (QUERIES in the script; broker filter value = most common broker facet {broker!r}), each through `ArchiveSearcher.search` with size=10: total, facets and snippets of the top 10 (the whole API answer minus JSON encoding). Cold = the first pass on a fresh searcher (view opened in {open_ms:.0f} ms before it; folded texts are cached per generation as they are read); then one warm-up pass and {args.passes} measured passes ({len(flat['ours'])} samples; scan: {len(flat['scan']) // len(queries)} passes).

FTS5: `fts5(title, text, tokenize='trigram')` over the same folded cleaned texts{f', built in {fts.build_seconds:.0f} s' if fts.build_seconds else ''}; terms taken from our own `parse_query` (jieba words of unquoted runs, phrases, Latin words — all as substrings, FTS5 has no whole-word Latin); terms of 3+ characters go into MATCH, ranked by `bm25(docs, 3.0, 1.0)` with `snippet()` for the top 10; **terms of 1-2 characters cannot use trigram MATCH and are `+text LIKE '%x%'` (a scan of every row; the unary `+` is needed because SQLite {sqlite3.sqlite_version}'s trigram index answers a plain `text LIKE '%中国%'` with 0 rows instead of scanning); a query without any MATCH term is ordered by date and gets the naive snippet**; the total is a separate `count(*)`. Scan: every term `in` the folded text, filters checked, top 10 by occurrence count, naive snippet around the first occurrence.

{table}

{targets}

Per kind (median over samples):

{kind_table}

Slowest 10 of ours (median of the warm passes):

{slow_table}
"""
    if profile_text:
        body += "\nWhere the time goes — profile of the 5 slowest queries of ours:\n\n" + profile_text + "\n"
    print(body)
    if not args.no_report:
        write_section("Search latency", "search_bench.py", f"_{stamp()}_\n\n" + body)
    return 0 if (ok_p50 and ok_p99 and ok_fts and ok_scan) else 1


if __name__ == "__main__":
    raise SystemExit(main())
