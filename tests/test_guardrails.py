"""The guardrails' rules as plain values: large-value and structuring thresholds (property
tested), the scam table (misses and false alarms reported), the one verdict API."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intents.guardrails.large_value import (
    LargeValueRules,
    Transaction,
    evaluate,
    threshold_cny,
    to_cny,
)
from intents.guardrails.scam import RULES, detect
from intents.guardrails.verdict import (
    GuardrailRules,
    assess_answer,
    assess_turn,
    describe_flag,
    mask,
)

TABLE = Path(__file__).parent / "fixtures" / "scam_table.tsv"
RULES_DEFAULT = LargeValueRules()
GUARD = GuardrailRules()


def scam_table() -> list[tuple[str, str, str]]:
    """(label, lang, text) rows of the scam table."""
    rows = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, lang, text = line.split("\t")
            rows.append((label, lang, text))
    return rows


# ---------------------------------------------------------------- the scam table


def test_the_table_is_big_enough_in_both_languages() -> None:
    rows = scam_table()
    count = {
        (label, lang): sum(1 for r in rows if r[:2] == (label, lang))
        for label in ("scam", "innocent")
        for lang in ("zh", "en")
    }
    assert count["scam", "zh"] >= 60 and count["scam", "en"] >= 20
    scams = count["scam", "zh"] + count["scam", "en"]
    assert count["innocent", "zh"] + count["innocent", "en"] >= scams
    assert len({r[2] for r in rows}) == len(rows)  # no row twice


def test_no_miss_and_at_most_five_percent_false_alarms_on_the_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = scam_table()
    misses = [text for label, _, text in rows if label == "scam" and detect(text) is None]
    alarms = [
        (text, f.kind)
        for label, _, text in rows
        if label == "innocent" and (f := detect(text)) is not None
    ]
    innocent = sum(1 for r in rows if r[0] == "innocent")
    with capsys.disabled():
        print(
            f"\nscam table: {len(misses)} misses of {len(rows) - innocent}, "
            f"{len(alarms)} false alarms of {innocent}"
        )
        for text in misses:
            print(f"  MISS  {text}")
        for text, kind in alarms:
            print(f"  FALSE {kind}: {text}")
    assert misses == []
    assert len(alarms) <= 0.05 * innocent


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("他让我把钱转到安全账户", "safe_account"),
        ("a caller asked me to read out the verification code", "code_request"),
        ("说我涉嫌洗钱的警官让我转账", "impersonation"),
        ("投资群里的老师说稳赚，让我充值", "investment"),
        ("快递理赔要我先转钱，客服打电话说的", "refund"),
        ("网上认识的男朋友让我汇钱", "recent_acquaintance"),
    ],
)
def test_each_pattern_names_its_kind(text: str, kind: str) -> None:
    found = detect(text)
    assert found is not None and found.kind == kind


def test_a_part_alone_is_not_a_scam() -> None:
    # who without what, what without who: ordinary requests
    for text in (
        "我是警察，来开户",
        "我要转账",
        "验证码收不到",
        "I want to transfer money",
        "my boyfriend and I want a joint account",
        "理财收益多少",
    ):
        assert detect(text) is None, text


def test_every_rule_is_reached_by_the_table() -> None:
    kinds = {
        f.kind
        for label, _, text in scam_table()
        if label == "scam" and (f := detect(text)) is not None
    }
    assert kinds >= {r.kind for r in RULES} - {"reported"}


# ---------------------------------------------------------------- large value


@given(st.integers(min_value=1, max_value=10_000_000))
def test_one_cash_request_is_large_exactly_from_the_threshold(amount: int) -> None:
    found = evaluate(Transaction("cash", Decimal(amount)), (), RULES_DEFAULT)
    assert (found is not None) == (amount >= 50_000)
    if found is not None:
        assert found.rule == "large_cash" and found.basis.startswith("PBoC Order [2016] No. 3")


@given(
    st.sampled_from(["cash", "transfer", "cross_border"]),
    st.lists(st.integers(min_value=1, max_value=600_000), max_size=5),
    st.integers(min_value=1, max_value=600_000),
)
def test_the_visit_total_decides_and_earlier_requests_only_add(
    kind: str, earlier: list[int], amount: int
) -> None:
    visit = tuple(Transaction(kind, Decimal(a)) for a in earlier)  # type: ignore[arg-type]
    request = Transaction(kind, Decimal(amount))  # type: ignore[arg-type]
    threshold = threshold_cny(request.kind, "CNY", RULES_DEFAULT)
    found = evaluate(request, visit, RULES_DEFAULT)
    total = sum(earlier) + amount
    assert (found is not None) == (total >= threshold)
    alone = evaluate(request, (), RULES_DEFAULT)
    assert alone is None or found is not None  # history never clears a finding


@given(
    st.integers(min_value=40_000, max_value=49_999), st.integers(min_value=40_000, max_value=49_999)
)
def test_two_requests_just_under_the_cash_threshold_are_splitting(a: int, b: int) -> None:
    found = evaluate(
        Transaction("cash", Decimal(b)), (Transaction("cash", Decimal(a)),), RULES_DEFAULT
    )
    assert found is not None and found.rule == "splitting" and found.requests == 2
    assert found.total_cny == a + b


def test_small_then_large_sum_is_cumulative_not_splitting() -> None:
    found = evaluate(
        Transaction("cash", Decimal(45_000)), (Transaction("cash", Decimal(6_000)),), RULES_DEFAULT
    )
    assert found is not None and found.rule == "large_cash" and found.total_cny == 51_000


def test_other_kinds_do_not_add_up() -> None:
    visit = (Transaction("transfer", Decimal(49_000)),)
    assert evaluate(Transaction("cash", Decimal(49_000)), visit, RULES_DEFAULT) is None


@pytest.mark.parametrize(
    ("kind", "amount", "currency", "large"),
    [
        ("cross_border", 199_999, "CNY", False),
        ("cross_border", 200_000, "CNY", True),
        ("cross_border", 9_999, "USD", False),
        ("cross_border", 10_000, "USD", True),
        ("cross_border", 9_300, "EUR", True),  # 9,300 EUR = 71,610 CNY > 10,000 USD (71,000)
        ("transfer", 499_999, "CNY", False),
        ("transfer", 500_000, "CNY", True),
        ("transfer", 100_000, "USD", True),
        ("cash", 10_000, "USD", True),
        ("cash", 9_000, "USD", False),
        ("cash", 10_000, "XYZ", False),  # no rate: staff decide
    ],
)
def test_thresholds_and_the_rate_table(kind: str, amount: int, currency: str, large: bool) -> None:
    found = evaluate(
        Transaction(kind, Decimal(amount), currency),  # type: ignore[arg-type]
        (),
        RULES_DEFAULT,
    )
    assert (found is not None) == large


def test_thresholds_are_configurable() -> None:
    strict = LargeValueRules(
        cash_cny=Decimal(30_000), rates_to_cny={"CNY": Decimal(1), "USD": Decimal(8)}
    )
    assert evaluate(Transaction("cash", Decimal(30_000)), (), strict) is not None
    assert to_cny(Decimal(10), "usd", strict.rates_to_cny) == Decimal(80)


# ---------------------------------------------------------------- the verdict API


def test_one_verdict_for_a_turn() -> None:
    v = assess_turn("我要取六万", "cash_withdrawal", 0.9, "60000", None, (), GUARD)
    assert v.large_value is not None and v.scam is None and not v.ok
    assert v.flags == ("risk:large_cash:60000",)
    s = assess_turn("有人让我转到安全账户", "transfer", 0.9, None, None, (), GUARD)
    assert s.scam is not None and s.flags == ("risk:scam:safe_account",)
    r = assess_turn("我被骗了", "fraud_report", 0.9, None, None, (), GUARD)
    assert r.scam is not None and r.scam.source == "router" and r.scam.kind == "reported"
    weak = assess_turn("嗯", "fraud_report", 0.2, None, None, (), GUARD)
    assert weak.ok  # the router's weak guess is asked about, not acted on
    off = assess_turn(
        "有人让我转到安全账户", "transfer", 0.9, None, None, (), GuardrailRules(scam_rules=False)
    )
    assert off.ok


def test_answers_and_masking_go_through_the_same_module() -> None:
    assert not assess_answer("这款产品保本保收益", ["产品说明"]).ok
    assert assess_answer("利率为1.5%", ["一年期利率1.5%"]).ok
    assert "13812345678" not in mask("我的电话13812345678")


def test_flags_read_as_staff_read_them() -> None:
    described = describe_flag("risk:scam:safe_account")
    assert described is not None and "安全账户" in described[2]
    large = describe_flag("risk:splitting:98000")
    assert large is not None and "98000" in large[2] and "拆分" in large[2]
    assert describe_flag("elderly") is None


def test_a_rule_evaluation_takes_well_under_a_millisecond() -> None:
    texts = [text for _, _, text in scam_table()]
    started = time.thread_time()  # CPU time: the rules' cost, not the 2-core box's load
    for text in texts:
        assess_turn(
            text,
            "transfer",
            0.9,
            "49000",
            "CNY",
            (Transaction("transfer", Decimal(45_000)),),
            GUARD,
        )
    per_turn_ms = (time.thread_time() - started) * 1000 / len(texts)
    assert per_turn_ms < 1.0, per_turn_ms
