"""Shared fixtures: settings on tmp_path, a copy of the sample archive, a real built index."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", category=SyntaxWarning)

from indexer.config import DEFAULT_CONFIG, PROJECT_ROOT, load_settings  # noqa: E402

SAMPLES = PROJECT_ROOT / "samples" / "reports"
SHARED = PROJECT_ROOT.parent / "shared"
CORPUS = SHARED / "corpus"


def make_settings(tmp_path: Path, root: Path | None = None, **tables) -> object:
    """Settings whose archive and index live under tmp_path; extra tables override keys."""
    overrides = {
        "archive": {"root": str(root or tmp_path / "archive")},
        "index": {"dir": str(tmp_path / "var" / "index"), "workers": 1},
    }
    for table, values in tables.items():
        overrides.setdefault(table, {}).update(values)
    (root or tmp_path / "archive").mkdir(parents=True, exist_ok=True)
    return load_settings(DEFAULT_CONFIG, overrides=overrides, environ={})


@pytest.fixture
def settings_factory(tmp_path):
    """Build settings on tmp_path: settings_factory(root=None, search={...}, ...)."""
    return lambda root=None, **tables: make_settings(tmp_path, root, **tables)


@pytest.fixture
def sample_archive(tmp_path) -> Path:
    """A copy of the bundled five sample reports in tmp_path/archive."""
    root = tmp_path / "archive"
    shutil.copytree(SAMPLES, root)
    return root


@pytest.fixture
def sample_settings(tmp_path, sample_archive):
    return make_settings(tmp_path, sample_archive)


@pytest.fixture
def sample_index(sample_settings):
    """Settings of a real index built over the five sample reports."""
    from indexer.indexing import Indexer

    result = Indexer(sample_settings).build()
    assert result.documents == 5
    return sample_settings


@pytest.fixture
def corpus_dir() -> Path:
    """../shared/corpus, or skip when the shared folder is not beside the project."""
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not available")
    return CORPUS
