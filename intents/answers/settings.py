"""Answer settings: the `[llm]` and `[answers]` tables of branch.toml.

Plain msgspec structs, so the config loads without the LLM runtime (numpy,
onnxruntime-genai) or the knowledge hub: the engine and the composer import them from here.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Provider = Literal["auto", "cpu", "cuda"]


class LlmSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The `[llm]` table of branch.toml; an empty folder turns the tier off (router + hub only)."""

    folder: str = "models/llm-qwen2.5-0.5b"  # onnxruntime-genai folder (from a bundle)
    provider: Provider = "auto"  # auto: CUDA when onnxruntime-genai-cuda sees a GPU, else CPU
    # CPU intra-op threads. 1, not the box's 2 cores: while it answers, speech still needs a
    # core (bench/thread_budget.py: with 2, a TTS sentence took 3x longer, with 1 about +30%)
    threads: int = 1
    route_deadline_s: float = 1.5  # wall time for one routing call, prompt included
    route_max_new_tokens: int = 8  # routing output budget (a menu number is 1-2 tokens)
    route_candidates: int = 5  # at most this many of the router's top-k offered to the model
    answer_deadline_s: float = 10.0  # stream_answer default (the Answerer passes its own)
    answer_max_new_tokens: int = 120  # about two short sentences
    temperature: float = 0.0  # 0 = greedy, deterministic (the only setting tested)


class AnswerSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The `[answers]` table of branch.toml."""

    top_k: int = 8  # passages retrieved, then re-ranked by words shared with the question
    prompt_passages: int = 1  # passages shown to the LLM; with 2 the 0.5B model mixed products
    passage_chars: int = 160  # each prompt passage: its most relevant sentences, this long
    deadline_s: float = 10.0  # whole answer, LLM included
    first_sentence_s: float = 2.0  # no grounded first sentence by then: extractive answer
    max_new_tokens: int = 96
    max_sentences: int = 3  # spoken answer length; a repeated sentence also ends it
    min_support: float = 0.5  # share of a sentence's words that must come from its passages
    extractive_sentences: int = 2
    max_chars_zh: int = 90  # extractive answer length for speech
    max_chars_en: int = 200
