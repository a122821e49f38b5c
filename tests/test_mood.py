"""Customer mood from words: the phrase table in both languages (misses and false alerts
reported), repeated failed turns, and what the dialogue does with it: a concerned face, a
shorter reply, one gentle alert to the lobby manager per conversation."""

from __future__ import annotations

import sys

import pytest

from intents.dialogue.policy import (
    AlertStaff,
    DialogueState,
    Policy,
    Say,
    Understanding,
    decide,
)
from intents.understanding.mood import brief, read_mood
from tests.conftest import REPO

sys.path.insert(0, str(REPO))
from bench.mood_bench import read_table, score

ROWS = read_table()
POLICY = Policy(
    terminals=(),
    hours={"zh": "9:00-17:00", "en": "9:00-17:00"},
    address={"zh": "城东路1号", "en": "1 East Road"},
)


def test_the_table_is_big_enough_in_both_languages() -> None:
    moody = [r for r in ROWS if r[0] != "calm"]
    calm = [r for r in ROWS if r[0] == "calm"]
    assert len(moody) >= 40 and len(calm) >= 40
    assert {r[1] for r in moody} == {r[1] for r in calm} == {"zh", "en"}


def test_misses_and_false_alerts_on_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    result = score(ROWS)
    with capsys.disabled():
        for lang in ("zh", "en", "all"):
            r = result[lang]
            print(
                f"\nmood {lang}: {r['missed']}/{r['upset_or_confused']} missed, "
                f"{r['false_alerts']}/{r['calm_lookalikes']} false alerts "
                f"({r['false_alert_rate']:.1%})"
            )
    assert result["all"]["missed_turns"] == []
    assert result["all"]["wrong_mood_turns"] == []
    assert result["all"]["false_alert_rate"] <= 0.05, result["all"]["false_alert_turns"]


@pytest.mark.parametrize(("mood", "lang", "text"), ROWS, ids=[r[2][:30] for r in ROWS])
def test_each_phrase(mood: str, lang: str, text: str) -> None:
    assert read_mood(text).mood == mood


def test_repeated_failed_turns_read_as_confused() -> None:
    assert read_mood("嗯", failures=1).mood == "calm"
    assert read_mood("嗯", failures=2).mood == "confused"
    assert read_mood("刚才柜员态度很差", intent="complaint").mood == "upset"


def test_brief_keeps_the_first_and_last_sentence() -> None:
    assert brief("一。二。三？", "zh") == "一。三？"
    assert brief("One. Two. Three?", "en") == "One. Three?"
    assert brief("只有一句。", "zh") == "只有一句。"


def nothing(language: str = "zh") -> Understanding:
    return Understanding("out_of_scope", 0.2, ("out_of_scope",), False, language)  # type: ignore[arg-type]


def test_an_upset_customer_gets_a_short_reply_and_one_gentle_alert() -> None:
    calm_state, calm = decide(DialogueState(), "今天天气怎么样", nothing(), POLICY)
    state, actions = decide(DialogueState(), "你们怎么回事，今天天气怎么样", nothing(), POLICY)
    assert calm_state.mood == "calm" and state.mood == "upset"
    [long] = [a.text for a in calm if isinstance(a, Say)]
    [short] = [a.text for a in actions if isinstance(a, Say)]
    assert len(short) < len(long)
    alerts = [a for a in actions if isinstance(a, AlertStaff)]
    assert [(a.kind, a.severity) for a in alerts] == [("mood", "info")]
    state, actions = decide(state, "气死我了", nothing(), POLICY)  # once per conversation
    assert state.mood == "upset" and not any(isinstance(a, AlertStaff) for a in actions)


def test_an_english_confused_customer_and_no_alert_for_calm_words() -> None:
    state, actions = decide(
        DialogueState(language="en"), "I don't understand", nothing("en"), POLICY
    )
    assert state.mood == "confused"
    assert [a.kind for a in actions if isinstance(a, AlertStaff)] == ["mood"]
    state, actions = decide(
        DialogueState(language="en"), "I understand, thank you", nothing("en"), POLICY
    )
    assert state.mood == "calm" and not any(isinstance(a, AlertStaff) for a in actions)


def test_a_complaint_alert_is_not_doubled() -> None:
    u = Understanding("complaint", 0.9, ("complaint",), False, "zh")
    state, actions = decide(DialogueState(), "我要投诉，你们怎么回事", u, POLICY)
    assert state.mood == "upset"
    assert [a.kind for a in actions if isinstance(a, AlertStaff)] == ["complaint"]


def test_failed_turns_look_concerned_without_an_alert_before_the_handover() -> None:
    state = DialogueState()
    moods, alerts = [], []
    for _ in range(3):
        state, actions = decide(state, "啊吧啊吧", nothing(), POLICY)
        moods.append(state.mood)
        alerts.append([a.kind for a in actions if isinstance(a, AlertStaff)])
    assert moods[1] == "confused"
    assert alerts == [[], [], ["handover"]]
