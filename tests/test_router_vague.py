"""The dedicated vague decision (router_vague.py): its maths on plain values, its file form."""

from __future__ import annotations

import io

import numpy as np
import pytest
from scipy import sparse

from intents.understanding.router_vague import (
    VagueHead,
    fit_vague,
    name_vague,
    summary,
    threshold_for,
    vague_arrays,
    vague_from,
)


def test_threshold_asks_about_at_most_the_budget_of_clear_rows() -> None:
    clear = np.linspace(-3.0, 1.0, 200)
    for rate in (0.0, 0.01, 0.03, 0.05, 0.2):
        t = threshold_for(clear, rate)
        assert float((clear >= t).mean()) <= rate + 1e-12
    assert threshold_for(clear, 0.05) < threshold_for(clear, 0.01)  # a bigger budget asks more


def test_summary_reads_top_margin_entropy_and_the_ambiguous_class() -> None:
    sure = summary(np.array([0.9, 0.05, 0.05]), 0.1)[0]
    split = summary(np.array([0.45, 0.45, 0.1]), 0.6)[0]
    assert sure[0] == pytest.approx(0.9) and sure[1] == pytest.approx(0.85)
    assert split[1] == pytest.approx(0.0) and split[2] > sure[2] and split[3] == 0.6
    masked = summary(np.array([0.6, 0.0, 0.2]), 0.2)[0]  # the masked class renormalised away
    assert masked[0] == pytest.approx(0.75)


def test_a_vague_question_names_the_best_readings_never_out_of_scope() -> None:
    intents = ("card_lost", "out_of_scope", "card_replace", "password_reset")
    probs = np.array([0.2, 0.5, 0.25, 0.05])
    named = name_vague(probs, intents, 3)
    assert [i for i, _ in named] == ["card_replace", "card_lost", "password_reset"]
    assert len(name_vague(probs, intents, 2)) == 2


def _toy() -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    """Feature 0 marks vague rows, 1-4 clear ones; the summary agrees with the words."""
    rng = np.random.default_rng(3)
    n_clear, n_vague = 400, 60
    x = np.zeros((n_clear + n_vague, 5))
    x[np.arange(n_clear), 1 + rng.integers(0, 4, n_clear)] = 1.0
    x[n_clear:, 0] = 1.0
    x[n_clear:, 1 + rng.integers(0, 4, n_vague)] = 0.5
    y = np.r_[np.zeros(n_clear), np.ones(n_vague)].astype(np.int64)
    top1 = np.where(y == 1, rng.uniform(0.3, 0.6, len(y)), rng.uniform(0.5, 0.99, len(y)))
    summ = np.column_stack([top1, top1 / 2, 1.0 - top1, y * 0.3])
    return sparse.csr_matrix(x), y, summ


def test_fit_vague_separates_vague_rows_within_the_clear_budget() -> None:
    x, y, summ = _toy()
    head, oof = fit_vague(x, y, summ, max_clear_rate=0.03)
    assert float((oof["clear"] >= head.threshold).mean()) <= 0.03
    assert float((oof["vague"] >= head.threshold).mean()) >= 0.9
    word = float((x[-1] @ head.word_weights.astype(np.float64))[0]) + head.word_bias
    assert head.is_vague(word, summ[-1])
    word = float((x[0] @ head.word_weights.astype(np.float64))[0]) + head.word_bias
    assert not head.is_vague(word, summ[0])


def test_fit_vague_needs_both_kinds_of_rows() -> None:
    x, y, summ = _toy()
    with pytest.raises(ValueError, match="both"):
        fit_vague(x[:10], y[:10], summ[:10], 0.03)


def test_the_head_survives_the_npz_round_trip() -> None:
    head = VagueHead(
        np.arange(6, dtype=np.float32), -0.5, np.array([1.0, -2.0, 0.5, 0.1, 3.0]), 0.25, 1.5, 3
    )
    buf = io.BytesIO()
    np.savez_compressed(buf, allow_pickle=False, **vague_arrays(head))
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as data:
        back = vague_from(data)
    assert back is not None
    assert back.threshold == 1.5 and back.named == 3 and back.word_bias == -0.5
    assert np.array_equal(back.word_weights, head.word_weights)
    s = np.array([0.5, 0.1, 1.0, 0.2])
    assert back.score(0.3, s) == pytest.approx(head.score(0.3, s))
    assert vague_arrays(None) == {}
