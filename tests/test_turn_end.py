"""Semantic end of turn: the words' rules, the endpointer's pauses they choose, in zh and en."""

from __future__ import annotations

import pytest

from speech.endpoint import Endpointer, Event, PossibleEnd, SpeechEnd
from speech.settings import VadSettings
from speech.turn_end import TurnHint, finished, judge, opens_request, text_hint

F = 32  # frame ms


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("我想查一下余额。", "zh"),
        ("帮我取个号吧", "zh"),
        ("我的卡丢了，怎么挂失？", "zh"),
        ("I lost my bank card.", "en"),
        ("What is this fee for?", "en"),
        ("Can I open an account today?", "en"),
    ],
)
def test_finished_requests_understood_with_confidence_are_complete(text: str, language: str) -> None:
    assert text_hint(text, language) is TurnHint.OPEN
    assert finished(text, language)
    assert judge(text, language, understood=True) is TurnHint.COMPLETE
    assert judge(text, language, understood=False) is TurnHint.OPEN  # misheard or vague: wait


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("我想……那个……", "zh"),
        ("我想办一张，那个", "zh"),
        ("我要，嗯。", "zh"),
        ("我想存钱，然后。", "zh"),
        ("然后就是", "zh"),
        ("我想存钱，还有", "zh"),
        ("I want to, um,", "en"),
        ("I'd like to open a, uh.", "en"),
        ("I need to transfer money to", "en"),
        ("Can you help me with the...", "en"),
        ("I want to.", "en"),
    ],
)
def test_trailing_words_wait_longer_even_when_understood(text: str, language: str) -> None:
    assert text_hint(text, language) is TurnHint.TRAILING
    assert not finished(text, language)
    assert judge(text, language, understood=True) is TurnHint.TRAILING


@pytest.mark.parametrize(
    ("text", "language"),
    [("我要存五千", "zh"), ("我的手机号是138", "zh"), ("I want to open an account", "en"), ("", "zh")],
)
def test_unfinished_but_not_trailing_keeps_the_normal_pause(text: str, language: str) -> None:
    assert judge(text, language, understood=True) is TurnHint.OPEN


def run(ep: Endpointer, pattern: str, t0: int = 0) -> list[Event]:
    probs = {"#": 0.9, ".": 0.05}
    events: list[Event] = []
    for i, ch in enumerate(pattern):
        events += ep.feed(probs[ch], t0 + i * F)
    return events


def _pause_after_hint(hint: TurnHint, settings: VadSettings | None = None,
                      expect_digits: bool = False) -> int:
    """Ms of silence before SpeechEnd when the check answers `hint` at the PossibleEnd."""
    ep = Endpointer(settings)
    ep.expect_digits = expect_digits
    events = run(ep, "#" * 30 + "." * 7)  # 224 ms of silence: PossibleEnd at 200 ms
    possible = [e for e in events if isinstance(e, PossibleEnd)]
    assert len(possible) == 1
    ep.set_hint(hint, possible[0].end_ms)
    for i in range(37, 200):
        for e in ep.feed(0.05, i * F):
            if isinstance(e, SpeechEnd):
                assert e.end_ms == possible[0].end_ms  # the speculative decode is the final
                return e.at_ms - 30 * F
    raise AssertionError("no SpeechEnd")


def test_complete_request_ends_on_the_short_pause() -> None:
    s = VadSettings()
    assert s.complete_end_silence_ms < s.end_silence_ms
    assert s.complete_end_silence_ms <= _pause_after_hint(TurnHint.COMPLETE) < s.complete_end_silence_ms + F
    assert s.end_silence_ms <= _pause_after_hint(TurnHint.OPEN) < s.end_silence_ms + F


def test_trailing_off_waits_the_longer_pause() -> None:
    s = VadSettings()
    pause = _pause_after_hint(TurnHint.TRAILING)
    assert s.trailing_end_silence_ms <= pause < s.trailing_end_silence_ms + F


def test_digit_dictation_keeps_its_long_pause_whatever_the_words() -> None:
    s = VadSettings()
    for hint in TurnHint:
        pause = _pause_after_hint(hint, expect_digits=True)
        assert s.digits_end_silence_ms <= pause < s.digits_end_silence_ms + F


def test_semantic_end_off_keeps_one_pause() -> None:
    off = VadSettings(semantic_end=False)
    for hint in TurnHint:
        assert off.end_silence_ms <= _pause_after_hint(hint, off) < off.end_silence_ms + F


def test_a_late_answer_about_an_earlier_pause_is_ignored() -> None:
    ep = Endpointer()
    events = run(ep, "#" * 30 + "." * 7)
    stale = next(e for e in events if isinstance(e, PossibleEnd))
    events = run(ep, "#" * 10 + "." * 7, t0=37 * F)  # the customer went on, paused again
    current = next(e for e in events if isinstance(e, PossibleEnd))
    assert not ep.set_hint(TurnHint.COMPLETE, stale.end_ms)
    assert ep.hint is TurnHint.OPEN
    assert ep.set_hint(TurnHint.COMPLETE, current.end_ms)
    run(ep, "#" * 3, t0=54 * F)  # speech again: what was said of the pause is stale
    assert ep.hint is TurnHint.OPEN


@pytest.mark.parametrize(
    "bad",
    [
        {"complete_end_silence_ms": 150},  # below possible_end_ms: no transcript to read yet
        {"complete_end_silence_ms": 700},  # above end_silence_ms
        {"trailing_end_silence_ms": 500},
        {"complete_min_confidence": 1.5},
    ],
)
def test_bad_semantic_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        VadSettings(**bad)  # type: ignore[arg-type]


def test_a_pending_check_holds_the_normal_pause_until_it_answers() -> None:
    s = VadSettings()
    ep = Endpointer()
    events = run(ep, "#" * 30 + "." * 7)
    possible = next(e for e in events if isinstance(e, PossibleEnd))
    ep.expect_hint(possible.end_ms)
    # past end_silence_ms with no answer yet: the turn goes on
    assert not [e for e in run(ep, "." * 20, t0=37 * F) if isinstance(e, SpeechEnd)]
    ep.set_hint(TurnHint.OPEN, possible.end_ms)
    ends = [e for e in ep.feed(0.05, 57 * F) if isinstance(e, SpeechEnd)]
    assert ends and ends[0].end_ms == possible.end_ms  # answered: ends on the next frame
    ep2 = Endpointer()
    events = run(ep2, "#" * 30 + "." * 7)
    ep2.expect_hint(next(e for e in events if isinstance(e, PossibleEnd)).end_ms)
    silence = 7
    while not [e for e in ep2.feed(0.05, (30 + silence) * F) if isinstance(e, SpeechEnd)]:
        silence += 1
    assert s.trailing_end_silence_ms <= silence * F + F < s.trailing_end_silence_ms + 2 * F


def test_an_answer_after_a_long_enough_pause_ends_the_turn_at_once() -> None:
    """The check answers after the pause's frames: the turn ends when it answers, not on the
    next frame (a kiosk frame is 40 ms, and a stream may send none)."""
    s = VadSettings()
    ep = Endpointer()
    events = run(ep, "#" * 30 + "." * 7)
    possible = next(e for e in events if isinstance(e, PossibleEnd))
    ep.expect_hint(possible.end_ms)
    assert ep.settle() == []  # still waiting for the answer
    run(ep, "." * 3, t0=37 * F)  # 320 ms of silence by now, past complete_end_silence_ms
    assert ep.set_hint(TurnHint.COMPLETE, possible.end_ms)
    (end,) = ep.settle()
    assert isinstance(end, SpeechEnd) and end.end_ms == possible.end_ms and end.at_ms == 40 * F
    assert not ep.in_turn and ep.settle() == []
    ep2 = Endpointer()  # answered before the short pause is over: the frames end it as usual
    events = run(ep2, "#" * 30 + "." * 7)
    possible = next(e for e in events if isinstance(e, PossibleEnd))
    assert ep2.set_hint(TurnHint.COMPLETE, possible.end_ms)
    assert 7 * F < s.complete_end_silence_ms  # 224 ms of silence so far
    assert ep2.settle() == [] and ep2.in_turn
    assert [e for e in run(ep2, "." * 2, t0=37 * F) if isinstance(e, SpeechEnd)]


@pytest.mark.parametrize(
    ("text", "language", "opens"),
    [
        ("我想纳克恩", "zh", True),  # Whisper's reading of "我想，那个，"
        ("我想，", "zh", True),
        ("帮我……", "zh", True),
        ("请问一下", "zh", True),
        ("I want, uh", "en", True),
        ("Can you help?", "en", True),
        ("我想把这张卡的密码改一下", "zh", False),  # a request says more than four characters
        ("I want to open a savings account.", "en", False),
        ("今天天气怎么样", "zh", False),  # no opener
        ("", "zh", False),
    ],
)
def test_a_request_opener_with_little_after_it(text: str, language: str, opens: bool) -> None:
    assert opens_request(text, language) is opens
