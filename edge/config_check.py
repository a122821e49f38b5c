"""Cross-field rules of branch.toml that msgspec's types cannot express (port ranges,
budgets that must fit inside other budgets, ids that must exist): `check(config)` returns
(key, problem) pairs, and `edge.config.load_config` refuses the first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edge.queue.settings import validate_settings

if TYPE_CHECKING:
    from edge.config import BranchConfig
    from provisioning.settings import UpdateSettings


def check(config: BranchConfig) -> list[tuple[str, str]]:
    """Cross-field rules msgspec cannot express, as (key, problem) pairs."""
    problems: list[tuple[str, str]] = []
    if not 0 <= config.server.port <= 65535:
        problems.append(("server.port", f"{config.server.port} is not a TCP port (0-65535)"))
    if config.server.max_message_bytes > config.server.hard_max_message_bytes:
        problems.append(("server.max_message_bytes", "must not exceed hard_max_message_bytes"))
    if config.server.log_interval_s <= 0:
        problems.append(("server.log_interval_s", "must be more than 0 seconds"))
    if bool(config.server.tls_cert) != bool(config.server.tls_key):
        problems.append(("server.tls_cert", "tls_cert and tls_key go together"))
    if config.staff.session_ttl_s <= 0 or config.staff.confirm_window_s < 0:
        problems.append(("staff.session_ttl_s", "must be more than 0 seconds"))
    if config.server.console_waiting_per_service < 0:
        problems.append(("server.console_waiting_per_service", "must be 0 (all) or more"))
    if config.audit.checkpoint_every_rows < 1 or config.audit.checkpoint_interval_s <= 0:
        problems.append(("audit.checkpoint_every_rows", "checkpoints need at least 1 row and "
                         "an interval of more than 0 seconds"))
    seen: set[str] = set()
    for i, dev in enumerate(config.devices):
        if dev.id in seen:
            problems.append((f"devices[{i}].id", f"duplicate device id {dev.id!r}"))
        seen.add(dev.id)
        if len(dev.credential) < 8:
            problems.append((f"devices[{i}].credential", "must be at least 8 characters"))
    try:
        validate_settings(config.queue)
    except ValueError as err:
        problems.append(("queue", str(err)))
    for i, dev in enumerate(config.devices):
        if dev.role == "console":
            problems.append((f"devices[{i}].role", "staff consoles log in with staff accounts "
                             "(`branch-teller staff add`), not device credentials"))
    problems.extend(_check_appointments(config))
    if config.provisioning.expiry_alarm_s < 0 or config.provisioning.download_timeout_s <= 0:
        problems.append(("provisioning", "need expiry_alarm_s >= 0 and download_timeout_s > 0"))
    problems.extend(_check_updates(config.updates))
    problems.extend(_check_remote_llm(config))
    problems.extend(config.central.problems())
    for name in ("vad_route", "tts", "answers", "indexing"):
        lane = getattr(config.lanes, name)
        if lane.workers < 1 or lane.max_queue < 0 or lane.max_wait_s < 0 or lane.nice < 0:
            problems.append((f"lanes.{name}", "need workers >= 1, max_queue >= 0, "
                             "max_wait_s >= 0, nice >= 0"))
    from intents.understanding.catalog import INTENTS

    for i, term in enumerate(config.terminals):
        for intent_id in term.intents:
            if intent_id not in INTENTS:
                problems.append((f"terminals[{i}].intents", f"unknown intent id {intent_id!r}"))
    if config.models.router_encoder_threads < 1:
        problems.append(("models.router_encoder_threads", "must be 1 or more"))
    return problems


def _check_appointments(config: BranchConfig) -> list[tuple[str, str]]:
    a = config.appointments
    problems: list[tuple[str, str]] = []
    for name in ("check_in_early_min", "check_in_late_min"):
        if getattr(a, name) < 0:
            problems.append((f"appointments.{name}", "must not be negative"))
    if a.check_in_late_min * 60 > config.queue.appointment.late_s:
        problems.append(("appointments.check_in_late_min",
                         f"{a.check_in_late_min} min is later than queue.appointment.late_s "
                         f"({config.queue.appointment.late_s:.0f} s): such a check-in would "
                         "queue as a normal ticket"))
    if not 4 <= a.number_min_chars <= a.number_max_chars <= 16:
        problems.append(("appointments.number_min_chars",
                         "need 4 <= number_min_chars <= number_max_chars <= 16"))
    return problems


def _check_updates(up: UpdateSettings) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for name in ("check_interval_s", "smoke_timeout_s"):
        if getattr(up, name) <= 0:
            problems.append((f"updates.{name}", "must be more than 0 seconds"))
    for name in ("quiet_hold_s", "max_deferral_s", "probation_s", "probation_max_turn_failures",
                 "probation_max_crashes", "smoke_nice"):
        if getattr(up, name) < 0:
            problems.append((f"updates.{name}", "must not be negative"))
    if up.keep_bundles < 2:
        problems.append(("updates.keep_bundles", "must be at least 2 (the active bundle and "
                         "the one to roll back to)"))
    return problems


def _check_remote_llm(config: BranchConfig) -> list[tuple[str, str]]:
    """The remote tier must fit inside the local tier's budgets and speak http(s)."""
    r = config.llm_remote
    problems: list[tuple[str, str]] = []
    if r.base_url and not r.base_url.startswith(("http://", "https://")):
        problems.append(("llm_remote.base_url", "must start with http:// or https://"))
    if r.route_deadline_s > config.llm.route_deadline_s:
        problems.append(("llm_remote.route_deadline_s",
                         f"must not exceed llm.route_deadline_s ({config.llm.route_deadline_s} s):"
                         " the customer never waits longer for the remote tier"))
    if min(r.connect_timeout_s, r.route_deadline_s, r.first_token_s, r.answer_deadline_s) <= 0:
        problems.append(("llm_remote", "timeouts and deadlines must be more than 0 seconds"))
    if r.breaker_failures < 1 or r.breaker_cooldown_s < 0:
        problems.append(("llm_remote.breaker_failures",
                         "need breaker_failures >= 1 and breaker_cooldown_s >= 0"))
    if r.ca_file and not Path(r.ca_file).is_file():
        problems.append(("llm_remote.ca_file", f"{r.ca_file} is not a file"))
    return problems
