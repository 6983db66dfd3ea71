"""Settings: defaults, overrides, validation with messages that name the key, documentation."""

import re
import subprocess
import sys

import pytest

from indexer.config import DEFAULT_CONFIG, OPTIONS, PROJECT_ROOT, load_settings
from indexer.errors import ConfigError


def test_defaults_load_and_paths_are_absolute():
    settings = load_settings(DEFAULT_CONFIG, environ={})
    assert settings.archive.root == PROJECT_ROOT / "samples" / "reports"
    assert settings.index.dir == PROJECT_ROOT / "var" / "index"
    assert settings.server.port == 8000
    assert settings.search.max_size == 100


def test_partial_file_takes_defaults_for_the_rest(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[archive]\nroot = "reports"\n[index]\ndir = "idx"\n[server]\nport = 9001\n', encoding="utf-8")
    settings = load_settings(config, environ={})
    assert settings.archive.root == tmp_path / "reports"
    assert settings.index.dir == tmp_path / "idx"
    assert settings.server.port == 9001
    assert settings.watcher.settle_seconds == OPTIONS["watcher"]["settle_seconds"][1]


@pytest.mark.parametrize("text, message", [
    ('[archive]\nrooot = "x"\n', r"\[archive\]\.rooot"),
    ('[archve]\nroot = "x"\n', r"\[archve\]"),
    ('[server]\nport = "eighty"\n', r"\[server\]\.port must be an integer"),
    ('[server]\nport = 70000\n', r"\[server\]\.port must be between"),
    ('[watcher]\nsettle_seconds = -1\n', r"\[watcher\]\.settle_seconds must not be negative"),
    ('[archive]\nroot = 5\n', r"\[archive\]\.root must be a path"),
    ('[server\n', r"not valid TOML"),
    ('[watcher]\nbatch_seconds = nan\n', r"\[watcher\]\.batch_seconds must be a finite number"),
    ('[archive]\nmax_file_mb = inf\n', r"\[archive\]\.max_file_mb must be a finite number"),
    ('[server]\nworkers = 0\n', r"\[server\]\.workers must be at least 1"),
    ('[index]\nworkers = 0\n', r"\[index\]\.workers must be at least 1"),
    ('[index]\nhold_deletions_share = 1.5\n', r"hold_deletions_share must be above 0 and at most 1"),
    ('[archive]\npdf_memory_mb = 10\n', r"pdf_memory_mb must be at least 128"),
    ('[archive]\ntime_zone = "Beijing"\n', r"\[archive\]\.time_zone 'Beijing' is not a time zone name"),
    ('[archive]\ntime_zone = "../../etc/passwd"\n', r"\[archive\]\.time_zone .* is not a time zone name"),
    ('[search]\nexport_rows = 0\n', r"\[search\]\.export_rows must be at least 1"),
    ('[server]\nworker_class = "sync"\n', r"\[server\]\.worker_class must be one of gevent, gthread"),
    ('[server]\npublic_url = "reports.example.com"\n', r"\[server\]\.public_url must be an http"),
    ('[server]\npublic_url = "https://reports.example.com/search?q="\n', r"\[server\]\.public_url must be an http"),
])
def test_bad_settings_fail_with_the_key_named(tmp_path, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(config, environ={})


def test_environment_overrides_file_and_admin_token():
    settings = load_settings(DEFAULT_CONFIG, environ={"ARCHIVE_SERVER_PORT": "9100", "ARCHIVE_ADMIN_TOKEN": "s3cret"})
    assert settings.server.port == 9100
    assert settings.server.admin_token == "s3cret"
    with pytest.raises(ConfigError, match="ARCHIVE_SERVER_PORT"):
        load_settings(DEFAULT_CONFIG, environ={"ARCHIVE_SERVER_PORT": "x"})


@pytest.mark.parametrize("table, key, make, message", [
    ("index", "dir", "file", "is a file, not a folder"),
    ("index", "user_dict", "missing", "does not exist or is not a file"),
])
def test_paths_of_the_wrong_kind_stop_start_up(tmp_path, table, key, make, message):
    path = tmp_path / "thing"
    if make == "file":
        path.write_text("not a folder", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"\[{table}\]\.{key} is .*{message}"):
        load_settings(DEFAULT_CONFIG, overrides={table: {key: str(path)}}, environ={})


def test_a_mistyped_environment_variable_stops_start_up():
    with pytest.raises(ConfigError, match=r"ARCHIVE_SERVER_PROT: \[server\] has no key 'prot'"):
        load_settings(DEFAULT_CONFIG, environ={"ARCHIVE_SERVER_PROT": "9000"})
    # other programs' variables that merely start with ARCHIVE_ are not ours to judge
    assert load_settings(DEFAULT_CONFIG, environ={"ARCHIVE_BACKUP_DIR": "/x"}).server.port == 8000


def test_config_env_variable_selects_file(tmp_path):
    config = tmp_path / "other.toml"
    config.write_text("[server]\nport = 8123\n", encoding="utf-8")
    assert load_settings(environ={"ARCHIVE_CONFIG": str(config)}).server.port == 8123


def test_every_setting_is_documented_in_config_toml():
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    for table, keys in OPTIONS.items():
        assert f"[{table}]" in text
        for key in keys:
            assert re.search(rf"^{key} = ", text, re.M), f"[{table}].{key} is not in config.toml"


def test_indexer_does_not_import_flask():
    code = "import indexer.search, indexer.indexing, indexer.cli, sys; print('flask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True)
    assert out.stdout.strip() == "False"
