"""The box's updater settings (`[updates]` in branch.toml): pure values, no I/O."""

from __future__ import annotations

import msgspec


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
