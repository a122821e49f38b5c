"""The staffing changes a lobby manager can type for a what-if run, read and checked against
the branch's counters, services and classes."""

from __future__ import annotations

from typing import Literal

import msgspec

from edge.queue.settings import QueueSettings

CHANGE_HELP = """\
Changes (several separated by ';'):
  open c7              a closed counter opens now
  close c3             a counter stops calling after its current customer
  serve c4 wealth,loan a counter also takes these services
  prefer c4 vip        a counter takes this class (or service) first
  break c2 20          a counter pauses 20 minutes after its current customer"""

ChangeKind = Literal["open", "close", "serve", "prefer", "break"]


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One staffing change to try; `text` is how the manager typed it (and the audit log)."""

    kind: ChangeKind
    counter: str
    names: tuple[str, ...] = ()  # serve: services; prefer: services or classes
    minutes: float = 0.0  # break

    @property
    def text(self) -> str:
        """The change in the syntax `parse_changes` reads."""
        tail = ",".join(self.names) if self.names else ""
        if self.kind == "break":
            tail = f"{self.minutes:g}"
        return f"{self.kind} {self.counter} {tail}".strip()


class ChangeError(ValueError):
    """A change the branch's counters cannot make; the message says why."""


def parse_changes(text: str, settings: QueueSettings) -> list[Change]:
    """Read 'open c7; serve c4 wealth; break c2 20' against the branch's counters."""
    counters = {c.id for c in settings.counters}
    services = {s.id for s in settings.services}
    classes = {c.id for c in settings.classes}
    out: list[Change] = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        words = part.split()
        kind, counter, rest = words[0].lower(), (words[1] if len(words) > 1 else ""), words[2:]
        if kind not in ("open", "close", "serve", "prefer", "break"):
            raise ChangeError(f"{part!r}: start with open, close, serve, prefer or break")
        if counter not in counters:
            raise ChangeError(f"{part!r}: there is no counter {counter!r}")
        if kind in ("open", "close"):
            if rest:
                raise ChangeError(f"{part!r}: {kind} takes only a counter")
            out.append(Change(kind=kind, counter=counter))  # type: ignore[arg-type]
        elif kind == "break":
            try:
                minutes = float(rest[0]) if len(rest) == 1 else -1.0
            except ValueError:
                minutes = -1.0
            if not 0 < minutes <= 24 * 60:
                raise ChangeError(f"{part!r}: break takes minutes, e.g. 'break c2 20'")
            out.append(Change(kind="break", counter=counter, minutes=minutes))
        else:
            names = tuple(n for w in rest for n in w.split(",") if n)
            allowed = services if kind == "serve" else services | classes
            unknown = [n for n in names if n not in allowed]
            if not names or unknown:
                what = "services" if kind == "serve" else "services or classes"
                raise ChangeError(f"{part!r}: name {what} known here (unknown: {unknown})")
            out.append(Change(kind=kind, counter=counter, names=names))  # type: ignore[arg-type]
    if not out:
        raise ChangeError("no change given\n" + CHANGE_HELP)
    return out
