"""evaluate.py metrics and data-file errors, and the calibration maths behind them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from intents.understanding.evaluate import DataFileError, evaluate_ambiguous, evaluate_intents
from intents.understanding.router import RouteResult
from intents.understanding.router_calibration import (
    UnsureRule,
    choose_unsure_rule,
    expected_calibration_error,
    fit_temperature,
    plausible,
    softmax,
)


class _Fixed:
    """A router stub that answers from a table: metrics are checked against hand counts."""

    def __init__(self, table: dict[str, tuple[str, float, bool]]) -> None:
        self.table = table

    def route(self, text: str) -> RouteResult:
        intent, conf, unsure = self.table[text]
        cands = [(intent, conf), ("card_replace", 0.2), ("password_reset", 0.1)]
        return RouteResult(intent, conf, cands, unsure, "zh" if text.isascii() is False else "en")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_intent_metrics_count_unsure_as_wrong(tmp_path: Path) -> None:
    router = _Fixed(
        {
            "挂失": ("card_lost", 0.9, False),
            "lost card": ("card_lost", 0.8, True),
            "转账": ("card_lost", 0.7, False),
            "transfer": ("transfer", 0.9, False),
        }
    )
    path = _write(
        tmp_path,
        "t.tsv",
        "card_lost\t挂失\ncard_lost\tlost card\n# comment\n\ntransfer\t转账\ntransfer\ttransfer\n",
    )
    out = evaluate_intents(router, path)
    assert out["n"] == 4
    assert out["accuracy"] == 0.5  # 挂失 and transfer; "lost card" was unsure
    assert out["unsure_rate"] == 0.25
    assert out["confusions"] == [{"expected": "transfer", "predicted": "card_lost", "count": 1}]
    assert set(out) >= {"macro_f1", "ece", "latency_ms_p50", "latency_ms_p95"}
    assert 0.0 < out["macro_f1"] < 1.0
    assert out["by_language"]["zh"]["n"] == 2


def test_unknown_intent_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.tsv", "card_lost\t挂失\n\ncard_stolen\t卡被偷了\n")
    with pytest.raises(DataFileError, match=r"bad\.tsv:3: unknown intent id 'card_stolen'"):
        evaluate_intents(_Fixed({}), path)


def test_malformed_line_and_missing_file_are_data_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"x\.tsv:1: expected"):
        evaluate_intents(_Fixed({}), _write(tmp_path, "x.tsv", "card_lost 挂失\n"))
    with pytest.raises(DataFileError, match="cannot read"):
        evaluate_intents(_Fixed({}), tmp_path / "missing.tsv")
    with pytest.raises(DataFileError, match=r"a\.tsv:2: unknown intent id 'nope'"):
        evaluate_ambiguous(
            _Fixed({}),
            _write(tmp_path, "a.tsv", "卡\tcard_lost,card_replace\n卡坏\tcard_replace,nope\n"),
        )


def test_ambiguous_metrics(tmp_path: Path) -> None:
    router = _Fixed(
        {
            "卡用不了": ("card_lost", 0.4, True),  # asks, offers card_lost + card_replace
            "账户问题": ("card_lost", 0.4, True),  # asks, but the listed pair is not offered
            "卡坏了": ("card_lost", 0.9, False),  # did not ask
        }
    )
    path = _write(
        tmp_path,
        "amb.tsv",
        "卡用不了\tcard_lost,card_replace\n"
        "账户问题\taccount_frozen,account_info_change\n卡坏了\tcard_lost,card_replace\n",
    )
    out = evaluate_ambiguous(router, path)
    assert out == {"n": 3, "clarified_rate": 2 / 3, "clarified_with_two_listed_rate": 1 / 3}


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_not() -> None:
    conf = np.array([0.75] * 4)
    assert expected_calibration_error(conf, np.array([1, 1, 1, 0], dtype=bool)) == 0.0
    assert expected_calibration_error(conf, np.zeros(4, dtype=bool)) == pytest.approx(0.75)


def test_temperature_scaling_recovers_an_overconfident_model() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 5)) * 2
    labels = np.array([rng.choice(5, p=p) for p in softmax(true_logits)])
    t = fit_temperature(true_logits * 3.0, labels)  # the model is 3x too sharp
    assert t == pytest.approx(3.0, rel=0.15)
    before = expected_calibration_error(
        softmax(true_logits * 3).max(1), softmax(true_logits * 3).argmax(1) == labels
    )
    after = expected_calibration_error(
        softmax(true_logits * 3, t).max(1), softmax(true_logits * 3).argmax(1) == labels
    )
    assert after < before / 2


@given(st.lists(st.floats(-50, 50), min_size=2, max_size=8), st.floats(0.05, 20))
def test_softmax_is_a_distribution_and_keeps_the_order(xs: list[float], t: float) -> None:
    p = softmax(np.array([xs]), t)[0]
    assert p.sum() == pytest.approx(1.0)
    assert int(p.argmax()) == int(np.argmax(xs)) or p.max() == p[int(np.argmax(xs))]


def test_unsure_rule_respects_its_budget_and_flags_close_calls() -> None:
    rng = np.random.default_rng(1)
    probs = softmax(rng.normal(size=(500, 6)) * 3)
    labels = probs.argmax(1)
    labels[:50] = (labels[:50] + 1) % 6  # 10% wrong
    rule = choose_unsure_rule(probs, labels, max_unsure_rate=0.05)
    assert rule.flags(probs, np.zeros(500)).mean() <= 0.05
    assert UnsureRule(0.3, 0.1).is_unsure(0.45, 0.40)
    assert not UnsureRule(0.3, 0.1).is_unsure(0.8, 0.1)
    assert UnsureRule(0.3, 0.1, max_ambiguous=0.5).is_unsure(0.8, 0.1, p_ambiguous=0.6)


def test_plausible_candidates_stop_once_they_cover_the_mass() -> None:
    spread = np.array([0.05, 0.45, 0.01, 0.40, 0.09])
    assert plausible(spread, 0.9).tolist() == [1, 3, 4]  # 0.45 + 0.40 < 0.9, + 0.09 covers it
    assert plausible(spread, 0.8).tolist() == [1, 3]
    assert plausible(spread, 1.0, top_k=4).tolist() == [1, 3, 4, 0]  # never more than top_k
    sure = np.array([0.97, 0.02, 0.01])
    assert plausible(sure, 0.9).tolist() == [0, 1]  # a question always has two options

    # an ambiguous class masked out (-1) or holding most of the mass: intents renormalised
    assert plausible(np.array([0.3, 0.01, -1.0, 0.3]), 0.9).tolist() == [0, 3]
    assert plausible(np.array([0.06, 0.005, 0.03, 0.005]), 0.9).tolist() == [0, 2]
