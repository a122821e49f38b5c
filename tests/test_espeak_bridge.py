"""The leak-free espeak bridge: piper's phonemes unchanged, nothing kept per sentence."""

from __future__ import annotations

import gc
import sys
import tracemalloc

import pytest

pytest.importorskip("piper")

from piper import espeakbridge as piper_bridge
from piper.phonemize_espeak import EspeakPhonemizer

from speech.espeak import LeakFreeBridge, install

ORIGINAL = getattr(piper_bridge, "original", piper_bridge)  # another test may have installed it
TEXTS = ["You can do this yourself at smart teller machine one, on the left of the lobby. "
         "Your ticket is A zero one two.",
         "What time do you open on Saturday?", "Hello: wait; now! Yes", "",
         "Our opening hours: Mon-Fri 9:00-17:00."]


@pytest.fixture(scope="module")
def phonemizer() -> EspeakPhonemizer:
    return EspeakPhonemizer()


def test_same_clauses_and_phonemes_as_piper(phonemizer: EspeakPhonemizer) -> None:
    ORIGINAL.set_voice("en-us")
    want = [ORIGINAL.get_phonemes(t) for t in TEXTS]
    bridge = LeakFreeBridge(ORIGINAL)
    bridge.set_voice("en-us")
    assert [bridge.get_phonemes(t) for t in TEXTS] == want
    assert [c[1:] for c in want[0]] == [(",", False), (".", True), (".", True)]


def test_installed_bridge_keeps_nothing_per_sentence(phonemizer: EspeakPhonemizer) -> None:
    bridge = install()
    assert bridge is not None and sys.modules["piper.espeakbridge"] is bridge
    for _ in range(20):
        phonemizer.phonemize("en-us", TEXTS[0])
    changes = bridge.voice_changes
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(200):
            phonemizer.phonemize("en-us", TEXTS[0])
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = [s for s in after.compare_to(before, "filename") if s.count_diff > 0]
    kept = sum(s.count_diff for s in grown)
    assert kept < 50, grown[:3]  # piper's own bridge keeps 3 objects per clause: 1,800 here
    assert bridge.voice_changes == changes  # the same voice is not set again
    assert install() is bridge
