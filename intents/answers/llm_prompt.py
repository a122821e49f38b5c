"""Chat templates and the streaming text filters that keep think text away from the speaker."""

from __future__ import annotations

import re
from typing import Final, Literal

ChatFamily = Literal["r1", "chatml"]
THINK_OPEN: Final = "<think>"
THINK_CLOSE: Final = "</think>"
CLOSED_THINK: Final = f"{THINK_OPEN}\n\n{THINK_CLOSE}\n\n"  # R1: skip reasoning entirely
R1_BOS: Final = "<｜begin▁of▁sentence｜>"
R1_USER: Final = "<｜User｜>"
R1_ASSISTANT: Final = "<｜Assistant｜>"
# Ends of a spoken sentence: full-width and ASCII terminators, an ASCII one only before space.
_SENTENCE_END: Final = re.compile(r"[。！？；!?;]+[”’」』)）]*|[.](?=\s)|\n+")
_MARKUP: Final = re.compile(r"^\s*(?:[-*•]+|\d+[.)、])\s+|\*\*|__|`|#+\s*")
_SPECIAL: Final = re.compile(r"<｜[^｜>]{1,40}｜>|<\|[a-z_]{2,20}\|>")


def chat_prompt(family: ChatFamily, system: str, user: str, *, closed_think: bool = True) -> str:
    """One system + user turn rendered like the model's own template, ready for generation.

    R1-Distill: the DeepSeek template (system text right after BOS, no role tag) with an
    already-closed think block, so the first generated token is answer text. ChatML: the
    Qwen2.5-Instruct template used by the demo weights.
    """
    if family == "r1":
        think = CLOSED_THINK if closed_think else ""
        return f"{R1_BOS}{system}{R1_USER}{user}{R1_ASSISTANT}{think}"
    return (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
            "<|im_start|>assistant\n")


def family_of(special_tokens: set[str]) -> ChatFamily:
    """R1 when the tokenizer knows the R1 role tokens, otherwise ChatML (Qwen2.5 Instruct)."""
    return "r1" if R1_USER in special_tokens else "chatml"


class ThinkFilter:
    """Drops everything inside <think>...</think>; a block never closed is never spoken.

    Text before a stray `</think>` (the model reasoned without opening a block) is dropped
    too when it arrives in the same piece; the engine prefills a closed block, so a stray close
    only follows text the model wrote as its answer.
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._inside = False
        self.saw_think = False
        self.unclosed = False

    def feed(self, piece: str) -> str:
        """Text that is certainly outside any think block, in order."""
        self._buffer += piece
        out: list[str] = []
        while self._buffer:
            if self._inside:
                end = self._buffer.find(THINK_CLOSE)
                if end < 0:
                    self._buffer = self._buffer[-(len(THINK_CLOSE) - 1):]
                    self.unclosed = True
                    break
                self._buffer = self._buffer[end + len(THINK_CLOSE):].lstrip()
                self._inside = False
                self.unclosed = False
                continue
            start = self._buffer.find(THINK_OPEN)
            stray = self._buffer.find(THINK_CLOSE)
            if stray >= 0 and (start < 0 or stray < start):
                out.clear()  # reasoning without an opening tag: forget what preceded it
                self.saw_think = True
                self._buffer = self._buffer[stray + len(THINK_CLOSE):].lstrip()
                continue
            if start >= 0:
                out.append(self._buffer[:start])
                self._buffer = self._buffer[start + len(THINK_OPEN):]
                self._inside = True
                self.saw_think = True
                self.unclosed = True
                continue
            keep = _partial_tag_suffix(self._buffer)
            out.append(self._buffer[: len(self._buffer) - keep])
            self._buffer = self._buffer[len(self._buffer) - keep:]
            break
        return "".join(out)

    def finish(self) -> str:
        """The held-back tail at the end of generation (nothing if a think block is open)."""
        tail = "" if self._inside else self._buffer
        self._buffer = ""
        return tail


def _partial_tag_suffix(text: str) -> int:
    """Length of a suffix that could be the start of <think> or </think>."""
    for tag in (THINK_CLOSE, THINK_OPEN):
        for n in range(min(len(tag) - 1, len(text)), 0, -1):
            if text.endswith(tag[:n]):
                return n
    return 0


def clean_for_speech(text: str) -> str:
    """Remove Markdown marks, list bullets and leaked special tokens before TTS reads it."""
    text = _SPECIAL.sub("", text)
    lines = [_MARKUP.sub("", line).strip() for line in text.splitlines()]
    return " ".join(line for line in lines if line).strip()


class SentenceSplitter:
    """Cuts streamed text into sentences for TTS; a long run without a stop is cut at a comma."""

    def __init__(self, max_chars: int = 120) -> None:
        self._buffer = ""
        self._max = max_chars

    def feed(self, text: str) -> list[str]:
        """Sentences completed by this piece of text, cleaned for speech, empty ones dropped."""
        self._buffer += text
        out: list[str] = []
        while True:
            match = _SENTENCE_END.search(self._buffer)
            if match is None:
                if len(self._buffer) > self._max:
                    cut = max(self._buffer.rfind(c, 0, self._max) for c in "，,、")
                    cut = cut + 1 if cut > 0 else self._max
                    out.append(self._buffer[:cut])
                    self._buffer = self._buffer[cut:]
                    continue
                break
            out.append(self._buffer[: match.end()])
            self._buffer = self._buffer[match.end():]
        return [s for s in (clean_for_speech(x) for x in out) if s]

    def flush(self) -> str | None:
        """The last, unterminated sentence at the end of generation."""
        rest = clean_for_speech(self._buffer)
        self._buffer = ""
        return rest or None
