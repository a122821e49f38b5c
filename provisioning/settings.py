"""Provisioning settings: the `[provisioning]` table of branch.toml (where signed bundles come from).

A plain msgspec struct, so the config loads without python-tuf or any network code.
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

    def trust_folder(self, data_dir: str) -> Path:
        """Where trusted metadata lives: on the data disk, so rollback protection survives."""
        return Path(self.trust_dir) if self.trust_dir else Path(data_dir) / TRUST_SUBDIR
