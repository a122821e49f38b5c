"""Neighbour naming (router_vague_names.py): its maths on plain values and its file form."""

from __future__ import annotations

import io

import numpy as np
import pytest
from scipy import sparse

from intents.understanding.router_vague_names import NeighbourNames, names_arrays, names_from

INTENTS = ("card_lost", "card_replace", "fraud_report", "out_of_scope", "password_reset")


def _unit(rows: list[list[float]]) -> np.ndarray:
    x = np.array(rows, dtype=np.float64)
    out: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def _head(**knobs: object) -> tuple[NeighbourNames, np.ndarray]:
    """Four vague rows over six features; rows 0-1 list the card intents, 2-3 password+fraud."""
    x = _unit([[1, 1, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0], [0, 0, 0, 1, 0, 1]])
    listed = np.array(
        [[1, 1, 0, 0, 0], [0, 1, 0, 0, 1], [0, 0, 1, 0, 1], [0, 0, 1, 0, 1]], dtype=np.uint8
    )
    return NeighbourNames.build(sparse.csr_matrix(x), listed, **knobs), x


def _query(dense: list[float]) -> tuple[np.ndarray, np.ndarray]:
    v = np.array(dense, dtype=np.float64)
    v /= np.linalg.norm(v)
    ids = np.flatnonzero(v).astype(np.int64)
    return ids, v[ids]


def test_similarities_are_the_cosines_of_the_dense_rows() -> None:
    head, x = _head()
    queries: list[list[float]] = [[1, 0, 0, 0, 0, 0], [0.5, 1, 0, 2, 0, 0], [0, 0, 0, 0, 0, 1]]
    for dense in queries:
        ids, vals = _query(dense)
        full = np.zeros(6)
        full[ids] = vals
        assert head.similarities(ids, vals) == pytest.approx(x @ full)


def test_unknown_features_and_an_empty_query_give_zero_similarity() -> None:
    head, _ = _head()
    assert not head.similarities(np.array([9, 12], dtype=np.int64), np.array([0.6, 0.8])).any()
    assert not head.similarities(np.zeros(0, dtype=np.int64), np.zeros(0)).any()


def test_votes_weigh_the_k_nearest_rows_by_similarity() -> None:
    head, _ = _head(k=2, power=1.0)
    sims = np.array([0.9, 0.3, 0.1, 0.0])
    votes = head.votes(sims)  # rows 0 and 1 only
    assert votes[1] == pytest.approx(1.0)  # card_replace: listed by both
    assert votes[0] == pytest.approx(0.75) and votes[4] == pytest.approx(0.25)
    assert votes[2] == 0.0
    assert not head.votes(np.zeros(4)).any()


def test_the_neighbours_bring_the_second_reading_the_router_lacks() -> None:
    head, _ = _head(k=2, weight=0.3, named=2)
    probs = np.array([0.02, 0.9, 0.02, 0.04, 0.02])  # a confident card_replace, nothing else
    ids, vals = _query([1, 1, 0, 0, 0, 0])
    named = [i for i, _ in head.name(probs, INTENTS, head.similarities(ids, vals))]
    assert named == ["card_replace", "card_lost"]


def test_out_of_scope_is_named_only_when_nothing_else_scores() -> None:
    head, _ = _head()
    probs = np.array([0.1, 0.0, 0.0, 0.8, 0.1])
    named = [i for i, _ in head.name(probs, INTENTS, np.zeros(4))]
    assert "out_of_scope" not in named and named[0] in ("card_lost", "password_reset")
    only = np.array([0.0, 0.0, 0.0, 1.0, 0.0])
    assert [i for i, _ in head.name(only, INTENTS, np.zeros(4))] == ["out_of_scope"]


def test_a_fraud_report_among_the_router_candidates_stays_named() -> None:
    head, _ = _head(k=2, named=2)
    probs = np.array([0.3, 0.5, 0.05, 0.0, 0.15])
    sims = np.array([0.9, 0.8, 0.0, 0.0])
    plain = [i for i, _ in head.name(probs, INTENTS, sims)]
    assert "fraud_report" not in plain
    kept = [i for i, _ in head.name(probs, INTENTS, sims, keep=["card_replace", "fraud_report"])]
    assert len(kept) == 2 and kept[-1] == "fraud_report" and kept[0] == plain[0]


def test_the_neighbours_survive_the_npz_round_trip() -> None:
    head, _ = _head(k=3, power=1.5, weight=0.4, named=3, min_sim=0.25)
    buf = io.BytesIO()
    np.savez_compressed(buf, allow_pickle=False, **names_arrays(head))
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as data:
        back = names_from(data)
    assert back is not None
    assert (back.k, back.power, back.weight, back.named, back.min_sim) == (3, 1.5, 0.4, 3, 0.25)
    ids, vals = _query([0, 1, 0, 1, 0, 0])
    assert back.similarities(ids, vals) == pytest.approx(head.similarities(ids, vals))
    assert np.array_equal(back.listed, head.listed)
    assert names_arrays(None) == {}
