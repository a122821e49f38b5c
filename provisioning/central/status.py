"""`central status`: the fleet table, per rollout and per box (pure: values in, text out)."""

from __future__ import annotations

from typing import Any

from provisioning.central.fleet import Box, Rollout, RolloutBox
from provisioning.central.wire import STEPS


def ago(seconds: float) -> str:
    """"3 min ago" for a human scanning a table."""
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def rollout_status(rollout: Rollout, rows: list[RolloutBox]) -> dict[str, Any]:
    """A rollout's line: its boxes counted per step, its stage, state and reason."""
    counts = {step: 0 for step in STEPS}
    for row in rows:
        counts[row.step] = counts.get(row.step, 0) + 1
    stage = rollout.stages[min(rollout.stage, len(rollout.stages) - 1)]
    return {"rollout": rollout.rollout_id, "bundle": rollout.bundle, "state": rollout.state,
            "stage": rollout.stage + 1, "stages": len(rollout.stages), "stage_name": stage.name,
            "reason": rollout.reason, "counts": counts, "soak_s": rollout.soak_s,
            "max_failures": rollout.max_failures,
            "failed_boxes": {r.box_id: f"{r.step}: {r.reason}" if r.reason else r.step
                             for r in rows if r.step in ("failed", "rolled_back")}}


def box_status(box: Box, now: float, stale_s: float,
               steps: dict[str, str] | None = None) -> dict[str, Any]:
    """A box's line; `steps` is its step in the rollout shown, if any."""
    silent = None if box.last_contact is None else now - box.last_contact
    return {"box": box.box_id, "branch": box.branch, "tags": box.cohort_tags,
            "enabled": box.enabled, "bundle": box.bundle, "service_version": box.service_version,
            "trust": str(box.health.get("trust", "")), "last_contact": box.last_contact,
            "silent_s": silent, "stale": silent is None or silent > stale_s,
            "step": (steps or {}).get(box.box_id, "")}


def fleet_status(boxes: list[Box], rollouts: list[tuple[Rollout, list[RolloutBox]]],
                 now: float, stale_s: float) -> dict[str, Any]:
    """Everything `central status --json` prints."""
    steps: dict[str, str] = {}
    for _, rows in rollouts[-1:]:  # the box column shows the newest rollout's step
        steps = {r.box_id: r.step for r in rows}
    return {"now": now, "stale_s": stale_s,
            "rollouts": [rollout_status(r, rows) for r, rows in rollouts],
            "boxes": [box_status(b, now, stale_s, steps) for b in boxes]}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    return ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in [header, *rows]]


def render_status(status: dict[str, Any]) -> str:
    """The fleet table as text: rollouts first, then boxes (stale ones flagged)."""
    lines: list[str] = []
    head = ["ROLLOUT", "BUNDLE", "STATE", "STAGE", *[s.upper().replace("_", " ") for s in STEPS]]
    rows = [[r["rollout"], r["bundle"], r["state"], f"{r['stage']}/{r['stages']} {r['stage_name']}",
             *[str(r["counts"][s]) for s in STEPS]] for r in status["rollouts"]]
    lines += _table(head, rows) if rows else ["no rollouts"]
    for r in status["rollouts"]:
        if r["reason"]:
            lines.append(f"  {r['rollout']}: {r['reason']}")
    lines.append("")
    return "\n".join([*lines, render_boxes(status["boxes"], status["now"], status["stale_s"])])


def render_boxes(boxes: list[dict[str, Any]], now: float, stale_s: float) -> str:
    """The box table (from box_status lines); stale enabled boxes flagged and counted."""
    head = ["BOX", "BRANCH", "TAGS", "BUNDLE", "VERSION", "STEP", "TRUST", "LAST CONTACT"]
    rows, stale = [], 0
    for b in boxes:
        contact = "never" if b["last_contact"] is None else ago(now - b["last_contact"])
        if b["stale"] and b["enabled"]:
            contact += "  STALE"
            stale += 1
        trust = b["trust"].split(":", 1)[0] if b["trust"] else "-"
        rows.append([b["box"] + ("" if b["enabled"] else " (disabled)"), b["branch"] or "-",
                     ",".join(b["tags"]) or "-", b["bundle"] or "-",
                     b["service_version"] or "-", b["step"] or "-", trust, contact])
    lines = _table(head, rows) if rows else ["no boxes (add one: branch-teller central box add)"]
    if stale:
        lines.append(f"{stale} enabled boxes silent for more than {stale_s:g} s")
    return "\n".join(lines)
