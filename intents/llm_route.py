"""Constrained routing: a numbered menu in the prompt and a token trie that allows only its keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

MAX_CANDIDATES: Final = 20
ROUTE_SYSTEM_EN: Final = (
    "You sort bank branch customers' requests. Reply with the number of the best matching "
    "service only."
)


def route_user_message(text: str, candidates: Sequence[tuple[str, str]]) -> str:
    """The menu the model picks from: numbers are short, single-digit tokens in Qwen's vocab."""
    lines = [f"{n}. {label} ({intent_id})"
             for n, (intent_id, label) in enumerate(candidates, start=1)]
    menu = "\n".join(lines)
    return f"Customer said: \"{text.strip()}\"\nServices:\n{menu}\nAnswer with one number."


def menu_keys(count: int) -> list[str]:
    """The answer strings for `count` menu entries: "1".."N"."""
    return [str(n) for n in range(1, count + 1)]


@dataclass(slots=True)
class ChoiceTrie:
    """Token-id prefix tree over the candidates' encodings; `end_ids` close an ambiguous key.

    Decoding walks it: at each step only tokens that continue some candidate are allowed, and
    the walk stops as soon as a single candidate is left, so "3" among 5 entries costs one
    token, while "1" among 12 entries needs one more token to rule out "10".."12".
    """

    sequences: list[tuple[int, ...]]
    end_ids: frozenset[int]
    _prefix: tuple[int, ...] = field(default=(), init=False)

    def allowed(self) -> set[int]:
        """Token ids that keep the output inside the menu."""
        n = len(self._prefix)
        out = {seq[n] for seq in self.sequences if len(seq) > n and seq[:n] == self._prefix}
        if self._prefix in self.sequences:
            out |= self.end_ids
        return out

    def push(self, token: int) -> None:
        """Record the chosen token (it must be one of `allowed()`)."""
        if token not in self.end_ids:
            self._prefix = (*self._prefix, token)

    def resolved(self, last: int | None = None) -> int | None:
        """Index of the chosen candidate once only one remains (or an end token closed it)."""
        if last is not None and last in self.end_ids and self._prefix in self.sequences:
            return self.sequences.index(self._prefix)
        n = len(self._prefix)
        live = [i for i, seq in enumerate(self.sequences) if seq[:n] == self._prefix]
        return live[0] if len(live) == 1 else None

    @property
    def steps(self) -> int:
        """Tokens chosen so far."""
        return len(self._prefix)


def best_allowed(logits: npt.NDArray[np.float32], allowed: set[int]) -> int:
    """Greedy choice restricted to the allowed ids (ties go to the lower id, deterministic)."""
    ids = np.array(sorted(allowed), dtype=np.int64)
    return int(ids[int(np.argmax(logits[ids]))])
