"""Answer text out of an OpenAI-compatible chat stream, with reasoning kept apart.

Servers name reasoning differently: vLLM's reasoning parser sends `delta.reasoning` (newer)
or `delta.reasoning_content` (older vLLM, SGLang, llama.cpp); without a parser R1's reasoning
arrives in `delta.content` as `<think>...</think>`, and SGLang's R1 template leaves out the
opening `<think>`. `ReasoningSeparator` turns any of these into the answer text alone, which
the local tier's `SentenceSplitter` then cuts into spoken sentences. Pure: fed values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from intents.answers.llm_prompt import THINK_CLOSE, ThinkFilter

REASONING_FIELDS: Final = ("reasoning", "reasoning_content")


@dataclass(frozen=True, slots=True)
class Delta:
    """The parts of one streamed chunk's `choices[0].delta` this tier reads."""

    content: str = ""
    reasoning: str = ""
    finish_reason: str | None = None


def delta_of(chunk: Mapping[str, Any]) -> Delta:
    """The Delta of one chunk given as a plain dict (a `ChatCompletionChunk.model_dump()`)."""
    choices = chunk.get("choices") or []
    if not choices:
        return Delta()
    choice = choices[0] or {}
    delta = choice.get("delta") or {}
    reasoning = "".join(str(delta.get(k) or "") for k in REASONING_FIELDS)
    return Delta(str(delta.get("content") or ""), reasoning, choice.get("finish_reason"))


class ReasoningSeparator:
    """Feeds deltas in, gives answer text out; reasoning is counted, never returned.

    `unopened`: the server may start with reasoning and no `<think>` (SGLang R1 without a
    reasoning parser): everything before the first `</think>` is held and then dropped; if the
    stream ends without one, the held text was the answer after all only when the server sent
    a reasoning field (it separated reasoning itself), otherwise it is dropped as unfinished
    reasoning. Without `unopened`, content is answer unless it is inside `<think>...</think>`.
    """

    def __init__(self, unopened: bool = False) -> None:
        self._think = ThinkFilter()
        self._held: list[str] | None = [] if unopened else None
        self.reasoning_chars = 0
        self.answer_chars = 0
        self.separated = False  # the server sent reasoning in a field of its own

    @property
    def thinking(self) -> bool:
        """True while the stream is (or may be) inside reasoning."""
        return self._held is not None or self._think.unclosed

    @property
    def saw_reasoning(self) -> bool:
        """Any reasoning at all: in a field, held before `</think>`, or inline in a block."""
        return self.reasoning_chars > 0 or self._think.saw_think

    def feed(self, delta: Delta) -> str:
        """Answer text that is certainly outside reasoning, in order."""
        if delta.reasoning:
            self.reasoning_chars += len(delta.reasoning)
            self.separated = True
        text = delta.content
        if self._held is not None and text:
            if self.separated:  # the server parses reasoning: content is the answer
                text = "".join(self._held) + text
                self._held = None
            else:
                self._held.append(text)
                joined = "".join(self._held)
                cut = joined.find(THINK_CLOSE)
                if cut < 0:
                    return ""
                self.reasoning_chars += cut
                self._held = None
                text = joined[cut + len(THINK_CLOSE) :].lstrip()
        out = self._think.feed(text) if text else ""
        self.answer_chars += len(out)
        return out

    def finish(self) -> str:
        """The held-back tail at the end of the stream (nothing from an unclosed block)."""
        if self._held is not None:
            held = "".join(self._held)
            self._held = None
            if not self.separated:
                self.reasoning_chars += len(held)
                return ""
            return self._think.feed(held) + self._think.finish()
        return self._think.finish()


def route_pick(content: str, candidates: list[str], constraint: str) -> str | None:
    """The chosen intent id from a routing reply, or None: outside the candidates is no answer.

    json_schema replies are `{"intent": "<id>"}`; choice constraints reply the bare id. A
    reasoning model's `<think>` block (when the server did not strip it) is ignored.
    """
    text = content
    if THINK_CLOSE in text:
        text = text[text.rfind(THINK_CLOSE) + len(THINK_CLOSE) :]
    text = text.strip()
    if constraint == "json_schema":
        try:
            value = json.loads(text)
        except ValueError:
            return None
        pick = value.get("intent") if isinstance(value, dict) else None
    else:
        pick = text.strip("\"' \n")
    return pick if isinstance(pick, str) and pick in candidates else None


def route_schema(candidates: list[str]) -> dict[str, Any]:
    """The JSON schema a routing reply must follow: one of the candidate ids."""
    return {
        "type": "object",
        "properties": {"intent": {"type": "string", "enum": candidates}},
        "required": ["intent"],
        "additionalProperties": False,
    }


def constraint_for(owned_by: str, version: str) -> str:
    """The routing constraint a probed server takes: vLLM's own choice list where it has one."""
    if owned_by.lower() != "vllm":
        return "json_schema"
    parts = [int(p) for p in version.split(".")[:2] if p.isdigit()]
    if len(parts) == 2:
        return "structured_outputs" if tuple(parts) >= (0, 12) else "guided_choice"
    return "json_schema"
