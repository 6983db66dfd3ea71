"""Bigram positions: what the postings keep of where each bigram occurs, and the matching they decide.

A run of three or more CJK characters is decided from positions alone (indexer.view.positioned):
these tests hold it to a plain substring scan of the folded texts, on the cases positions can get
wrong (bigrams present but not adjacent, repeated characters, the ends of a text, the junction of
body and boilerplate, merged segments and deleted documents).
"""

from __future__ import annotations

import random

import pytest
from conftest import scramble_postings
from hypothesis import HealthCheck, example, given, settings, strategies as st

from indexer.analysis import bigram_positions, cjk_grams, gram_key, gram_text, plan_substring
from indexer.indexing import Indexer, analyse
from indexer.postings import PostingsBuilder, SegmentPostings
from indexer.query import Term
from indexer.search import ArchiveSearcher
from indexer.textrules import CJK_RE
from indexer.view import exact_by_postings

ALPHABET = "哈啊发展的"         # few characters: every bigram occurs, most trigrams do, not everywhere
TEXT = st.text(st.sampled_from(ALPHABET + "，a1 "), min_size=0, max_size=60)


def written(texts: list[str], tmp_path, name: str = "segment.post") -> SegmentPostings:
    builder = PostingsBuilder()
    for text in texts:
        builder.add(analyse(text, "", len(text)))
    path = tmp_path / name
    path.unlink(missing_ok=True)
    builder.write(path)
    return SegmentPostings(path)


def read_back(postings: SegmentPostings) -> dict[str, dict[int, list[int]]]:
    """bigram -> {document: offsets}, decoded from the file."""
    found: dict[str, dict[int, list[int]]] = {}
    for term, slot in postings.items("ngrams"):
        if postings.has_positions(slot):
            ids, counts, offsets = postings.positions(slot)
            assert len(ids) == len(counts) == postings.df("ngrams", term) and counts.sum() == len(offsets)
            at = 0
            found[term] = {}
            for doc, count in zip(ids.tolist(), counts.tolist()):
                found[term][doc] = offsets[at:at + count].tolist()
                at += count
        else:
            assert len(term) == 1       # only unigrams go without
    return found


def scanned_bigrams(text: str) -> dict[str, list[int]]:
    """bigram -> its offsets, by looking at every pair of adjacent characters (what cjk_grams finds with numpy)."""
    found: dict[str, list[int]] = {}
    for at in range(len(text) - 1):
        if CJK_RE.match(text[at]) and CJK_RE.match(text[at + 1]):
            found.setdefault(text[at:at + 2], []).append(at)
    return found


def expected_of(texts: list[str]) -> dict[str, dict[int, list[int]]]:
    expected: dict[str, dict[int, list[int]]] = {}
    for doc, text in enumerate(texts):
        for gram, offsets in scanned_bigrams(text).items():
            expected.setdefault(gram, {})[doc] = offsets
    return expected


def test_bigram_positions_are_offsets_into_the_text():
    text = "哈哈哈，发展a发展的"
    assert bigram_positions(text) == {"哈哈": [0, 1], "发展": [4, 7], "展的": [8]}
    for gram, offsets in bigram_positions(text).items():
        assert all(text[at:at + 2] == gram for at in offsets)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(TEXT, min_size=1, max_size=12))
@example(texts=["哈" * 70_000 + "的哈"])         # offsets past 16 bits, many blocks of them
def test_positions_written_are_read_back(tmp_path, texts):
    postings = written(texts, tmp_path)
    try:
        assert read_back(postings) == expected_of(texts)
    finally:
        postings.close()


# Characters on both sides of each edge of CJK_CHARS, one past the BMP, a lone surrogate, NUL.
EDGES = "\u33ff\u3400\u4dbf\u4dc0\u4dff\u4e00\u9fff\ua000\uf8ff\uf900\ufaff\ufb00\U00020bb7\ud800\x00"


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.sampled_from(ALPHABET + EDGES + "，a1 \n"), max_size=40))
@example(text="")
@example(text="\U00020bb7野家\U00020bb7")
def test_cjk_grams_are_every_cjk_character_and_adjacent_pair(text):
    grams = cjk_grams(text)
    assert [gram_text(key) for key in grams.unigrams.tolist()] == sorted(set(CJK_RE.findall(text)))
    assert bigram_positions(text) == scanned_bigrams(text)
    for key in grams.unigrams.tolist() + grams.bigrams.tolist():
        assert gram_key(gram_text(key)) == key
    # Keys sort as their n-grams' UTF-8 bytes (the order of the terms in a postings file).
    grams_of = sorted(set(grams.unigrams.tolist() + grams.bigrams.tolist()))
    assert [gram_text(key).encode() for key in grams_of] == sorted(gram_text(key).encode() for key in grams_of)


def test_a_merge_past_one_block_of_documents_and_offsets(tmp_path):
    """More documents and offsets than one block of bit-packing holds (indexer.bitpack.BLOCK): the numpy
    paths of writing, merging (a deleted document in every seven) and reading."""
    texts = ["发展" * (d % 5 + 1) + "的" * d + "哈" * (d % 3) for d in range(300)]
    live = [d for d in range(len(texts)) if d % 7]
    source = written(texts, tmp_path, "source.post")
    try:
        assert read_back(source) == expected_of(texts)
        merged = PostingsBuilder()
        merged.add_segment(source, live)
    finally:
        source.close()
    path = tmp_path / "merged.post"
    merged.write(path)
    postings = SegmentPostings(path)
    try:
        assert read_back(postings) == expected_of([texts[d] for d in live])
    finally:
        postings.close()


@pytest.mark.parametrize("gram", ["", "a", "𠮷", "发展的", "，", "发\x00"])
def test_only_cjk_unigrams_and_bigrams_have_gram_keys(gram):
    with pytest.raises(ValueError):
        gram_key(gram)


def postings_bytes(builder: PostingsBuilder, path) -> bytes:
    path.unlink(missing_ok=True)
    builder.write(path)
    return path.read_bytes()


ANALYSED = st.tuples(TEXT, st.sampled_from(["", "发展", "ai模型"]), st.floats(0, 1))     # text, title, body share


def analysed(text: str, title: str, share: float) -> dict:
    return analyse(text, title, int(len(text) * share))


def assert_merged_as_built(tmp_path, documents: list[tuple], split: int, live: list[int]) -> None:
    """Two segments (documents[:split], documents[split:]) merged after a document of the merge's own,
    only their `live` documents kept: the file is byte for byte the one a builder given the live
    documents one at a time writes."""
    own = ("发展的发展", "", 1.0)
    direct = PostingsBuilder()
    for document in [own] + [documents[d] for d in live]:
        direct.add(analysed(*document))
    merged = PostingsBuilder()
    merged.add(analysed(*own))
    for name, part, first in (("a.post", documents[:split], 0), ("b.post", documents[split:], split)):
        builder = PostingsBuilder()
        for document in part:
            builder.add(analysed(*document))
        postings_bytes(builder, tmp_path / name)
        source = SegmentPostings(tmp_path / name)
        try:
            merged.add_segment(source, [d - first for d in live if first <= d < first + len(part)])
        finally:
            source.close()
    assert postings_bytes(merged, tmp_path / "merged.post") == postings_bytes(direct, tmp_path / "direct.post")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents=st.lists(ANALYSED, max_size=10), data=st.data())
def test_a_merge_writes_the_bytes_a_builder_of_its_live_documents_writes(tmp_path, documents, data):
    split = data.draw(st.integers(0, len(documents)))
    live = sorted(data.draw(st.sets(st.integers(0, len(documents) - 1)))) if documents else []
    assert_merged_as_built(tmp_path, documents, split, live)


@pytest.mark.parametrize("documents, split, live", [
    ([], 0, []),                                                        # nothing to merge
    ([("", "", 0.0), ("哈", "", 1.0), ("", "发展", 1.0)], 1, [0, 1, 2]),    # empty documents, terms in one document
    ([("哈哈发展", "", 1.0), ("发展ai", "ai模型", 0.5)], 2, [1]),            # the only holder of 哈哈 deleted
    ([("发展" * 300, "", 1.0), ("的发展", "", 1.0)], 1, [0]),              # a whole segment deleted
])
def test_a_merge_of_tricky_documents_writes_what_a_build_does(tmp_path, documents, split, live):
    assert_merged_as_built(tmp_path, documents, split, live)


# -- matching from positions, on a real index ------------------------------------------------------

def scan(searcher, needle: str) -> set[str]:
    view = searcher.view()
    return {view.stored(d)["path"] for d in view.live if needle in view.folded(d).text}


def found(searcher, needle: str) -> set[str]:
    view = searcher.view()
    term = Term(needle, "phrase")
    return {view.stored(d)["path"] for d in view.candidates(term)}


def write(root, name: str, text: str) -> None:
    (root / name).write_text(text, encoding="utf-8")


@pytest.fixture
def cases(settings_factory, tmp_path):
    root = tmp_path / "archive"
    root.mkdir()
    write(root, "apart.txt", "甲乙丁乙丙戊\n\n甲乙在前，乙丙在后，从不相连。\n")
    write(root, "laugh2.txt", "笑声\n\n他说哈哈，又说哈哈。\n")
    write(root, "laugh4.txt", "笑声再起\n\n他说哈哈哈哈。\n")
    write(root, "ends.txt", "鸿蒙生态起步\n\n这是正文的内容，写到最后是收官之年")
    # The body ends with 资本 and the boilerplate (a disclaimer section, told by structure) begins with 市场.
    body = "\n\n".join(f"第{i}段正文讨论算力需求与资本开支。" for i in range(30)) + "\n\n结论：看好资本"
    boiler = ("免责声明\n\n市场有风险，投资需谨慎。本报告仅供参考，不构成投资建议。\n\n"
              "分析师声明\n\n本人具有中国证券业协会授予的证券投资咨询执业资格。")
    write(root, "junction.txt", "算力周报\n\n" + body + "\n\n" + boiler + "\n")
    settings = settings_factory(root=root)
    Indexer(settings).build()
    return ArchiveSearcher(settings)


@pytest.mark.parametrize("needle, expected", [
    ("甲乙丙", set()),                          # both bigrams in apart.txt, never adjacent
    ("乙丁乙", {"apart.txt"}),
    ("哈哈哈", {"laugh4.txt"}),                 # 哈哈 twice in laugh2.txt, not 哈哈哈
    ("哈哈哈哈", {"laugh4.txt"}),
    ("哈哈哈哈哈", set()),
    ("鸿蒙生态", {"ends.txt"}),                 # at offset 0
    ("收官之年", {"ends.txt"}),                 # at the very end
    ("最后是收官之年", {"ends.txt"}),
    ("年鸿蒙", set()),
    ("免责声明", {"junction.txt"}),             # in the boilerplate: positions cover all of the text
    ("投资需谨慎", {"junction.txt"}),
    ("资本市场", set()),                        # across the junction of body and boilerplate (a newline)
    ("看好资本", {"junction.txt"}),
])
def test_runs_of_three_or_more_characters_are_decided_by_positions(cases, needle, expected):
    view = cases.view()
    assert exact_by_postings(Term(needle, "phrase")) and plan_substring(needle).positional
    assert found(cases, needle) == scan(cases, needle) == expected
    assert view.holding(set(view.live), Term(needle, "phrase")) == {
        d for d in view.live if needle in view.folded(d).text}


def test_the_test_texts_are_what_the_cases_say(cases):
    view = cases.view()
    texts = {view.stored(d)["path"]: (view.folded(d), view.stored(d)["body_len"]) for d in view.live}
    folded, body_len = texts["ends.txt"]
    assert folded.text.startswith("鸿蒙生态") and folded.text.endswith("收官之年")
    folded, body_len = texts["junction.txt"]
    assert folded.text[:body_len].endswith("看好资本") and folded.text[body_len:].lstrip().startswith("免责声明")


def test_mixed_and_title_terms_keep_the_text_check():
    assert not exact_by_postings(Term("5g手机", "phrase")) and not plan_substring("5g手机").positional
    assert not exact_by_postings(Term("a股", "phrase"))
    assert not exact_by_postings(Term("资本,市场", "phrase"))
    assert not exact_by_postings(Term("收官之年", "phrase", field="title"))


@pytest.fixture
def random_archive(settings_factory, tmp_path):
    """30 texts over five characters in two segments, three deleted, then merged: (searcher, indexer)."""
    root = tmp_path / "archive"
    root.mkdir()
    rng = random.Random(11)
    texts = ["".join(rng.choice(ALPHABET + "，") for _ in range(rng.randint(3, 80))) for _ in range(30)]
    for i, text in enumerate(texts[:15]):
        write(root, f"{i:02}.txt", f"题{i}\n\n{text}\n")
    settings = settings_factory(root=root)
    indexer = Indexer(settings)
    indexer.build()
    for i, text in enumerate(texts[15:], 15):
        write(root, f"{i:02}.txt", f"题{i}\n\n{text}\n")
    indexer.sync(merge=False)
    for i in (3, 16, 29):
        (root / f"{i:02}.txt").unlink()
    indexer.sync(merge=False)
    return ArchiveSearcher(settings), indexer


def test_positions_equal_a_scan_across_segments_deletions_and_a_merge(random_archive):
    """Every run of three characters over the alphabet, and some longer, before and after a merge."""
    searcher, indexer = random_archive
    rng = random.Random(5)
    needles = [a + b + c for a in ALPHABET for b in ALPHABET for c in ALPHABET]
    needles += ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(4, 7))) for _ in range(60)]
    view = searcher.view()
    assert len(view.segments) >= 2 and view.has_deleted
    held = 0
    for needle in needles:
        expected = scan(searcher, needle)
        assert found(searcher, needle) == expected, needle
        held += bool(expected)
    assert 20 < held < len(needles)         # the needles both match and miss
    indexer.merge_segments()
    merged = searcher.view()
    assert len(merged.segments) < len(view.segments)
    for needle in needles:
        assert found(searcher, needle) == scan(searcher, needle), needle


def test_damaged_positions_read_at_search_time_are_a_503_not_a_wrong_answer(sample_index):
    """Positions the checksums have not caught yet (size and mtime kept) fail the search that decodes
    them with the index_damaged envelope; a build makes the index whole again."""
    from server import create_app

    client = create_app(sample_index).test_client()
    expected = client.get("/api/search", query_string={"q": '"人工智能"'}).json["total"]
    assert expected > 0
    scramble_postings(sample_index, "positions")    # every bigram's positions
    # A run not searched before (a searched one's documents are kept with the decoded postings: the
    # answer worked out before the damage, still right).
    answer = client.get("/api/search", query_string={"q": '"人工智"'})
    assert answer.status_code == 503 and answer.json["code"] == "index_damaged", answer.json
    assert Indexer(sample_index).build().documents == 5
    assert client.get("/api/search", query_string={"q": '"人工智能"'}).json["total"] == expected
