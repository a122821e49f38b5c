"""What the service derives from config once at start: the dialogue's branch facts and the
versions staff and central operations see."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from edge.config import BranchConfig
from intents.dialogue.policy import Policy, Terminal
from intents.guardrails.verdict import GuardrailRules


def build_policy(config: BranchConfig) -> Policy:
    """Branch facts the dialogue needs, from config."""
    terminals = tuple(
        Terminal(id=t.id, name={"zh": t.name_zh, "en": t.name_en},
                 location={"zh": t.location_zh, "en": t.location_en},
                 intents=frozenset(t.intents),
                 cash_withdrawal_limit_cny=t.cash_withdrawal_limit_cny)
        for t in config.terminals)
    b = config.branch
    return Policy(terminals=terminals, hours={"zh": b.hours_zh, "en": b.hours_en},
                  address={"zh": b.address_zh, "en": b.address_en},
                  care_class=config.queue.care_class,
                  guardrails=GuardrailRules(
                      large_value=config.guardrails.large_value(config.thresholds),
                      scam_rules=config.guardrails.scam_rules,
                      router_fraud_min_confidence=config.thresholds.high_impact_min_confidence),
                  min_confidence=config.thresholds.router_min_confidence,
                  high_impact_min_confidence=config.thresholds.high_impact_min_confidence,
                  appointments=config.appointments.rules(),
                  timezone=config.queue.timezone, **config.forms.policy_fields(),
                  products=tuple(p.product() for p in config.products),
                  # the urgent service is for fraud reports, with a staff alert: not a menu item
                  ticket_services=tuple((s.id, s.name_zh, s.name_en)
                                        for s in config.queue.services if s.id != "urgent"))


def model_versions(config: BranchConfig, bundle: str = "") -> dict[str, Any]:
    """What is loaded, for staff and central operations (`bundle`: the active one, "" for
    the models assembled from the local wheels)."""
    from importlib.metadata import version

    models = config.models
    router = models.resolve("router")
    digest = hashlib.sha256(router.read_bytes()).hexdigest()[:12] if router.exists() else "absent"
    return {
        "service": version("branch-teller"),
        "router": f"{router.name} sha256:{digest}",
        "stt": models.resolve("whisper").name,
        "tts": dict(config.speech.tts.voices),
        "llm": config.llm.folder if Path(config.llm.folder, "genai_config.json").is_file()
        else "none",
        "bundle": bundle or "none (models assembled from local wheels)",
    }
