"""Where the index's bytes go: each part of the index folder against the UTF-8 text, per code.

Usage: python bench/size_bench.py [--size N] [--archive DIR] [--code NAME=PATH_OR_COMMIT ...]
                                  [--index NAME=LIVE_DIR[=CODE] ...] [--search ROUNDS [--search-only A,B]]
                                  [--out DIR] [--report [--section TITLE]] [--note TEXT]

Each code (a commit, extracted from git with `git archive`, or a folder holding `indexer/`) builds
the first N documents of scale_bench.py's synthetic archive (workers=2, a fresh process each), and
each built index is split into its parts:

- Whoosh's segment files (`.seg`, compound): its term table (`.trm`) and postings (`.pst`) per
  field (the ID and numeric fields it still indexes itself), its columns (`.col`: the sortable
  fields, the files column, field lengths) and the stored-fields column (`_stored`: a pickled dict
  per document, zlib-compressed by Whoosh), that one split by stored field (each field's share of
  the pickled bytes: the text, the rendered Markdown HTML, the title, ...);
- our postings files (`.post`): per field the term dictionary, the document sets (and
  frequencies), the bigrams' positions region, the word counts per document;
- the column files (`.cols`), the checksum manifests (`.sums`), the table of contents and the rest.

`--index NAME=DIR` measures an index already built (its live folder) without building. The text
is the UTF-8 bytes of the titles and paragraphs, counted as scale_bench.py counts them. With
`--search`, each index is searched by its own code (search_bench.py's queries, size 10 with total,
facets and snippets, fresh processes alternating between the codes): cold and warm p50/p99, their
ratios to the first, and whether every query got the same answer from each.
Writes the section "Index size (size_bench.py)" of bench/REPORT.md with --report.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import md_table, percentile  # noqa: E402
from bench.corpus import DATA  # noqa: E402
from bench.positions_bench import BUILD_SCRIPT, code_at, text_bytes_of  # noqa: E402
from bench.positions_bench import subset as first_documents  # noqa: E402
from bench.report import replace_section  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
SECTION = "Index size (size_bench.py)"
MAIN_ARCHIVE = Path("/work/main/bench/data/scale_100000/archive")
OUT = DATA / "size"


# -- the parts of one index ------------------------------------------------------------------------

def whoosh_segment_parts(path: Path, parts: Counter) -> None:
    """Add the parts of one Whoosh compound segment file (`.seg`) to `parts`."""
    from whoosh.codec.whoosh3 import W3TermInfo
    from whoosh.filedb.compound import CompoundStorage
    from whoosh.filedb.filetables import OrderedHashReader
    from whoosh.filedb.structfile import StructFile

    storage = CompoundStorage(StructFile(open(path, "rb")), use_mmap=False)
    listed = 0
    for name in storage.list():
        length = storage.file_length(name)
        listed += length
        if name.endswith(".trm"):
            table = OrderedHashReader(storage.open_file(name), length)
            fields = {number: field for field, number in table.extras["fieldmap"].items()}
            entries = 0
            for key, value in table.items():
                field = fields[struct.unpack(">H", key[:2])[0]]
                parts[f"whoosh terms: {field}"] += len(key) + len(value)
                entries += len(key) + len(value)
                info = W3TermInfo.from_bytes(value)
                if not info.is_inlined():
                    length_of = info.extent()[1]      # Whoosh 2.7 leaves it a 1-tuple (unpack_int)
                    parts[f"whoosh postings: {field}"] += length_of[0] if isinstance(length_of, tuple) else length_of
            parts["whoosh terms: hash tables"] += length - entries
            table.close()
        elif name.endswith(".pst"):
            parts["whoosh postings: (unattributed)"] += length
        elif name.endswith(".col"):
            column = name[:-len(".col")].split(".", 1)[1]     # <segment>.<field>.col
            if column == "_stored":
                parts["_stored"] += length
            elif column.startswith("_") and column.endswith("_len"):
                parts["whoosh columns: field lengths"] += length
            else:
                parts[f"whoosh columns: {column}"] += length
        else:
            parts[f"whoosh other: {name.rsplit('.', 1)[-1]}"] += length
    parts["whoosh segment: directory"] += path.stat().st_size - listed
    storage.close()


def _attribute_pst(parts: Counter) -> None:
    """The .pst bytes not found through term infos (block headers, inlined) stay unattributed."""
    attributed = sum(v for k, v in parts.items() if k.startswith("whoosh postings: ") and "unattributed" not in k)
    parts["whoosh postings: (unattributed)"] -= attributed


def stored_field_shares(live: Path) -> Counter:
    """Each stored field's pickled bytes over every document (its share of the `_stored` column)."""
    from whoosh.filedb.filestore import FileStorage

    shares: Counter = Counter()
    index = FileStorage(str(live), supports_mmap=False).open_index("reports")
    with index.reader() as reader:
        for docnum in range(reader.doc_count_all()):
            for field, value in reader.stored_fields(docnum).items():
                if field in ("text", "markup") and isinstance(value, str):
                    # Stored as str (schema 12), compressed in one stream: their shares cannot be told apart.
                    field = "text and markup (compressed together)"
                shares[field] += len(pickle.dumps(value, 2)) + len(pickle.dumps(field, 2))
    index.close()
    return shares


def postings_parts(path: Path, parts: Counter) -> None:
    """Add the regions of one of our postings files (`.post`) to `parts`."""
    with open(path, "rb") as fh:
        head = fh.read(64)
        magic_len = head.index(b"\n") + 1
        fh.seek(magic_len)
        (head_len,) = struct.unpack("<I", fh.read(4))
        header = json.loads(fh.read(head_len))
    parts["postings: header"] += magic_len + 4 + head_len
    covered = magic_len + 4 + head_len
    for field, info in header["fields"].items():
        for key, (start, length) in info.items():
            if key in ("data",):
                label = f"postings: {field} documents" + (" and frequencies" if field.endswith("words") else "")
            elif key in ("positions", "pos_offsets"):
                label = f"postings: {field} positions"
            else:
                label = f"postings: {field} dictionary"
            parts[label] += length
            covered += length
    # Since MAGIC 5 a bigram's positions end its entry in the data: the header counts their bytes.
    moved = header.get("positions_bytes", 0)
    parts["postings: ngrams documents"] -= moved
    parts["postings: ngrams positions"] += moved
    for field, (start, length) in header["lengths"].items():
        parts["postings: word counts per document"] += length
        covered += length
    parts["postings: padding"] += path.stat().st_size - covered


def index_parts(live: Path) -> Counter:
    """Every byte of the live index folder, by part."""
    parts: Counter = Counter()
    for path in sorted(live.iterdir()):
        if path.is_dir():
            continue
        if path.suffix == ".seg":
            whoosh_segment_parts(path, parts)
        elif path.suffix == ".post":
            postings_parts(path, parts)
        elif path.suffix == ".cols":
            parts["column files (.cols)"] += path.stat().st_size
        elif path.suffix == ".sums":
            parts["checksums (.sums)"] += path.stat().st_size
        elif path.suffix == ".toc":
            parts["whoosh table of contents"] += path.stat().st_size
        else:
            parts[f"other: {path.name}"] += path.stat().st_size
    _attribute_pst(parts)
    stored = parts.pop("_stored", 0)
    if stored:
        shares = stored_field_shares(live)
        total = sum(shares.values())
        # Whoosh compresses each document's pickle again (the text and HTML are zlib already): the
        # column's bytes are dealt to the fields by their pickled share.
        for field, size in shares.items():
            parts[f"stored: {field}"] += round(stored * size / total)
        parts[f"stored: {max(shares, key=shares.get)}"] += stored - sum(
            round(stored * size / total) for size in shares.values())
    return parts


GROUPS = (("Whoosh stored fields", "stored: "), ("Whoosh term table and postings", "whoosh terms: "),
          ("Whoosh term table and postings", "whoosh postings: "), ("Whoosh columns", "whoosh columns: "),
          ("Whoosh columns", "whoosh segment: "), ("Whoosh columns", "whoosh other: "),
          ("our postings", "postings: "))


def group_of(part: str) -> str:
    for group, prefix in GROUPS:
        if part.startswith(prefix):
            return group
    return "column files, checksums, the rest"


# -- building --------------------------------------------------------------------------------------

def subset(size: int, out: Path) -> Path:
    """The first `size` documents of the synthetic archive, hard-linked into `out` (never written into
    the archive's own folder)."""
    source = MAIN_ARCHIVE if MAIN_ARCHIVE.is_dir() else DATA / "scale_100000" / "archive"
    if not source.is_dir() and not (out / f"archive-{size}").is_dir():
        raise SystemExit(f"no synthetic archive at {source}: run bench/scale_bench.py --sizes 100000 --keep")
    return first_documents(source, size, out)


def code_folder(spec: str, out: Path) -> Path:
    """A folder holding `indexer/`: the path given, or the commit extracted from git."""
    if Path(spec).is_dir():
        return Path(spec)
    commit = subprocess.run(["git", "-C", str(PROJECT), "rev-parse", spec], capture_output=True, text=True,
                            check=True).stdout.strip()
    return code_at(commit, out)


def build(code: Path, root: Path, index_dir: Path) -> dict:
    """A full build (workers=2) by the code in `code`, in a fresh process; its live folder."""
    shutil.rmtree(index_dir.parent, ignore_errors=True)
    index_dir.parent.mkdir(parents=True)
    for cache in (DATA / "jieba.cache", MAIN_ARCHIVE.parent.parent / "jieba.cache"):
        if cache.exists():      # jieba's dictionary cache: not a build cost
            shutil.copy(cache, index_dir.parent / "jieba.cache")
            break
    answer = subprocess.run([sys.executable, "-c", BUILD_SCRIPT, str(root), str(index_dir)], cwd=code,
                            env={**os.environ, "PYTHONPATH": str(code)}, capture_output=True, text=True)
    if answer.returncode != 0:
        raise SystemExit(f"the build by {code} failed:\n{answer.stderr[-3000:]}")
    found = json.loads(answer.stdout.strip().splitlines()[-1])
    found["live"] = str((index_dir / "live").resolve())
    return found


# -- searching each index with its own code -------------------------------------------------------

SEARCH_SCRIPT = """
import hashlib, json, sys, time
from indexer.config import DEFAULT_CONFIG, load_settings
from indexer.query import parse_request
from indexer.search import ArchiveSearcher
root, index_dir, queries, passes = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
settings = load_settings(DEFAULT_CONFIG, environ={}, overrides={
    "archive": {"root": root}, "index": {"dir": index_dir, "workers": 2}})
searcher = ArchiveSearcher(settings)
searcher.view()
samples, answers = [[] for _ in queries], []
for round_ in range(passes + 1):        # the first pass is cold (texts not read yet)
    for i, params in enumerate(queries):
        started = time.perf_counter()
        answer = searcher.search(parse_request({**params, "size": 10}, settings))
        samples[i].append((time.perf_counter() - started) * 1000)
        if round_ == 0:
            hits = [hit["id"] for hit in answer["hits"]]
            facets = json.dumps(answer.get("facets"), sort_keys=True, ensure_ascii=False)
            answers.append(hashlib.sha256(json.dumps([answer["total"], hits, facets]).encode()).hexdigest()[:16])
print(json.dumps({"samples": samples, "answers": answers}))
"""


def search_round(code: Path, root: Path, live: Path, queries: list[dict], passes: int) -> dict:
    """One fresh process of `code` searching its index: per query ms of each pass, and its answers."""
    index_dir = live.parent.parent      # <index dir>/builds/<generation>: the settings' index folder
    answer = subprocess.run([sys.executable, "-c", SEARCH_SCRIPT, str(root), str(index_dir), json.dumps(queries),
                             str(passes)], cwd=code, env={**os.environ, "PYTHONPATH": str(code)},
                            capture_output=True, text=True)
    if answer.returncode != 0:
        raise SystemExit(f"the search by {code} failed:\n{answer.stderr[-3000:]}")
    return json.loads(answer.stdout.strip().splitlines()[-1])


def compare_search(results: list[dict], root: Path, rounds: int, passes: int) -> str:
    """Each code searching its own index, fresh processes alternating; a table and whether the answers agree."""
    from bench.scale_bench import QUERIES

    queries = [params for _, params in QUERIES if params.get("broker") != "{broker}"]
    runs = {r["name"]: [] for r in results}
    for _ in range(rounds):
        for r in results:
            runs[r["name"]].append(search_round(Path(r["code_dir"]), root, Path(r["live"]), queries, passes))
    rows, figures = [], {}
    for r in results:
        name = r["name"]
        cold = [statistics.median(run["samples"][i][0] for run in runs[name]) for i in range(len(queries))]
        warm = [statistics.median(s for run in runs[name] for s in run["samples"][i][1:]) for i in range(len(queries))]
        figures[name] = (statistics.median(cold), percentile(cold, 99), statistics.median(warm), percentile(warm, 99),
                         sum(warm))
        rows.append([name] + [f"{v:.1f}" for v in figures[name]])
    base = results[0]["name"]
    for r in results[1:]:
        rows.append([f"{r['name']} / {base}"] + [f"{a / b:.2f}×" for a, b in zip(figures[r["name"]], figures[base])])
    answers = {name: runs[name][0]["answers"] for name in runs}
    same = sum(len({answers[name][i] for name in answers}) == 1 for i in range(len(queries)))
    return (f"Search, each index by its own code: {len(queries)} queries of search_bench.py's set (size 10 with "
            f"total, facets and snippets), {rounds} fresh processes per code, alternating; per query the median of "
            f"the cold passes (each process's first) and of the {passes} warm passes after it, then p50/p99 over "
            f"the queries.\n\n"
            + md_table(["code", "cold p50 ms", "cold p99 ms", "warm p50 ms", "warm p99 ms", "warm sum ms"], rows)
            + f"\n\nThe same answers (total, the 10 hits' ids, every facet) for {same} of {len(queries)} queries.")


# -- the report ------------------------------------------------------------------------------------

def mb(n: int) -> str:
    return f"{n / 1e6:,.1f}"


def ratio(n: int, text: int) -> str:
    return f"{n / text:.3f}×"


def write_report(results: list[dict], text: int, documents: int, note: str = "", search: str = "") -> str:
    names = [r["name"] for r in results]
    every = sorted({p for r in results for p in r["parts"]}, key=lambda p: (group_of(p), p))
    groups = sorted({group_of(p) for p in every})
    head = ["part"] + [f"{n} MB" for n in names] + [f"{n} / text" for n in names]
    rows = []
    for group in groups:
        inside = [p for p in every if group_of(p) == group]
        totals = [sum(r["parts"].get(p, 0) for p in inside) for r in results]
        rows.append([f"**{group}**"] + [f"**{mb(t)}**" for t in totals] + [f"**{ratio(t, text)}**" for t in totals])
        for part in inside:
            values = [r["parts"].get(part, 0) for r in results]
            if max(values) < 50_000:        # below 0.05 MB in every index: summed in its group only
                continue
            rows.append([part] + [mb(v) for v in values] + [ratio(v, text) for v in values])
    totals = [sum(r["parts"].values()) for r in results]
    rows.append(["**index folder**"] + [f"**{mb(t)}**" for t in totals] + [f"**{ratio(t, text)}**" for t in totals])
    codes = "; ".join(f"{r['name']}: {r['code']}" + (f" (build {r['wall']:.0f} s wall, {r['cpu']:.0f} s CPU)"
                                                    if r.get("wall") else "") for r in results)
    body = (f"{documents:,} documents of scale_bench.py's synthetic archive (the first of its 100,000), "
            f"{mb(text)} MB of UTF-8 text (titles and paragraphs), each code's fresh build (workers=2). "
            f"Codes: {codes}.\n\n"
            "Parts: Whoosh's stored-fields column dealt to the stored fields by each field's share of the "
            "pickled bytes (Whoosh zlib-compresses each document's pickle again); Whoosh's term table and "
            "postings per field from its term infos; our postings files per region. Parts under 0.05 MB "
            "in every index are counted in their group's total only.\n\n"
            + md_table(head, rows) + ("\n\n" + search if search else "") + ("\n\n" + note if note else ""))
    return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20_000, help="documents (the first N of the synthetic archive)")
    parser.add_argument("--archive", type=Path, help="an archive folder instead of the synthetic subset")
    parser.add_argument("--code", action="append", default=[], metavar="NAME=CODE",
                        help="a code to build with: a commit or a folder holding indexer/ (repeatable)")
    parser.add_argument("--index", action="append", default=[], metavar="NAME=LIVE[=CODE]",
                        help="an index already built (its live folder) to measure as it is, and the code that "
                             "built it (for --search) (repeatable)")
    parser.add_argument("--search", type=int, default=0, metavar="ROUNDS",
                        help="also search each index with its own code, ROUNDS fresh processes each")
    parser.add_argument("--passes", type=int, default=3, help="warm passes per search process")
    parser.add_argument("--search-only", default="", metavar="NAME,NAME",
                        help="search these indexes only (the first is the baseline of the ratios)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--report", action="store_true", help="write the section of bench/REPORT.md")
    parser.add_argument("--section", default=SECTION, help="the section's heading (a second size keeps the first's)")
    parser.add_argument("--note", default="", help="a paragraph after the table")
    parser.add_argument("--json", type=Path, help="also write the parts as JSON here")
    args = parser.parse_args(argv)
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    root = (args.archive or subset(args.size, args.out)).resolve()
    documents = sum(1 for _ in root.rglob("*.md"))
    text = text_bytes_of(root)
    results = []
    for spec in args.code:
        name, code_spec = spec.split("=", 1)
        code = code_folder(code_spec, args.out)
        print(f"[{name}] building {documents:,} documents with {code} ...", flush=True)
        started = time.perf_counter()
        found = build(code, root, args.out / f"index-{name}-{documents}" / "var" / "index")
        print(f"[{name}] built in {time.perf_counter() - started:.0f} s", flush=True)
        results.append({"name": name, "code": code_spec, "code_dir": str(code), **found})
    for spec in args.index:
        name, live, *code_spec = spec.split("=")
        code = code_folder(code_spec[0], args.out) if code_spec else PROJECT
        results.append({"name": name, "code": code_spec[0] if code_spec else "as built", "code_dir": str(code),
                        "live": str(Path(live).resolve())})
    for result in results:
        result["parts"] = index_parts(Path(result["live"]))
        total = sum(result["parts"].values())
        print(f"[{result['name']}] {mb(total)} MB, {total / text:.3f}× the text")
    searched = [r for name in args.search_only.split(",") for r in results if r["name"] == name] or results
    search = compare_search(searched, root, args.search, args.passes) if args.search else ""
    body = write_report(results, text, documents, args.note, search)
    print(body)
    if args.json:
        args.json.write_text(json.dumps({"text": text, "documents": documents, "results": [
            {**r, "parts": dict(r["parts"])} for r in results]}, ensure_ascii=False, indent=1))
    if args.report:
        replace_section(args.section, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
