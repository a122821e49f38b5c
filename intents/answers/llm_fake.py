"""A scripted stand-in for the LLM runtime, so dialogue and answer tests can make it misbehave.

`LlmEngine(ScriptedBackend(...))` runs the real engine code over a character-level
tokenizer: the script decides what the "model" writes, how slowly, and whether it fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from intents.answers.llm import Logits, Session
from intents.answers.llm_prompt import R1_ASSISTANT, R1_BOS, R1_USER, THINK_CLOSE, THINK_OPEN

EOS: Final = "<｜end▁of▁sentence｜>"
SPECIALS: Final = (R1_BOS, R1_USER, R1_ASSISTANT, EOS, THINK_OPEN, THINK_CLOSE)
_BASE: Final = 1000  # ids below are specials, ids from here are code points + _BASE
VOCAB: Final = _BASE + 0x30000


class ScriptedError(RuntimeError):
    """What a failing scripted model raises."""


@dataclass(slots=True)
class ScriptedBackend:
    """Writes `answer` (then EOS unless `endless`); routes to `route_key`; can stall or fail.

    prefill_s / token_s: sleep per prompt and per generated token (a slow model);
    fail_at: raise ScriptedError when generating token number `fail_at` (0 = at prefill).
    """

    answer: str = ""
    route_key: str = "1"
    prefill_s: float = 0.0
    token_s: float = 0.0
    fail_at: int | None = None
    endless: bool = False  # keep writing the last character forever (a never-closed think)
    sleep: Callable[[float], None] = time.sleep
    prompts: list[str] = field(default_factory=list)
    eos_ids: frozenset[int] = frozenset({SPECIALS.index(EOS)})
    special_tokens: frozenset[str] = frozenset(SPECIALS)

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        i = 0
        while i < len(text):
            for n, special in enumerate(SPECIALS):
                if text.startswith(special, i):
                    ids.append(n)
                    i += len(special)
                    break
            else:
                ids.append(_BASE + ord(text[i]))
                i += 1
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(SPECIALS[t] if t < _BASE else chr(t - _BASE) for t in ids)

    def detokenizer(self) -> Callable[[int], str]:
        return lambda token: self.decode([token])

    def start(self, ids: Sequence[int], max_new_tokens: int, temperature: float) -> Session:
        self.prompts.append(self.decode(ids))
        if self.fail_at == 0:
            raise ScriptedError("scripted failure at prefill")
        self.sleep(self.prefill_s)
        return _ScriptedSession(self, self.encode(self.answer), max_new_tokens)


class _ScriptedSession:
    def __init__(self, backend: ScriptedBackend, script: list[int], budget: int) -> None:
        self._b = backend
        self._script = script
        self._budget = budget
        self._made = 0
        self._appended: list[int] = []

    def logits(self) -> Logits:
        """Favours the next token of route_key, so constrained routing picks it."""
        out = np.zeros(VOCAB, dtype=np.float32)
        key = self._b.encode(self._b.route_key)
        n = len(self._appended)
        if n < len(key):
            out[key[n]] = 10.0
        else:
            out[next(iter(self._b.eos_ids))] = 10.0
        return out

    def append(self, token: int) -> None:
        self._appended.append(token)

    def step(self) -> int | None:
        if self._made >= self._budget:
            return None
        self._made += 1
        if self._b.fail_at is not None and self._made >= self._b.fail_at:
            raise ScriptedError(f"scripted failure at token {self._made}")
        self._b.sleep(self._b.token_s)
        if self._made <= len(self._script):
            return self._script[self._made - 1]
        if self._b.endless and self._script:
            return self._script[-1]
        return next(iter(self._b.eos_ids))
