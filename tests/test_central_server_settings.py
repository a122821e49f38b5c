"""central.example.toml documents exactly central's server settings, with their defaults,
and a bad central.toml is refused with the file and key named."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec
import pytest

from provisioning.central.server_settings import (
    CONFIG_ENV,
    OPERATOR_TOKEN_ENV,
    CentralServerSettings,
    load_server_settings,
)
from tests.conftest import REPO

EXAMPLE = REPO / "central.example.toml"


def test_the_example_names_every_setting_with_its_default() -> None:
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert sorted(example) == ["server"]
    assert sorted(example["server"]) == sorted(CentralServerSettings.__struct_fields__)
    assert load_server_settings(EXAMPLE) == CentralServerSettings()


def test_settings_come_from_the_file_the_environment_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "central.toml"
    path.write_text("[server]\nmax_report_bytes = 1024\n", encoding="utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert load_server_settings().max_report_bytes == 1024
    monkeypatch.delenv(CONFIG_ENV)
    assert load_server_settings() == CentralServerSettings()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[server]\nmax_report_byte = 1\n", "max_report_byte"),
        ("[server]\nheartbeat_s = 'soon'\n", "heartbeat_s"),
        ("[server]\nlink_queue = 0\n", "link_queue"),
        ("[server\n", "central.toml"),
    ],
)
def test_a_bad_file_is_refused_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "central.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=named):
        load_server_settings(path)


def test_the_operator_token_comes_from_the_environment_or_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(OPERATOR_TOKEN_ENV, raising=False)
    token_file = tmp_path / "operator-token"
    token_file.write_text("from-file\n", encoding="utf-8")
    settings = msgspec.structs.replace(CentralServerSettings(), operator_token_file=str(token_file))
    assert CentralServerSettings().operator_token() == ""
    assert settings.operator_token() == "from-file"
    monkeypatch.setenv(OPERATOR_TOKEN_ENV, "from-env")
    assert settings.operator_token() == "from-env"
