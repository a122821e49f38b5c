"""The intent data is a contract for training and evaluation: check its shape, not its taste."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from intents.data import (
    AMBIGUOUS_TEST_TSV,
    AMBIGUOUS_TSV,
    CLARIFY_TSV,
    TEST_TSV,
    TRAIN_TSV,
    lang_of,
    load_ambiguous,
    load_clarify,
    load_labelled,
)
from intents.data.split import build, hold_out, holdout_size
from intents.understanding.catalog import INTENT_IDS

MIN_ROWS = {"zh": 60, "en": 25}


def _norm(text: str) -> str:
    """Compare texts the way a model sees them: no case, spaces or punctuation."""
    return re.sub(r"[\W_]+", "", text.casefold())


@pytest.fixture(scope="module")
def train() -> list[tuple[str, str]]:
    return load_labelled(TRAIN_TSV)


@pytest.fixture(scope="module")
def test() -> list[tuple[str, str]]:
    return load_labelled(TEST_TSV)


@pytest.fixture(scope="module")
def ambiguous() -> list[tuple[str, tuple[str, ...]]]:
    return load_ambiguous(AMBIGUOUS_TSV) + load_ambiguous(AMBIGUOUS_TEST_TSV)


def test_lang_rule() -> None:
    assert lang_of("my U盾 is broken") == "zh"
    assert lang_of("ATM ate my card!") == "en"


def test_hold_out_is_twenty_percent_and_stable() -> None:
    texts = [f"row {n}" for n in range(37)]
    held = hold_out(texts)
    assert len(held) == holdout_size(37) == 7
    assert hold_out(list(reversed(texts))) == held
    assert holdout_size(3) == 1 and holdout_size(2) == 0


def test_outputs_match_sources() -> None:
    stale = [p.name for p, c in build().items() if p.read_text(encoding="utf-8") != c]
    assert not stale, f"run python -m intents.data.split; stale: {stale}"


@pytest.mark.parametrize("intent", INTENT_IDS)
def test_every_intent_has_enough_rows(
    intent: str, train: list[tuple[str, str]], test: list[tuple[str, str]]
) -> None:
    langs = Counter(lang_of(t) for i, t in train + test if i == intent)
    for lang, least in MIN_ROWS.items():
        assert langs[lang] >= least, f"{intent}: {langs[lang]} {lang} rows, need {least}"


def test_only_known_intents(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> None:
    assert {i for i, _ in train + test} <= set(INTENT_IDS)


def test_no_duplicate_texts(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> None:
    seen = Counter(_norm(t) for _, t in train + test)
    dupes = [t for t, n in seen.items() if n > 1]
    assert not dupes, f"duplicate texts: {dupes[:10]}"


def test_splits_are_disjoint(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> None:
    assert not {_norm(t) for _, t in train} & {_norm(t) for _, t in test}


def test_test_share_per_group(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> None:
    def groups(rows: list[tuple[str, str]]) -> Counter[tuple[str, str]]:
        return Counter((i, lang_of(t)) for i, t in rows)

    n_train, n_test = groups(train), groups(test)
    for key in n_train | n_test:
        total = n_train[key] + n_test[key]
        assert abs(n_test[key] - 0.2 * total) <= 1, f"{key}: {n_test[key]} of {total} held out"


def test_ambiguous_rows(
    ambiguous: list[tuple[str, tuple[str, ...]]],
    train: list[tuple[str, str]],
    test: list[tuple[str, str]],
) -> None:
    assert len(ambiguous) >= 60
    assert {lang_of(t) for t, _ in ambiguous} == {"zh", "en"}
    labelled = {_norm(t) for _, t in train + test}
    for text, cands in ambiguous:
        assert 2 <= len(cands) <= 4 and len(set(cands)) == len(cands), text
        assert set(cands) <= set(INTENT_IDS), f"{text}: unknown id in {cands}"
        assert _norm(text) not in labelled, f"{text!r} is also labelled with one intent"
    assert len({_norm(t) for t, _ in ambiguous}) == len(ambiguous)
    held = load_ambiguous(AMBIGUOUS_TEST_TSV)
    assert abs(len(held) - 0.2 * len(ambiguous)) <= 2


def test_clarify_replies() -> None:
    rows = load_clarify(CLARIFY_TSV)
    assert len(rows) >= 50
    assert {lang_of(reply) for _, reply, _ in rows if not reply.isdigit()} == {"zh", "en"}
    for cands, reply, expected in rows:
        assert 2 <= len(cands) <= 4 and set(cands) <= set(INTENT_IDS), reply
        assert expected in cands, f"{reply!r}: {expected} was not offered"


# intents.md v1.1 "Decisions on boundary cases": a row matching a pattern must carry one of these
BOUNDARY_RULES = (
    (r"结构性存款|structured deposit", {"wealth_products"}),
    (r"质押|borrow against|pledge", {"personal_loan", "small_business_loan"}),
    (
        r"汇.{0,8}(香港|澳门|台湾)|(send|wire|remit)\w* .{0,20}(hong kong|macau|taiwan)",
        {"international_remittance"},
    ),
    (r"社保卡.{0,6}密码|social security card pin", {"social_security"}),
    (r"充电器|充电宝|charge my phone|phone charger|wifi", {"branch_info"}),
    (r"跨行取款手续费|withdrawing from another bank", {"cash_withdrawal"}),
    (r"企业网银|对公的|公司账户的|从公司账户|company's online banking", {"corporate_account"}),
    (r"^(请|帮我)?冻结我的卡|freeze my card|block my (card|passbook)", {"card_lost"}),
)


@pytest.mark.parametrize(("pattern", "allowed"), BOUNDARY_RULES)
def test_boundary_decisions_are_labelled_as_settled(
    pattern: str,
    allowed: set[str],
    train: list[tuple[str, str]],
    test: list[tuple[str, str]],
) -> None:
    rx = re.compile(pattern, re.IGNORECASE)
    hits = [(i, t) for i, t in train + test if rx.search(t) and not t.startswith("企业网银不是")]
    assert hits, f"no row states the decision {pattern!r}"
    wrong = [(i, t) for i, t in hits if i not in allowed]
    assert not wrong, f"against intents.md v1.1: {wrong[:5]}"


def test_settled_cases_are_not_left_ambiguous(
    ambiguous: list[tuple[str, tuple[str, ...]]],
) -> None:
    """A vague row never offers account_frozen for blocking one's own card, nor a settled case."""
    settled = re.compile(r"社保卡.{0,6}密码|密码.{0,6}社保卡|social security card|香港|hong kong")
    for text, cands in ambiguous:
        assert not ({"card_lost", "account_frozen"} <= set(cands)), text
        assert not settled.search(text.lower()), f"{text!r} is settled by intents.md v1.1"


def test_training_only_vague_rows_are_valid_and_new(
    ambiguous: list[tuple[str, tuple[str, ...]]],
    train: list[tuple[str, str]],
    test: list[tuple[str, str]],
) -> None:
    """ambiguous_more.tsv (issue 21): both languages, known ids, no row seen anywhere else."""
    from intents.data import AMBIGUOUS_MORE_TSV, load_ambiguous_training

    more = load_ambiguous(AMBIGUOUS_MORE_TSV)
    assert len(more) >= 100 and {lang_of(t) for t, _ in more} == {"zh", "en"}
    elsewhere = {_norm(t) for _, t in train + test} | {_norm(t) for t, _ in ambiguous}
    for text, cands in more:
        assert 2 <= len(cands) <= 4 and len(set(cands)) == len(cands), text
        assert set(cands) <= set(INTENT_IDS), f"{text}: unknown id in {cands}"
        assert _norm(text) not in elsewhere, f"{text!r} is already in the split data"
    assert len({_norm(t) for t, _ in more}) == len(more)
    assert load_ambiguous_training()[-len(more):] == more
