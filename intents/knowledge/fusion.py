"""Reciprocal-rank fusion: combine rankings whose scores live on different scales."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

RRF_K: Final = 60  # Cormack et al. 2009; damps the weight of the very top ranks


def rank_by_score(scores: Sequence[float], allowed: Sequence[bool], limit: int,
                  positive_only: bool) -> list[int]:
    """Indices of the best `limit` allowed items, best first; ties keep index order."""
    order = sorted(
        (i for i, score in enumerate(scores)
         if allowed[i] and (score > 0 or not positive_only)),
        key=lambda i: (-scores[i], i),
    )
    return order[:limit]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K,
                           weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """Fused (index, score) best first; an item missing from a ranking gets nothing from it."""
    fused: dict[int, float] = {}
    for n, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[n]
        for rank, index in enumerate(ranking, start=1):
            fused[index] = fused.get(index, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
