"""Wiring of the remote LLM tier: built from `[llm_remote]`, put in front of the local engine,
reported on the health tab (`Health.remote_llm`) and on /metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from devices.health_payloads import RemoteLlmHealth
from edge.config import BranchConfig
from intents.answers.remote import RemoteLlm
from intents.answers.tier import LlmTier
from intents.answers.tiered import TieredLlm

BREAKER_STATES = ("closed", "half_open", "open")


def with_remote_tier(config: BranchConfig, local: LlmTier | None) -> LlmTier | None:
    """The local engine alone, or the remote tier in front of it when a base URL is set."""
    remote = RemoteLlm.from_settings(config.llm_remote)
    if remote is None:
        return local
    return TieredLlm(remote, local, config.llm.route_deadline_s, config.answers.deadline_s)


def remote_health(llm: object) -> RemoteLlmHealth:
    """What staff see of the remote tier ("off" unless the service runs a TieredLlm)."""
    if not isinstance(llm, TieredLlm):
        return RemoteLlmHealth()
    r = llm.remote
    return RemoteLlmHealth(
        state=r.breaker_state,
        server=r.server,
        model=r.model,
        constraint=str(r.constraint),
        calls={f"{kind} {outcome}": n for (kind, outcome), n in sorted(r.calls.items())},
        fallbacks={f"{kind} {to}": n for (kind, to), n in sorted(llm.fallbacks.items())},
        retry_in_s=round(r.breaker.retry_in(), 1),
        last_error=r.last_error,
    )


class RemoteTierCollector:
    """Remote calls by kind and outcome, fallbacks, and the breaker state, read at scrape."""

    def __init__(self, llm: Callable[[], object]) -> None:
        self.llm = llm

    def collect(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            "branch_teller_remote_llm_calls",
            "Calls to the remote LLM tier by kind (route, "
            "answer) and outcome (ok, deadline, error, nonsense, empty, cancelled, "
            "breaker_open).",
            labels=["kind", "outcome"],
        )
        fallbacks = CounterMetricFamily(
            "branch_teller_remote_llm_fallbacks",
            "Remote calls that gave nothing usable, by "
            "kind and what took over (local tier, or none: router / extractive answer).",
            labels=["kind", "to"],
        )
        state = GaugeMetricFamily(
            "branch_teller_remote_llm_breaker",
            "1 for the remote tier's circuit breaker state now (closed, half_open, open).",
            labels=["state"],
        )
        llm = self.llm()
        if isinstance(llm, TieredLlm):
            for (kind, outcome), n in sorted(llm.remote.calls.items()):
                calls.add_metric([kind, outcome], n)
            for (kind, to), n in sorted(llm.fallbacks.items()):
                fallbacks.add_metric([kind, to], n)
            now = llm.remote.breaker_state
            for name in BREAKER_STATES:
                state.add_metric([name], 1.0 if name == now else 0.0)
        yield calls
        yield fallbacks
        yield state
