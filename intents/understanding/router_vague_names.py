"""Which intents a clarifying question names: the router's readings fused with the intents
listed by the nearest vague training rows.

A vague request ("我账户有点问题") gets a confident top-1 from the router and little else: its
second and third readings are noise. The vague rows the router trains on (ambiguous.tsv,
ambiguous_more.tsv) each list the intents a person would ask about; the request's nearest
such rows, by cosine on the router's own TF-IDF vector (character n-grams and toneless
pinyin), vote for their listed intents, weighted by similarity ** `power`. The question names
the `named` best of `weight * votes + (1 - weight) * probabilities`, never out_of_scope, and a
fraud report the router had among its candidates stays named.

Validation (bench/vague_curve.py, 5 folds of train.tsv and ambiguous.tsv, 266 held-out vague
rows, each fold's router and neighbours without them): the three best by probability alone
name two listed intents for 57.1%; fused with the 10 nearest rows (power 2, weight 0.3)
65.4%; plateau 64-66% over k 5-40, power 1-3, weight 0.2-0.5. As shipped (the router's own
answer kept first, the guard after it) bench/vague_curve.json's naming_alone reads 66.5% against
57.1% for the router's three best. A request the router's own
unsure rule asks about is named so only when its nearest vague row is at least `min_sim`
close (0.4: of the unsure vague rows 48.2% -> 63.9% name two listed intents, while the unsure
clear rows whose intent is named go 80.5% -> 79.4%; with no floor 77.9%).
Pure numpy at inference: the vague rows are kept as postings over the router's vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
FRAUD: Final = "fraud_report"
OUT_OF_SCOPE: Final = "out_of_scope"


@dataclass(frozen=True, slots=True)
class NeighbourNames:
    """The vague training rows as postings (feature -> rows) and their listed intents."""

    features: npt.NDArray[np.int64]  # sorted vocabulary ids that occur in some vague row
    indptr: npt.NDArray[np.int64]  # postings of features[i]: rows/values[indptr[i]:indptr[i+1]]
    rows: npt.NDArray[np.int32]
    values: npt.NDArray[np.float32]  # the rows' L2-normalised TF-IDF weights
    listed: npt.NDArray[np.uint8]  # (n_rows, n_intents): 1 where the row lists that intent
    k: int = 10
    power: float = 2.0
    weight: float = 0.3
    named: int = 3
    min_sim: float = 0.4  # an unsure (not vague) request is named so only this close to a row

    @classmethod
    def build(
        cls, x_rows: Any, listed: npt.NDArray[np.uint8], **knobs: Any
    ) -> NeighbourNames:
        """From the vague rows' TF-IDF matrix (scipy sparse, unit rows) and their label rows."""
        csc = x_rows.tocsc()
        csc.sort_indices()
        counts = np.diff(csc.indptr)
        used = np.flatnonzero(counts > 0)
        indptr = np.concatenate([[0], np.cumsum(counts[used])]).astype(np.int64)
        return cls(
            used.astype(np.int64),
            indptr,
            csc.indices.astype(np.int32),
            csc.data.astype(np.float32),
            np.asarray(listed, dtype=np.uint8),
            **knobs,
        )

    def similarities(self, ids: npt.NDArray[np.int64], vals: FloatArray) -> FloatArray:
        """Cosine of one query (its unit TF-IDF as vocabulary ids and values) to every row."""
        sims = np.zeros(len(self.listed))
        if len(ids) == 0 or len(self.features) == 0:
            return sims
        pos = np.searchsorted(self.features, ids)
        pos = np.minimum(pos, len(self.features) - 1)
        hit = self.features[pos] == ids
        if not hit.any():
            return sims
        pos, vals = pos[hit], vals[hit]
        start, stop = self.indptr[pos], self.indptr[pos + 1]
        sizes = stop - start
        flat = np.repeat(start - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
        flat += np.arange(int(sizes.sum()))
        np.add.at(sims, self.rows[flat], self.values[flat] * np.repeat(vals, sizes))
        return sims

    def votes(self, sims: FloatArray) -> FloatArray:
        """Each intent's similarity-weighted share among the k nearest rows' listed intents."""
        k = min(self.k, len(sims))
        n_intents = self.listed.shape[1]
        if k == 0:
            return np.zeros(n_intents)
        near = np.argpartition(-sims, k - 1)[:k]
        w = np.clip(sims[near], 0.0, None) ** self.power
        total = float(w.sum())
        if total <= 0.0:
            return np.zeros(n_intents)
        out: FloatArray = (w @ self.listed[near].astype(np.float64)) / total
        return out

    def name(
        self,
        intent_probs: FloatArray,
        intents: Sequence[str],
        sims: FloatArray,
        keep: Sequence[str] = (),
    ) -> list[tuple[str, float]]:
        """The intents to name, best first, with their fused scores.

        out_of_scope only when nothing else scores; fraud_report stays when it is in `keep`
        (the router's own candidates) but would fall off the list.
        """
        p = np.asarray(intent_probs, dtype=np.float64)[: len(intents)]
        fused = self.weight * self.votes(sims)[: len(p)] + (1.0 - self.weight) * p
        order = [j for j in np.argsort(-fused, kind="stable") if intents[j] != OUT_OF_SCOPE]
        out = [(intents[j], float(fused[j])) for j in order if fused[j] > 0][: self.named]
        if not out and OUT_OF_SCOPE in intents:  # nothing but out_of_scope scores
            return [(OUT_OF_SCOPE, float(fused[list(intents).index(OUT_OF_SCOPE)]))]
        if FRAUD in keep and FRAUD in intents and all(i != FRAUD for i, _ in out):
            fraud = (FRAUD, float(fused[list(intents).index(FRAUD)]))
            if len(out) >= self.named:
                out[-1] = fraud
            else:
                out.append(fraud)
        return out


def names_arrays(head: NeighbourNames | None) -> dict[str, npt.NDArray[Any]]:
    """The neighbours as named arrays for the router's .npz (nothing when there are none)."""
    if head is None:
        return {}
    return {
        "names_features": head.features,
        "names_indptr": head.indptr,
        "names_rows": head.rows,
        "names_values": head.values,
        "names_listed": head.listed,
        "names_meta": np.array(
            [head.k, head.power, head.weight, head.named, head.min_sim], dtype=np.float64
        ),
    }


def names_from(data: Any) -> NeighbourNames | None:
    """Read the neighbours back from a loaded .npz; None for a router saved without them."""
    if "names_meta" not in data:
        return None
    m = data["names_meta"]
    return NeighbourNames(
        data["names_features"].astype(np.int64),
        data["names_indptr"].astype(np.int64),
        data["names_rows"].astype(np.int32),
        data["names_values"].astype(np.float32),
        data["names_listed"].astype(np.uint8),
        int(m[0]),
        float(m[1]),
        float(m[2]),
        int(m[3]),
        float(m[4]),
    )
