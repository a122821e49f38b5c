"""resolve_clarification and clarify_candidates: the customer's reply picks one offered intent."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from intents.data import CLARIFY_TSV, load_clarify
from intents.understanding.router_clarify import clarify_candidates, resolve_clarification

CARDS = ["card_lost", "card_replace", "password_reset"]
FROZEN = ["account_frozen", "card_replace"]


@pytest.mark.parametrize(
    ("reply", "candidates", "expected"),
    [
        ("第二个", CARDS, "card_replace"),
        ("第2个", CARDS, "card_replace"),
        ("二", CARDS, "card_replace"),
        ("2", CARDS, "card_replace"),
        ("３", CARDS, "password_reset"),  # full-width digit
        ("the second one", CARDS, "card_replace"),
        ("number three", CARDS, "password_reset"),
        ("two", CARDS, "card_replace"),
        ("最后一个", CARDS, "password_reset"),
        ("the last one", CARDS, "password_reset"),
        ("前一个", FROZEN, "account_frozen"),
        ("挂失", CARDS, "card_lost"),
        ("密码忘了", CARDS, "password_reset"),
        ("the card one", FROZEN, "card_replace"),
        ("my PIN", CARDS, "password_reset"),
        ("是银行卡丢了不是社保卡", ["social_security", "card_lost"], "card_lost"),
        ("都不是", CARDS, None),
        ("neither of those", FROZEN, None),
        ("嗯", CARDS, None),
        ("", CARDS, None),
        ("5", CARDS, None),  # out of range
        ("1 or 2", CARDS, None),  # two numbers: no single pick
        ("the card one", ["card_lost", "credit_card"], None),  # both are card options
        ("第二个", [], None),
    ],
)
def test_reply_table(reply: str, candidates: list[str], expected: str | None) -> None:
    assert resolve_clarification(reply, candidates, "zh") == expected
    assert resolve_clarification(reply, candidates, "en") == expected


class _StubRouter:
    """Scores fixed per text, so the router fallback is tested without training."""

    intents: tuple[str, ...] = ("mortgage", "personal_loan", "small_business_loan")

    def probabilities(self, text: str) -> npt.NDArray[np.float64]:
        if "房" in text:
            return np.array([0.8, 0.1, 0.1])
        return np.array([0.4, 0.35, 0.25])


def test_free_form_reply_uses_the_router_only_when_it_is_clear() -> None:
    offered = ["personal_loan", "mortgage", "small_business_loan"]
    assert resolve_clarification("买房子的", offered, "zh") is None
    assert resolve_clarification("买房子的", offered, "zh", _StubRouter()) == "mortgage"
    assert resolve_clarification("随便", offered, "zh", _StubRouter()) is None


def test_project_reply_table_without_router_never_picks_a_wrong_intent() -> None:
    """Without a router the resolver may abstain, but what it picks must be right."""
    wrong = [
        (c, r, e)
        for c, r, e in load_clarify(CLARIFY_TSV)
        if (got := resolve_clarification(r, list(c), "zh")) is not None and got != e
    ]
    assert len(wrong) <= 3, wrong


def test_clarify_candidates_names_two_to_four_and_never_out_of_scope() -> None:
    cands = [("out_of_scope", 0.4), ("card_lost", 0.3), ("card_replace", 0.2), ("transfer", 0.01)]
    assert clarify_candidates(cands) == ["card_lost", "card_replace"]
    spread = [("a", 0.3), ("b", 0.25), ("c", 0.2), ("d", 0.15)]
    assert clarify_candidates(spread) == ["a", "b", "c", "d"]
