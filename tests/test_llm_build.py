"""Model building helpers that run without the build venv: the GGUF head reader and the CLI."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from provisioning.llm_build import main, read_gguf_metadata


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _kv_string(key: str, value: str) -> bytes:
    return _string(key) + struct.pack("<I", 8) + _string(value)


def test_reads_keys_of_a_truncated_gguf_head(tmp_path: Path) -> None:
    """The R1 package holds only the head of the GGUF: keys must read without tensor data."""
    tokens = ["a", "<｜User｜>", "<think>"]
    body = (_kv_string("general.architecture", "qwen2")
            + _string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, len(tokens))
            + b"".join(_string(t) for t in tokens)
            + _string("tokenizer.ggml.bos_token_id") + struct.pack("<II", 4, 151646)
            + _string("x.flag") + struct.pack("<I?", 7, True)
            + _string("x.scale") + struct.pack("<If", 6, 0.5))
    head = b"GGUF" + struct.pack("<IQQ", 3, 339, 5) + body + b"\x00" * 7  # cut mid-tensor-info
    path = tmp_path / "model_part_0000"
    path.write_bytes(head)
    meta = read_gguf_metadata(path)
    assert meta == {"general.architecture": "qwen2", "tokenizer.ggml.tokens": tokens,
                    "tokenizer.ggml.bos_token_id": 151646, "x.flag": True, "x.scale": 0.5}


def test_rejects_a_file_that_is_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"NOPE" + b"\x00" * 20)
    with pytest.raises(ValueError, match="not a GGUF"):
        read_gguf_metadata(path)


def test_cli_requires_a_command() -> None:
    with pytest.raises(SystemExit):
        main([])
