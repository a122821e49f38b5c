"""Constrained routing: a numbered menu in the prompt and a token trie that allows only its keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

MAX_CANDIDATES: Final = 20
ROUTE_SYSTEM_EN: Final = "Reply with the bank service id only."


def route_user_message(text: str, candidates: Sequence[tuple[str, str]]) -> str:
    """The menu the model picks from; the answer is an intent id (the product's contract).

    Ids rather than menu numbers: the 0.5B demo model answered "1" to every numbered menu
    (4/10 right with ids on a 10-question probe, the router's order with numbers).
    """
    menu = "; ".join(f"{intent_id} ({label})" for intent_id, label in candidates)
    return f"Customer: \"{text.strip()}\"\nServices: {menu}\nService id:"


def menu_keys(candidates: Sequence[tuple[str, str]]) -> list[str]:
    """The strings the output is constrained to: the candidates' intent ids."""
    return [intent_id for intent_id, _label in candidates]


@dataclass(slots=True)
class ChoiceTrie:
    """Token-id prefix tree over the candidates' encodings; `end_ids` close an ambiguous key.

    Decoding walks it: at each step only tokens that continue some candidate are allowed, and
    the walk stops as soon as a single candidate is left, so "transfer" among unrelated ids
    costs one token, while "card_lost" next to "card_replace" needs the token after "card".
    A key that is a prefix of another ("1" among "1".."12") is closed by an end token.
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
