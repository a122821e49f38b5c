"""Provisioning settings: `[provisioning]` (where signed bundles come from) and `[updates]`
(how the box installs, tests, switches to and watches them). Plain msgspec structs, so the
config loads without python-tuf, network code or any model runtime.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

TRUST_SUBDIR = "trust"


class ProvisioningSettings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Where the box fetches signed bundles (TUF) and where it keeps what it has trusted."""

    repository_url: str = ""
    """Central's TUF repository (metadata/ and targets/ under it); empty: no online updates."""
    mirror_path: str = ""
    """A copy of the repository folder (USB stick) used instead of the URL: same checks."""
    trust_dir: str = ""
    """Trusted metadata and partial downloads; empty: DATA_DIR/trust (survives reboots)."""
    root_file: str = ""
    """The bank's root.json; empty: the one a bank's build put in the package, if any."""
    expiry_alarm_s: float = 43_200.0
    """Alarm (stale) when the trusted timestamp expires within this long: central is silent."""
    download_timeout_s: float = 30.0
    """Longest wait for the next bytes of a download before it counts as failed."""
    download_rate_bps: int = 0
    """Cap on download speed in bytes per second (0: none), so a bundle never starves the
    branch's own link; a cut-off download resumes where it stopped either way."""
    fetch_interval_s: float = 900.0
    """How often the box asks central (or the mirror) for a newer bundle."""

    def trust_folder(self, data_dir: str) -> Path:
        """Where trusted metadata lives: on the data disk, so rollback protection survives."""
        return Path(self.trust_dir) if self.trust_dir else Path(data_dir) / TRUST_SUBDIR


class UpdateSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How the box installs, tests, switches to and watches a new bundle."""

    enabled: bool = True  # false: bundles dropped into the inbox are left there untouched
    # Bundles, their inbox and the active pointer live here ("": <data_dir>/bundles). Keep it
    # on the data disk: the switch is a rename within this folder.
    slots_dir: str = ""
    check_interval_s: float = 5.0  # how often the updater looks at its inbox and the lobby
    smoke_timeout_s: float = 300.0  # the smoke test's subprocess is killed after this
    smoke_nice: int = 10  # the smoke test yields the cores to customers' turns (Linux niceness)
    # A quiet moment: no conversation at any kiosk, no turn running, no kiosk speaking, and
    # (if this is true) no call waiting for a number-caller's acknowledgement ...
    quiet_needs_no_pending_call: bool = True
    quiet_hold_s: float = 2.0  # ... that has lasted this long
    # A busy lobby may never be quiet: after this long the switch happens at the next idle
    # moment instead (no turn running and no kiosk speaking; conversations may be open).
    max_deferral_s: float = 3600.0
    probation_s: float = 600.0  # after the switch, the new bundle is watched this long
    # More customer turns failing than this (internal, speech or knowledge errors): roll back.
    probation_max_turn_failures: int = 3
    # Service processes on the new bundle that ended without a clean stop (a crash, a kill,
    # a power cut) during probation; more than this: roll back before loading it again.
    probation_max_crashes: int = 1
    keep_bundles: int = 2  # installed bundles kept on disk (the active one and its previous)


class CentralSettings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The bank's central service (`branch-teller central serve`): the box keeps one outbound
    websocket to it, installs the bundle it assigns and sends its day aggregates."""

    url: str = ""
    """Central's base URL (http:// or https://); empty: no central, the box works alone."""
    box_id: str = ""
    """This box's id in central's fleet (`central box add` printed it with the secret)."""
    secret_file: str = ""
    """A file (mode 0600) holding this box's secret; its content is never logged."""
    report_interval_s: float = 300.0
    """A report every this long over the link (and on connect, and on every update step)."""
    reconnect_min_s: float = 1.0
    """Wait before the first reconnect; doubles per failure (with jitter) up to the max."""
    reconnect_max_s: float = 300.0
    connect_timeout_s: float = 10.0
    """Longest wait for central to accept the websocket (or answer a POST)."""
    max_message_bytes: int = 65_536
    """Central's messages are small; anything larger closes the link (and it reconnects)."""
    day_resend_s: float = 600.0
    """Day reports central has not acknowledged are sent again this often."""
    day_backfill_days: int = 7
    """On first contact, past days up to this many are reported too (0: from today on)."""
    keep_days: int = 60
    """Day statistics (counts, latency sketches) and the outbox are kept this long."""
    queued_steps: int = 32
    """Update steps kept to report while central is away (older ones give way; the box's
    current step always goes)."""
    stats_flush_s: float = 10.0
    """The day's counts and latency sketches are written to the database this often."""

    def repository_url(self, provisioning: ProvisioningSettings) -> str:
        """The TUF repository: `[provisioning] repository_url`, else central's `<url>/repo`."""
        if provisioning.repository_url or not self.url:
            return provisioning.repository_url
        return self.url.rstrip("/") + "/repo"

    def problems(self) -> list[tuple[str, str]]:
        """What is wrong with the section (config validation)."""
        found: list[tuple[str, str]] = []
        if self.stats_flush_s <= 0:
            found.append(("central.stats_flush_s", "must be more than 0 seconds"))
        if not self.url:
            return found
        if not self.url.startswith(("http://", "https://")):
            found.append(("central.url", "must start with http:// or https://"))
        if not self.box_id:
            found.append(("central.box_id", "is needed when central.url is set"))
        if not self.secret_file:
            found.append(("central.secret_file", "is needed when central.url is set"))
        for name in ("report_interval_s", "reconnect_min_s", "connect_timeout_s",
                     "day_resend_s"):
            if getattr(self, name) <= 0:
                found.append((f"central.{name}", "must be more than 0 seconds"))
        if self.reconnect_max_s < self.reconnect_min_s:
            found.append(("central.reconnect_max_s", "must not be less than reconnect_min_s"))
        if (self.max_message_bytes < 1024 or self.day_backfill_days < 0 or self.keep_days < 1
                or self.queued_steps < 1):
            found.append(("central", "need max_message_bytes >= 1024, day_backfill_days >= 0, "
                          "keep_days >= 1, queued_steps >= 1"))
        return found
