"""Configuration: defaults are valid, bad files fail with file, key and reason, flags override."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import build_parser
from edge.cli_config import CONFIG_FIELDS, config_from_args
from edge.config import BranchConfig, ConfigError, load_config
from tests.conftest import REPO


def test_defaults_describe_a_working_demo_branch() -> None:
    config = load_config(None)
    assert config.server.host == "127.0.0.1"
    assert {d.role for d in config.devices} == {"kiosk", "caller"}  # staff: accounts
    assert config.queue.counters and config.terminals


def test_shipped_example_file_is_valid_and_matches_defaults() -> None:
    example = load_config(REPO / "branch.example.toml")
    assert example.branch.name_zh == BranchConfig().branch.name_zh
    assert example.server.port == BranchConfig().server.port


@pytest.mark.parametrize(("text", "key", "what"), [
    ("[server]\nport = 'eighty'\n", "server.port", "Expected `int`, got `str`"),
    ("[server]\nprot = 80\n", "server.prot", "unknown key"),
    ("[server]\nport = 70000\n", "server.port", "not a TCP port"),
    ("[server]\nlog_interval_s = 0\n", "server.log_interval_s", "more than 0"),
    ("[[devices]]\nid = 'k'\nrole = 'toaster'\ncredential = 'longenough'\n", "devices[0].role",
     "Invalid enum value 'toaster'"),
    ("[[devices]]\nid = 'k'\nrole = 'kiosk'\ncredential = 'short'\n", "devices[0].credential",
     "at least 8"),
    ("[[terminals]]\nid = 'T9'\nname_zh = 'x'\nname_en = 'x'\nintents = ['teleport']\n",
     "terminals[0].intents", "unknown intent id 'teleport'"),
    ("[queue]\nnumber_digits = 'three'\n", "queue.number_digits", "Expected `int`"),
])
def test_bad_file_names_file_key_and_problem(tmp_path: Path, text: str, key: str, what: str) -> None:
    path = tmp_path / "branch.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: key {key}:"), message
    assert what in message


def test_unparseable_toml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "branch.toml"
    path.write_text("[server\nport=1", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_every_scalar_setting_has_a_flag() -> None:
    parser = build_parser()
    serve = parser._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    dests = {a.dest for a in serve._actions}
    for key, _, _ in CONFIG_FIELDS:
        assert f"cfg:{key}" in dests, key
    assert len(CONFIG_FIELDS) > 40


def test_flags_and_set_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "branch.toml"
    path.write_text("[server]\nport = 9000\nmax_text_chars = 100\n", encoding="utf-8")
    args = build_parser().parse_args([
        "serve", "--config", str(path), "--port", "0", "--data-dir", str(tmp_path),
        "--thresholds-large-cash-cny", "30000", "--set", 'queue.no_show.action="cancel"',
        "--set", "branch.name_en=Test Branch"])
    config = config_from_args(args)
    assert config.server.port == 0
    assert config.server.max_text_chars == 100
    assert config.data_dir == str(tmp_path)
    assert config.thresholds.large_cash_cny == 30000
    assert config.queue.no_show.action == "cancel"
    assert config.branch.name_en == "Test Branch"


def test_bad_override_is_reported_with_its_key() -> None:
    args = build_parser().parse_args(["serve", "--set", "server.port=[1,2]"])
    with pytest.raises(ConfigError, match=r"key server\.port"):
        config_from_args(args)


def test_a_tts_table_without_voices_keeps_the_voices_under_the_models_root() -> None:
    """`[speech.tts] rate = 0.9` (or `--set speech.tts.cache_mb=0`) once replaced the voices
    with TtsSettings' working-directory default, and the service found no voice."""
    from edge.config import load_config

    default = load_config(None).speech.tts.voices
    assert load_config(None, {"speech.tts.cache_mb": 0}).speech.tts.voices == default
    assert load_config(None, {"speech.tts.rate": 0.9}).speech.tts.voices == default
    assert default == {"en": "piper-en-joe", "zh": "zh-databaker"}
