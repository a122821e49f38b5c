"""Routing what Whisper hears: homophones, spoken phrasing, banking-sounding and fraud turns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from intents.data import AMBIGUOUS_TSV, TRAIN_TSV, load_labelled
from intents.understanding.evaluate import read_ambiguous, read_labelled
from intents.understanding.router import DEFAULT_CONFIG, Router
from intents.understanding.router_augment import (
    HELDOUT,
    TRAIN,
    augment,
    mishear,
    sound_pool,
    spoken_variant,
)
from intents.understanding.router_guard import banking_lexicon, guard
from intents.understanding.router_sounds import fold, sound_features, syllables

# the module's router trains once, in whichever test a worker runs first
pytestmark = pytest.mark.timeout(600)


def test_folding_merges_what_accents_and_recognition_confuse() -> None:
    assert fold("shi") == fold("si") and fold("zhang") == fold("zan")
    assert fold("neng") == fold("len") and fold("qing") == fold("qin")
    assert fold("dao") != fold("tao")  # voicing is heard, it is not folded
    assert syllables("盗刷") == syllables("刀刷") == ["dao", "shua"]


def test_a_homophone_slip_keeps_its_sound_features() -> None:
    said, heard = sound_features("我要贷款", False), sound_features("我要待款", False)
    assert "qdai kuan" in said and "qdai kuan" in heard
    assert set(sound_features("社保", True)) != set(sound_features("说宝", True))  # not a homophone


@pytest.mark.parametrize(
    ("heard", "intent"),
    [
        ("我要交酒店肥", "utility_payment"),
        ("我的卡被刀刷了", "fraud_report"),
        ("代宽", "personal_loan"),
    ],
)
def test_the_lexicon_hears_banking_words_under_the_wrong_characters(
    heard: str, intent: str
) -> None:
    assert intent in banking_lexicon().intents(heard)


@pytest.mark.parametrize("text", ["今天天气怎么样", "附近有什么好吃的", "帮我叫个外卖"])
def test_the_lexicon_hears_nothing_in_chatter(text: str) -> None:
    assert banking_lexicon().intents(text) == []


def test_a_confident_refusal_that_sounds_like_banking_is_asked_about() -> None:
    ruled = guard(
        "我要交酒店肥",
        [("out_of_scope", 0.97), ("transfer", 0.01)],
        False,
        0.0,
        banking_lexicon(),
        0.3,
    )
    assert ruled.unsure and ruled.rule == "heard_banking"
    assert [i for i, _ in ruled.candidates][:1] == ["utility_payment"]
    assert "transfer" in [i for i, _ in ruled.candidates]


def test_chatter_is_still_refused() -> None:
    cands = [("out_of_scope", 0.97), ("branch_info", 0.01)]
    ruled = guard("今天天气怎么样", cands, False, 0.0, banking_lexicon(), 0.3)
    assert not ruled.unsure and ruled.rule is None and ruled.candidates == cands


@pytest.mark.parametrize(("text", "p_fraud"), [("我的卡被刀刷了", 0.01), ("卡里的钱没了", 0.35)])
def test_a_possible_fraud_report_is_never_routed_away_silently(text: str, p_fraud: float) -> None:
    cands = [("card_replace", 0.9), ("card_lost", 0.05)]
    ruled = guard(text, cands, False, p_fraud, banking_lexicon(), 0.3)
    assert ruled.unsure and ruled.rule == "maybe_fraud"
    assert [i for i, _ in ruled.candidates][:2] == ["card_replace", "fraud_report"]


def test_a_clear_non_fraud_answer_is_left_alone() -> None:
    ruled = guard("我要补卡", [("card_replace", 0.9)], False, 0.01, banking_lexicon(), 0.3)
    assert not ruled.unsure and ruled.rule is None


def test_spoken_variants_are_seeded_by_the_text_and_use_disjoint_phrases() -> None:
    rows = load_labelled(TRAIN_TSV)[:300]
    assert augment(rows) == augment(list(rows))
    assert all(v != rows[i][1] and intent == rows[i][0] for i, intent, v in augment(rows))
    assert not set(TRAIN.zh_preamble) & set(HELDOUT.zh_preamble)
    assert not set(TRAIN.en_filler) & set(HELDOUT.en_filler)
    assert not set(TRAIN.code_switch) & set(HELDOUT.code_switch)
    heard = spoken_variant("你好我想查一下余额", HELDOUT, "val")
    assert not any(p in heard for p in TRAIN.zh_preamble if len(p) > 2)


def test_mishearing_swaps_characters_for_the_same_sound() -> None:
    texts = [t for _, t in load_labelled(TRAIN_TSV)]
    pools = (sound_pool(texts), sound_pool(texts, folded=True))
    text = "我想把这张卡注销掉然后再开一个新的账户"
    heard = mishear(text, pools, rate=0.5, near=0.0)
    assert heard != text and len(heard) == len(text)
    assert syllables(heard) == syllables(text)
    assert mishear(text, pools, rate=0.5, near=0.0) == heard


@pytest.fixture(scope="module")
def router() -> Router:
    """The shipped recipe (folded pinyin, spoken variants), cross-fitted on 2 folds for speed."""
    cfg = replace(DEFAULT_CONFIG, folds=2)
    return Router.train(read_labelled(TRAIN_TSV), cfg, read_ambiguous(AMBIGUOUS_TSV))


@pytest.mark.parametrize(
    ("heard", "intent"),
    [("我要交酒店肥", "utility_payment"), ("我想申请个人待款", "personal_loan")],
)
def test_the_router_asks_about_misheard_banking_instead_of_refusing(
    router: Router, heard: str, intent: str
) -> None:
    r = router.route(heard)
    assert r.intent == intent or (r.unsure and intent in [i for i, _ in r.candidates]), r


def test_the_router_never_routes_a_misheard_fraud_report_away(router: Router) -> None:
    r = router.route("我的卡被刀刷了")
    named = [i for i, _ in r.candidates]
    assert r.intent == "fraud_report" or (r.unsure and "fraud_report" in named[:4]), r


def test_the_router_still_refuses_plain_chatter(router: Router) -> None:
    r = router.route("明天天气怎么样")
    assert r.intent == "out_of_scope" and not r.unsure


def test_the_cascade_encoder_keeps_repeated_turns() -> None:
    import numpy as np

    from edge.understanding import RecentTurns

    calls: list[list[str]] = []

    class Counting:
        def embed(self, texts: Sequence[str]) -> np.ndarray:
            calls.append(list(texts))
            return np.ones((len(texts), 4), dtype=np.float32) * len(calls)

    enc = RecentTurns(Counting(), size=2)
    first = enc.embed(["取号"])
    assert np.array_equal(enc.embed(["取号"]), first) and len(calls) == 1
    enc.embed(["是的"])
    enc.embed(["我要取钱"])  # the oldest ("取号") leaves
    enc.embed(["取号"])
    assert len(calls) == 4
    enc.embed(["a", "b"])  # batches (training) are never kept
    assert calls[-1] == ["a", "b"]
