"""Vague requests through the real router and the dialogue: asked about, two readings named in
the customer's language, the reply understood; clear requests and fraud reports untouched.

The requests below were written for this test (none is a row of intents/data).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from edge.branch_facts import build_policy
from edge.config import BranchConfig
from edge.understanding import understanding_of
from intents.data import TRAIN_TSV, load_ambiguous_training, load_labelled
from intents.dialogue.policy import (
    AlertStaff,
    DialogueState,
    GoTerminal,
    IssueTicket,
    Say,
    Understanding,
    decide,
)
from intents.understanding.router import DEFAULT_CONFIG, Router

POLICY = build_policy(BranchConfig())
pytestmark = pytest.mark.timeout(600)

# (request, the intents a sensible question could offer)
VAGUE: list[tuple[str, set[str]]] = [
    ("想问问贷款的事情", {"personal_loan", "mortgage", "small_business_loan"}),
    ("I have a question about a loan", {"personal_loan", "mortgage", "small_business_loan"}),
    ("我卡出问题了", {"card_replace", "password_reset", "account_frozen", "card_lost"}),
    ("my bank card isn't working", {"card_replace", "password_reset", "account_frozen"}),
    ("something is wrong with my account",
     {"account_frozen", "password_reset", "account_info_change", "mobile_banking"}),
]
CLEAR: list[str] = [
    "我的银行卡丢了要挂失",
    "我要给我儿子转账",
    "我想存三年定期",
    "帮我叫一下大堂经理",
    "I want to withdraw cash from my account",
    "I need to print my bank statement",
    "what are your opening hours",
    "I'd like to apply for a credit card",
]


@pytest.fixture(scope="module")
def router() -> Router:
    cfg = replace(DEFAULT_CONFIG, folds=2)  # the shipped recipe, calibration cross-fitted on 2
    return Router.train(load_labelled(TRAIN_TSV), cfg, load_ambiguous_training())


def understanding(router: Router, text: str) -> Understanding:
    """What the service's understand() gives the dialogue (edge/understanding.py)."""
    return understanding_of(router.route(text))


def test_the_router_has_a_vague_decision_that_survives_save_and_load(
    router: Router, tmp_path: Any
) -> None:
    assert router.head.vague is not None
    router.save(tmp_path / "r.npz")
    back = Router.load(tmp_path / "r.npz")
    assert back.head.vague is not None and back.head.names is not None
    for text, _ in VAGUE:
        assert back.vague_score(text) == pytest.approx(router.vague_score(text), abs=1e-5)
        assert back.route(text).candidates == pytest.approx(router.route(text).candidates)


@pytest.mark.parametrize(("text", "plausible"), VAGUE, ids=[t for t, _ in VAGUE])
def test_a_vague_request_is_asked_naming_two_plausible_intents(
    router: Router, text: str, plausible: set[str]
) -> None:
    r = router.route(text)
    assert r.unsure, r
    named = [i for i, _ in r.candidates][:4]
    assert len(set(named) & plausible) >= 2, named


def test_the_vague_decision_separates_vague_from_clear(router: Router) -> None:
    """The head's own score: vague requests at or over its threshold, clear ones under it."""
    head = router.head.vague
    assert head is not None
    vague = [router.vague_score(t) or 0.0 for t, _ in VAGUE]
    clear = [router.vague_score(t) or 0.0 for t in CLEAR]
    assert min(vague) >= head.threshold > max(clear), (vague, clear, head.threshold)


def test_clear_requests_are_not_asked_about(router: Router) -> None:
    asked = [t for t in CLEAR if router.route(t).unsure]
    assert len(asked) <= 1, asked


def test_a_fraud_report_is_never_clarified_away(router: Router) -> None:
    for text in ("有人打电话说我卡有问题，让我把钱转到安全账户", "a man said he was from the bank "
                 "and I gave him the code, now money is gone"):
        r = router.route(text)
        assert "fraud_report" in [i for i, _ in r.candidates][:2], r


def _chosen(actions: list[Any]) -> str | None:
    for a in actions:
        if isinstance(a, IssueTicket | GoTerminal):
            return a.intent
        if isinstance(a, AlertStaff):
            return a.kind
    return None


def _ask(router: Router, text: str) -> tuple[DialogueState, Say]:
    state, actions = decide(DialogueState(), text, understanding(router, text), POLICY)
    assert state.clarifying and len(state.clarifying) >= 2, actions
    say = actions[0]
    assert isinstance(say, Say)
    return state, say


def test_mandarin_vague_request_then_the_second_option(router: Router) -> None:
    state, say = _ask(router, "想问问贷款的事情")
    assert say.language == "zh" and "哪一项" in say.text
    assert [k for k, _ in say.choices][: len(state.clarifying)] == list(state.clarifying)
    second = state.clarifying[1]
    after, actions = decide(state, "第二个", understanding(router, "第二个"), POLICY)
    assert not after.clarifying
    assert (after.pending or _chosen(actions)) == second, actions


def test_mandarin_vague_request_then_the_business_by_name(router: Router) -> None:
    state, _ = _ask(router, "想问问贷款的事情")
    assert "mortgage" in state.clarifying, state.clarifying
    after, actions = decide(state, "房贷", understanding(router, "房贷"), POLICY)
    assert (after.pending or _chosen(actions)) == "mortgage", actions


def test_english_vague_request_then_the_option_by_its_words(router: Router) -> None:
    state, say = _ask(router, "I have a question about a loan")
    assert say.language == "en" and "1." in say.text
    assert "mortgage" in state.clarifying, state.clarifying
    reply = "the home loan"
    after, actions = decide(state, reply, understanding(router, reply), POLICY)
    assert (after.pending or _chosen(actions)) == "mortgage", actions


def test_english_vague_request_then_the_first_one(router: Router) -> None:
    state, say = _ask(router, "I have a question about a loan")
    assert say.language == "en"
    first = state.clarifying[0]
    after, actions = decide(state, "the first one", understanding(router, "the first one"), POLICY)
    assert (after.pending or _chosen(actions)) == first, actions


def test_the_question_names_the_neighbours_readings(router: Router) -> None:
    """router_vague_names.py: three readings named, the router's best among them."""
    names = router.head.names
    assert names is not None and names.named == 3
    for text, plausible in VAGUE:
        r = router.route(text)
        probs = router.probabilities(text)[: len(router.intents)]
        best = router.intents[int(probs.argmax())]
        named = [i for i, _ in r.candidates]
        assert len(named) == 3 and "out_of_scope" not in named, named
        assert best in named or best not in plausible, (best, named)


def test_mandarin_vague_card_request_then_the_business_by_name(router: Router) -> None:
    state, say = _ask(router, "我卡出问题了")
    assert say.language == "zh" and "密码" in say.text, say.text
    assert "password_reset" in state.clarifying, state.clarifying
    after, actions = decide(state, "密码", understanding(router, "密码"), POLICY)
    assert not after.clarifying
    assert (after.pending or _chosen(actions)) == "password_reset", actions


def test_mandarin_vague_card_request_then_the_third_option(router: Router) -> None:
    state, _ = _ask(router, "我卡出问题了")
    assert len(state.clarifying) == 3
    after, actions = decide(state, "第三个", understanding(router, "第三个"), POLICY)
    assert (after.pending or _chosen(actions)) == state.clarifying[2], actions


def test_english_vague_card_request_then_the_password_one(router: Router) -> None:
    state, say = _ask(router, "my bank card isn't working")
    assert say.language == "en" and "3." in say.text, say.text
    assert "password_reset" in state.clarifying, state.clarifying
    reply = "the password one"
    after, actions = decide(state, reply, understanding(router, reply), POLICY)
    assert (after.pending or _chosen(actions)) == "password_reset", actions


def test_english_vague_account_request_then_the_second_one(router: Router) -> None:
    state, say = _ask(router, "something is wrong with my account")
    assert say.language == "en"
    second = state.clarifying[1]
    after, actions = decide(state, "the second one", understanding(router, "the second one"),
                            POLICY)
    assert (after.pending or _chosen(actions)) == second, actions


def test_mandarin_vague_lost_card_then_report_the_loss(router: Router) -> None:
    state, say = _ask(router, "卡找不到了")
    assert say.language == "zh" and "card_lost" in state.clarifying, state.clarifying
    after, actions = decide(state, "挂失", understanding(router, "挂失"), POLICY)
    assert not after.clarifying
    assert (after.pending or _chosen(actions)) == "card_lost", actions


def test_english_vague_payment_then_the_card_one(router: Router) -> None:
    state, say = _ask(router, "I'd like to pay something")
    assert say.language == "en" and "credit_card" in state.clarifying, state.clarifying
    reply = "the card one"
    after, actions = decide(state, reply, understanding(router, reply), POLICY)
    assert (after.pending or _chosen(actions)) == "credit_card", actions
