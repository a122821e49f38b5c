"""Endpointer state-machine tables: probabilities in, turn events out (pure, no model)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from speech.endpoint import Endpointer, Event, PossibleEnd, Resumed, SpeechEnd, SpeechStart
from speech.settings import VadSettings

F = 32  # frame ms


def run(ep: Endpointer, pattern: str, t0: int = 0) -> list[Event]:
    """Feed one frame per character: '#' speech (0.9), '.' silence (0.05), '~' in between (0.4)."""
    probs = {"#": 0.9, ".": 0.05, "~": 0.4}
    events: list[Event] = []
    for i, ch in enumerate(pattern):
        events += ep.feed(probs[ch], t0 + i * F)
    return events


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_short_blip_never_starts_a_turn() -> None:
    ep = Endpointer()
    assert run(ep, "." * 5 + "#" * 5 + "." * 40) == []  # 160 ms < min_speech 250 ms


def test_turn_with_pre_roll_and_silence_end() -> None:
    ep = Endpointer()
    events = run(ep, "." * 20 + "#" * 30 + "." * 25)
    assert kinds(events) == ["SpeechStart", "PossibleEnd", "SpeechEnd"]
    start, possible, end = events
    assert isinstance(start, SpeechStart) and start.start_ms == 20 * F - 300
    assert start.at_ms == 20 * F + 8 * F  # 8 frames = 256 ms >= 250 ms
    assert isinstance(possible, PossibleEnd) and isinstance(end, SpeechEnd)
    assert possible.end_ms == end.end_ms == 50 * F + 100  # silence start + tail
    assert possible.start_ms == end.start_ms == start.start_ms
    assert end.at_ms - 50 * F >= 600 and end.at_ms - 50 * F < 600 + F
    assert end.reason == "silence"
    assert not ep.in_turn


def test_pre_roll_clamped_at_stream_start() -> None:
    events = run(Endpointer(), "#" * 20 + "." * 30)
    assert isinstance(events[0], SpeechStart) and events[0].start_ms == 0


def test_pause_shorter_than_end_silence_keeps_turn_and_emits_resumed() -> None:
    events = run(Endpointer(), "#" * 20 + "." * 10 + "#" * 20 + "." * 25)
    assert kinds(events) == ["SpeechStart", "PossibleEnd", "Resumed", "PossibleEnd", "SpeechEnd"]
    end = events[-1]
    assert isinstance(end, SpeechEnd) and end.end_ms == 50 * F + 100


def test_pause_below_possible_end_emits_nothing() -> None:
    events = run(Endpointer(), "#" * 20 + "." * 4 + "#" * 20 + "." * 25)
    assert kinds(events) == ["SpeechStart", "PossibleEnd", "SpeechEnd"]


def test_hysteresis_middle_probability_keeps_speech_and_does_not_resume() -> None:
    ep = Endpointer()
    events = run(ep, "#" * 20 + "~" * 30)  # 0.4 >= neg_threshold 0.35: still speech
    assert kinds(events) == ["SpeechStart"]
    # once silent, 0.4 < threshold 0.5 does not count as speech coming back
    events = run(ep, "." * 8 + "~" * 30, t0=50 * F)
    assert kinds(events) == ["PossibleEnd", "SpeechEnd"]


def test_digits_mode_allows_longer_pause() -> None:
    pattern = "#" * 20 + "." * 30 + "#" * 20 + "." * 60  # 960 ms pause mid-dictation
    normal = kinds(run(Endpointer(), pattern))
    assert normal.count("SpeechEnd") == 2
    ep = Endpointer()
    ep.expect_digits = True
    digits = kinds(run(ep, pattern))
    assert digits == ["SpeechStart", "PossibleEnd", "Resumed", "PossibleEnd", "SpeechEnd"]


def test_backchannel_while_system_speaks_does_not_interrupt() -> None:
    ep = Endpointer()
    ep.system_speaking = True
    assert run(ep, "." * 5 + "#" * 12 + "." * 30) == []  # 384 ms "嗯" < min_turn 600 ms
    events = run(ep, "#" * 25 + "." * 30, t0=100 * F)
    assert kinds(events) == ["SpeechStart", "PossibleEnd", "SpeechEnd"]
    assert isinstance(events[0], SpeechStart) and events[0].at_ms == 100 * F + 19 * F


def test_same_short_utterance_starts_turn_when_system_silent() -> None:
    assert kinds(run(Endpointer(), "." * 5 + "#" * 12 + "." * 30))[0] == "SpeechStart"


def test_candidate_survives_tiny_gap_but_not_long_gap() -> None:
    assert kinds(run(Endpointer(), "#" * 5 + ".." + "#" * 5 + "." * 30))[0] == "SpeechStart"
    assert run(Endpointer(), "#" * 5 + "." * 6 + "#" * 5 + "." * 30) == []


def test_max_turn_cuts_long_speech() -> None:
    settings = VadSettings(max_turn_s=2.0)
    events = run(Endpointer(settings), "#" * 200)
    ends = [e for e in events if isinstance(e, SpeechEnd)]
    assert ends and all(e.reason == "max_turn" for e in ends)
    assert all(e.end_ms - e.start_ms <= 2000 + F for e in ends)


def test_reset_drops_turn() -> None:
    ep = Endpointer()
    run(ep, "#" * 20)
    assert ep.in_turn
    ep.reset()
    assert not ep.in_turn and run(ep, "." * 30, t0=20 * F) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"neg_threshold": 0.6, "threshold": 0.5},
        {"possible_end_ms": 700, "end_silence_ms": 600},
        {"digits_end_silence_ms": 500},
        {"tail_ms": 300, "possible_end_ms": 200},
    ],
)
def test_settings_reject_inconsistent_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        VadSettings(**kwargs)  # type: ignore[arg-type]


def test_settings_load_from_toml_dict() -> None:
    s = msgspec.convert({"end_silence_ms": 800, "digits_end_silence_ms": 2000}, VadSettings)
    assert s.end_silence_ms == 800 and s.threshold == 0.5
    with pytest.raises(msgspec.ValidationError):  # a typo in branch.toml is an error
        msgspec.convert({"end_silense_ms": 800}, VadSettings)
    with pytest.raises(msgspec.ValidationError):  # __post_init__ errors surface as validation
        msgspec.convert({"end_silence_ms": 100}, VadSettings)


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=400))
def test_events_are_well_nested(probs: list[float]) -> None:
    """Whatever the input: Start before End, Resumed only after PossibleEnd, spans ordered."""
    ep = Endpointer()
    in_turn = possible = False
    for i, p in enumerate(probs):
        for e in ep.feed(p, i * F):
            if isinstance(e, SpeechStart):
                assert not in_turn
                in_turn = True
            elif isinstance(e, PossibleEnd):
                assert in_turn and not possible and e.start_ms < e.end_ms
                possible = True
            elif isinstance(e, Resumed):
                assert in_turn and possible
                possible = False
            else:
                assert in_turn and e.start_ms < e.end_ms <= e.at_ms
                in_turn = possible = False
