"""Feature extraction shared by router training and inference: pinyin for homophone slips."""

from __future__ import annotations

from pathlib import Path

from intents.data import TRAIN_TSV
from intents.understanding.evaluate import read_labelled
from intents.understanding.features import features, normalise, pinyin_features
from intents.understanding.router import Router
from intents.understanding.router_config import TrainConfig


def test_pinyin_features_make_asr_homophones_share_features() -> None:
    slip, right = set(pinyin_features("挂时")), set(pinyin_features("挂失"))
    assert slip == right == {"pgua", "pshi", "qgua shi"}
    assert not set(features("挂时")) & {"pgua"}  # off unless asked for
    assert {"pgua", "qgua shi"} <= set(features("我要挂时", pinyin=True))


def test_pinyin_features_skip_latin_and_empty_text() -> None:
    assert pinyin_features(normalise("I lost my card")) == []
    assert pinyin_features("") == []
    assert pinyin_features(normalise("my U盾 坏了")) == ["pdun", "phuai", "ple", "qhuai le"]


def test_a_pinyin_router_saves_and_loads_its_feature_set(tmp_path: Path) -> None:
    rows = read_labelled(TRAIN_TSV)[::3]
    router = Router.train(rows, TrainConfig(folds=2, pinyin=True), slot_parser=lambda *_: {})
    assert router.head.pinyin and any(f.startswith("p") for f in router.head.vocab)
    path = tmp_path / "pinyin.npz"
    router.save(path)
    loaded = Router.load(path, slot_parser=lambda *_: {})
    assert loaded.head.pinyin
    for text in ("我的卡丢了要挂时", "银行卡密马忘了", "I want to open an account"):
        assert loaded.route(text) == router.route(text)
