"""Central's own settings (`central.toml`, the `[server]` table): limits and secrets of the
HTTP and websocket service. Central runs at the bank, not in a branch, so these live apart
from branch.toml; every field has a default, and `central.example.toml` shows them all.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import msgspec

CONFIG_ENV = "BRANCH_TELLER_CENTRAL_CONFIG"
OPERATOR_TOKEN_ENV = "BRANCH_TELLER_CENTRAL_OPERATOR_TOKEN"


class CentralServerSettings(
    msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True
):
    """Limits of `central serve`: body sizes, keepalive, per-link queues, auth cache."""

    max_report_bytes: int = 65_536
    """Largest BoxReport body (POST /api/v1/report, or one link message); larger: 413."""
    max_day_bytes: int = 262_144
    """Largest DayReport body (POST /api/v1/day); larger: 413."""
    heartbeat_s: float = 20.0
    """Ping each link this often; a box that does not answer within half of it is dropped."""
    link_queue: int = 16
    """Messages waiting for one slow link; a link that falls further behind is closed."""
    auth_cache_s: float = 60.0
    """A verified box credential is trusted this long without another argon2 check (0: off).
    A disabled box is refused at the latest after this long (its link at the next tick)."""
    auth_failures_per_source: int = 10
    """Failed box credentials one client address may present in auth_failure_window_s; after
    that its requests are refused (429) without hashing until the window has passed, so a
    wrong or hostile client cannot spend central's cores on argon2."""
    auth_failure_window_s: float = 60.0
    auth_concurrency: int = 4
    """argon2 checks running at once; further ones wait their turn (a reconnect storm after
    an outage queues instead of starving the server)."""
    operator_token_file: str = ""
    """File holding the operators' token for GET /api/v1/fleet (or set the env variable
    BRANCH_TELLER_CENTRAL_OPERATOR_TOKEN). Neither set: the fleet endpoint is closed (503)."""
    repo_requires_box_credential: bool = False
    """Serve /repo/ to enrolled boxes only. Off by default: the signed metadata is what boxes
    trust, so the folder may be public (and mirrored to a CDN)."""
    shutdown_grace_s: float = 5.0
    """How long a link's closing handshake, and on SIGTERM open requests, may take."""

    def operator_token(self) -> str:
        """The operators' token from the environment or the token file ("" when none)."""
        token = os.environ.get(OPERATOR_TOKEN_ENV, "").strip()
        if not token and self.operator_token_file:
            token = Path(self.operator_token_file).read_text(encoding="utf-8").strip()
        return token


class _CentralFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    server: CentralServerSettings = msgspec.field(default_factory=CentralServerSettings)


def load_server_settings(path: Path | None = None) -> CentralServerSettings:
    """Settings from central.toml (path, else $BRANCH_TELLER_CENTRAL_CONFIG, else defaults).
    Raises ValueError naming the file and the bad key."""
    if path is None and os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    if path is None:
        return CentralServerSettings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        settings = msgspec.convert(data, _CentralFile).server
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    problems = [
        name
        for name in ("max_report_bytes", "max_day_bytes", "link_queue",
                     "auth_failures_per_source", "auth_concurrency")
        if getattr(settings, name) <= 0
    ]
    problems += [n for n in ("heartbeat_s", "shutdown_grace_s", "auth_failure_window_s")
                 if getattr(settings, n) <= 0]
    problems += ["auth_cache_s"] if settings.auth_cache_s < 0 else []
    if problems:
        raise ValueError(f"{path}: [server] {', '.join(problems)} must be positive")
    return settings
