"""The vague decision's encoder features (router_vague_embed.py): the neighbour arithmetic on
small hand-made vectors, then the shipped router with the installed e5 copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.understanding import load_e5, onnx_folder
from intents.understanding.router import Router
from intents.understanding.router_vague_embed import (
    N_FEATURES,
    fit_embed_vague,
    raw_features,
    unit,
)

ROUTER = Path("models/router/router.npz")


def _rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two tight clusters of clear rows (intents 0 and 1) and vague rows between them."""
    rng = np.random.default_rng(0)
    a, b = np.eye(8)[0], np.eye(8)[1]
    clear = np.vstack([a + 0.05 * rng.normal(size=(30, 8)), b + 0.05 * rng.normal(size=(30, 8))])
    vague = (a + b) / 2 + 0.05 * rng.normal(size=(12, 8))
    return unit(clear), np.repeat([0, 1], 30), unit(vague)


def test_a_row_between_two_intents_has_mixed_neighbours() -> None:
    clear, y, vague = _rows()
    q = unit(np.vstack([np.eye(8)[0], (np.eye(8)[0] + np.eye(8)[1]) / 2]))
    f = raw_features(q, clear, y, vague, 2, k=10, sharpness=20.0)
    assert f.shape == (2, N_FEATURES)
    assert f[0, 1] < 0.01 and f[0, 2] > 0.99  # inside intent 0: one intent, no entropy
    assert f[1, 1] > 0.5 and f[1, 2] < 0.8  # between: both intents among the neighbours
    assert f[1, 7] > 0 > f[0, 7]  # nearer a vague row than any clear one, and the reverse


def test_leave_out_keeps_a_training_row_from_being_its_own_neighbour() -> None:
    clear, y, vague = _rows()
    with_self = raw_features(clear[:1], clear, y, vague, 2, 10, 20.0)
    without = raw_features(clear[:1], clear, y, vague, 2, 10, 20.0,
                           leave_out=(np.array([0]), np.array([0])))
    assert with_self[0, 4] == pytest.approx(1.0, abs=1e-5)
    assert without[0, 4] < with_self[0, 4]


def test_the_fitted_part_scores_vague_rows_above_clear_ones() -> None:
    clear, y, vague = _rows()
    folds = np.arange(len(clear) + len(vague)) % 3
    part, oof = fit_embed_vague(clear, y, vague, 2, folds)
    assert oof.shape == (len(clear) + len(vague), N_FEATURES)
    assert np.allclose(oof.mean(axis=0), 0.0, atol=1e-6)  # standardised
    assert oof[len(clear):, 0].min() > oof[: len(clear), 0].max()  # out-of-fold, still apart
    probe = unit(np.vstack([np.eye(8)[1], np.eye(8)[0] + np.eye(8)[1]]))
    score = part.features(probe)[:, 0]
    assert score[1] > score[0]


@pytest.fixture(scope="module")
def shipped() -> Router:
    """The router install.sh trained, with the e5 copy the service routes with."""
    assert ROUTER.exists(), "run scripts/install.sh first: it trains models/router/router.npz"
    encoder = load_e5(onnx_dir=onnx_folder(ROUTER))
    assert encoder is not None
    return Router.load(ROUTER, encoder=encoder)


# written for this test (none is a row of intents/data), like tests/test_vague_clarify.py's
VAGUE = [
    ("想问问贷款的事情", {"personal_loan", "mortgage", "small_business_loan"}),
    ("我卡出问题了", {"card_replace", "password_reset", "account_frozen", "card_lost"}),
    ("my bank card isn't working", {"card_replace", "password_reset", "account_frozen"}),
    ("something is wrong with my account",
     {"account_frozen", "password_reset", "account_info_change", "mobile_banking"}),
]
CLEAR = [
    "我的银行卡丢了要挂失",
    "我要给我儿子转账",
    "我想存三年定期",
    "帮我叫一下大堂经理",
    "我想取钱",
    "我要取五千块钱",
    "我想查一下余额",
    "我要办一张信用卡",
    "I want to withdraw cash from my account",
    "I need to print my bank statement",
    "what are your opening hours",
    "I'd like to apply for a credit card",
]


def test_the_shipped_router_reads_the_encoder_for_vague_requests(shipped: Router) -> None:
    head = shipped.head.vague
    assert head is not None and head.embed is not None and head.fallback is not None
    for text, plausible in VAGUE:
        r = shipped.route(text)
        named = [i for i, _ in r.candidates][:4]
        assert r.unsure and len(set(named) & plausible) >= 2, (text, named)
    asked = [t for t in CLEAR if shipped.route(t).unsure]
    assert len(asked) <= 1, asked


def test_without_the_encoder_the_fallback_head_decides(shipped: Router) -> None:
    alone = Router(shipped.head, lambda *_: {})  # no encoder: the n-gram head's own decision
    assert alone._vague_head() is shipped.head.vague.fallback  # type: ignore[union-attr]
    assert alone.route("想问问贷款的事情").unsure
    assert not alone.route("我要给我儿子转账").unsure
