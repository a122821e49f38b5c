"""The `[llm_remote]` table of branch.toml: the bank's own OpenAI-compatible model server.

A plain msgspec struct (no client library imported), so the config loads without `openai`.
An empty `base_url` turns the remote tier off; the box then runs exactly as without it.
"""

from __future__ import annotations

from typing import Literal

import msgspec

# How routing output is constrained to the router's candidates:
#   auto: probe GET /models once (vLLM -> structured_outputs, or guided_choice before 0.12;
#         SGLang, llama.cpp and anything else -> json_schema)
#   json_schema: response_format JSON schema with an enum (vLLM, SGLang, llama.cpp all take it)
#   structured_outputs: vLLM 0.12+ `structured_outputs: {choice: [...]}`
#   guided_choice: vLLM before 0.12
Constraint = Literal["auto", "json_schema", "structured_outputs", "guided_choice"]


class RemoteLlmSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Where the remote tier is, how long it may take, and when the box stops asking it."""

    base_url: str = ""  # e.g. "https://deepseek.bank.internal/v1"; "" = remote tier off
    model: str = ""  # the served model name ("" = the first one GET /models lists)
    # Secret: never logged. branch.toml must be chmod 600 (the service refuses otherwise);
    # or leave it "" and set the environment variable named by api_key_env.
    api_key: str = ""
    api_key_env: str = "BRANCH_TELLER_REMOTE_LLM_KEY"
    ca_file: str = ""  # PEM bundle of the bank's CA for https base URLs ("" = system CAs)
    verify_tls: bool = True  # false only for a lab server; the service logs a warning
    constraint: Constraint = "auto"
    route: bool = True  # ask the remote tier for unsure routing
    answers: bool = True  # ask the remote tier for knowledge answers
    connect_timeout_s: float = 0.5  # TCP + TLS connect
    route_deadline_s: float = 1.2  # whole routing call; the local tier gets what is left
    route_max_tokens: int = 24  # {"intent": "international_remittance"} is about 10 tokens
    first_token_s: float = 1.5  # answers: no answer text (reasoning does not count) by then
    answer_deadline_s: float = 8.0  # whole answer stream
    answer_max_tokens: int = 160
    # Servers that do not separate reasoning (SGLang/llama.cpp without a reasoning parser)
    # may send R1's reasoning with no opening <think>: then nothing before `</think>` is said.
    unopened_think: bool = False
    breaker_failures: int = 3  # consecutive failures (error, late, nonsense) that open it
    breaker_cooldown_s: float = 30.0  # open: local tier only this long, then one probe call
