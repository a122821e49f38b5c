"""Suitability: a product above the customer's assessed tolerance is never recommended; the
kiosk says why and offers the assessment; an unknown tolerance means the assessment first.
Every pair of levels (R1-R5 x C1-C5) and the unknown tolerance, in the rule and in the
dialogue policy."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from edge.branch_facts import build_policy
from edge.config import BranchConfig
from intents.dialogue.policy import DialogueState, IssueTicket, Say, Understanding, decide
from intents.guardrails.suitability import (
    Product,
    assess,
    check,
    risk_named,
    suitable_products,
    tolerance_level,
    tolerance_said,
)

POLICY = build_policy(BranchConfig())  # the sample branch's products, from config
PRODUCTS = POLICY.products
PAIRS = list(itertools.product(range(1, 6), [*range(1, 6), None]))


@pytest.mark.parametrize(("risk", "tolerance"), PAIRS)
def test_the_rule_on_every_pair_of_levels(risk: int, tolerance: int | None) -> None:
    verdict = check(risk, tolerance)
    if tolerance is None:
        assert verdict == "assessment_first"
    else:
        assert verdict == ("suitable" if risk <= tolerance else "above_tolerance")
    offered = suitable_products(PRODUCTS, tolerance)
    assert all(p.risk <= (tolerance or 0) for p in offered)


def test_levels_outside_the_scale_are_errors_not_guesses() -> None:
    with pytest.raises(ValueError):
        check(6, 3)
    with pytest.raises(ValueError):
        check(3, 0)


def test_the_products_come_from_config_with_their_levels() -> None:
    assert {p.id: p.risk for p in PRODUCTS} == {
        "cash_plus": 1,
        "secure_90": 2,
        "balanced_1y": 3,
        "growth_fund": 4,
    }
    config = BranchConfig(products=[])
    assert build_policy(config).products == ()


def u(language: str = "zh") -> Understanding:
    return Understanding("wealth_products", 0.9, ("wealth_products",), False, language)  # type: ignore[arg-type]


ASKS = {
    1: "我想买城东稳盈现金宝",
    2: "我想买安享90天",
    3: "我想买城东均衡一年",
    4: "我想买城东成长精选股票基金",
    5: "我想买R5的产品",
}


@pytest.mark.parametrize(("risk", "tolerance"), PAIRS)
def test_the_kiosk_on_every_pair_of_levels(risk: int, tolerance: int | None) -> None:
    state = DialogueState(risk_tolerance=tolerance)
    state, actions = decide(state, ASKS[risk], u(), POLICY)
    said = " ".join(a.text for a in actions if isinstance(a, Say))
    if tolerance is not None and risk <= tolerance:
        # suitable: the usual wealth flow, the counter
        assert [a.service for a in actions if isinstance(a, IssueTicket)] == ["wealth"]
        return
    assert not any(isinstance(a, IssueTicket) for a in actions)  # nothing sold or queued yet
    [say] = [a for a in actions if isinstance(a, Say)]
    assert ("assessment", "做风险评估") in say.choices
    assert f"R{risk}" in said
    if tolerance is None:
        assert "先做风险承受能力评估" in said
        return
    assert f"C{tolerance}" in said and "不能为您推荐" in said
    # only products at or below the tolerance are named as alternatives
    for product in PRODUCTS:
        assert (product.name_zh in said) == (product.risk <= tolerance) or product.risk == risk


def test_the_assessment_is_taken_at_the_wealth_counter() -> None:
    state, actions = decide(DialogueState(), "我想买城东成长精选股票基金", u(), POLICY)
    state, actions = decide(state, "做风险评估", u(), POLICY, choice="assessment")
    assert [a.service for a in actions if isinstance(a, IssueTicket)] == ["wealth"]
    assert "理财经理" in next(a.text for a in actions if isinstance(a, Say))


def test_english_and_a_tolerance_said_in_words() -> None:
    state, actions = decide(
        DialogueState(language="en"), "My risk assessment is cautious", u("en"), POLICY
    )
    assert state.risk_tolerance == 2
    state, actions = decide(state, "Can I buy the Chengdong Growth Equity Fund?", u("en"), POLICY)
    text = next(a.text for a in actions if isinstance(a, Say))
    assert "R4" in text and "C2" in text and "cannot recommend" in text
    assert "Chengdong Cash Plus (R1)" in text and "Balanced" not in text


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("我的风险评估是C3", 3),
        ("I'm C4", 4),
        ("我的测评结果是稳健型", 3),
        ("my risk profile is aggressive", 5),
        ("我想买理财", None),
        ("I want a balanced diet", None),
    ],
)
def test_tolerance_as_customers_say_it(text: str, level: int | None) -> None:
    assert tolerance_said(text) == level


def test_risk_levels_and_kiosk_codes() -> None:
    assert risk_named("R4的产品能买吗") == 4 and risk_named("四级风险的产品") == 4
    assert risk_named("a R2 product") == 2 and risk_named("我想买理财") is None
    assert tolerance_level("C3") == 3 and tolerance_level("C9") is None
    assert tolerance_level(None) is None


def test_a_product_named_by_its_alias() -> None:
    found = assess(
        (Product("x", "城东成长精选股票基金", "Growth", 4, ("成长精选",)),), "成长精选怎么样", 2
    )
    assert found is not None and found.verdict == "above_tolerance" and found.alternatives == ()


# ---------------------------------------------------------------- through the running service


async def test_the_kiosk_never_recommends_above_the_tolerance_it_was_sent(running: Any) -> None:
    from tests.test_form_conversations import Kiosk, reply

    async with Kiosk(running.url) as k:
        await k.kiosk.send(json.dumps({"type": "context", "risk_tolerance": "C2"}))
        got = await k.turn("城东成长精选股票基金能买吗")
        text = reply(got)
        assert "R4" in text and "C2" in text and "不能为您推荐" in text
        assert "城东稳盈现金宝（R1）" in text and "均衡一年" not in text
        assert "ticket" not in got
        got = await k.turn("做风险评估", "assessment")
        assert got["ticket"][0]["service"] == "wealth"


async def test_an_unknown_tolerance_means_the_assessment_first_in_english(running: Any) -> None:
    from tests.test_form_conversations import Kiosk, reply

    async with Kiosk(running.url) as k:
        got = await k.turn("I want to buy an R5 product")
        assert "risk assessment first" in reply(got) and "ticket" not in got
        assert [c["key"] for c in got["reply"][0]["choices"]] == ["assessment", "ticket"]
        got = await k.turn("My risk profile is aggressive")
        assert "C5" in reply(got) and "Chengdong Growth Equity Fund" in reply(got)
        got = await k.turn("I want to buy an R5 product")
        assert got["ticket"][0]["service"] == "wealth"  # C5: suitable, the usual wealth counter
