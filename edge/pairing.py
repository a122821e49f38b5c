"""Device pairing: a short one-time code staff hand to a kiosk or display, exchanged once for
the device's own long credential, and revocation of that credential.

Pure functions over the store's connection (run them with `Store.call`, on its thread) plus
the code alphabet. Only SHA-256 digests are kept: a copy of the database pairs no device and
logs none in. A code is single use, expires (`[pairing] code_ttl_s`), and a newer code for a
device replaces an unused older one.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final, Literal

import sqlite_utils

# No 0/O, 1/I/L: a code is read off a console screen and typed on a touch keyboard.
ALPHABET: Final = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_CHARS: Final = 8  # 31^8 = 8.5e11 codes; the exchange is rate limited per address
TOKEN_BYTES: Final = 32

Refusal = Literal["unknown", "expired", "used"]


def digest(secret: str) -> str:
    """What is stored and compared for a code or a paired credential."""
    return hashlib.sha256(secret.encode()).hexdigest()


def normalize(code: str) -> str:
    """A code as typed: case, spaces and dashes do not matter."""
    return "".join(ch for ch in code.upper() if ch not in " -\t")[:64]


def new_code() -> str:
    """A fresh random code, shown as `XXXX-XXXX`."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARS))
    return f"{raw[:4]}-{raw[4:]}"


@dataclass(frozen=True)
class Paired:
    """A redeemed code: the device and the credential it keeps (returned once)."""

    device: str
    role: str
    credential: str

    def __repr__(self) -> str:  # the credential stays out of any log line
        return f"Paired(device={self.device!r}, role={self.role!r})"


def ensure_tables(db: sqlite_utils.Database) -> None:
    """Create the pairing tables on first use."""
    names = set(db.table_names())
    if "device_pairings" not in names:
        db.table("device_pairings").create(
            {
                "digest": str,
                "device": str,
                "role": str,
                "created_at": float,
                "expires_at": float,
                "used_at": float,
                "by": str,
            },
            pk="digest",
        )
        db.table("device_pairings").create_index(["device"])
    if "device_tokens" not in names:
        db.table("device_tokens").create(
            {"digest": str, "device": str, "issued_at": float, "revoked_at": float}, pk="digest"
        )
        db.table("device_tokens").create_index(["device"])


def create_code(
    db: sqlite_utils.Database,
    device: str,
    role: str,
    ttl_s: float,
    by: str,
    now: float | None = None,
) -> tuple[str, float]:
    """A new one-time code for `device` and when it expires; unused older codes die."""
    ensure_tables(db)
    now = time.time() if now is None else now
    code = new_code()
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "UPDATE device_pairings SET used_at = ? WHERE device = ? AND used_at IS NULL",
            (now, device),
        )
        conn.execute(
            "INSERT INTO device_pairings(digest, device, role, created_at, expires_at, "
            "used_at, by) VALUES (?, ?, ?, ?, ?, NULL, ?)",
            (digest(normalize(code)), device, role, now, now + ttl_s, by),
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return code, now + ttl_s


def redeem(db: sqlite_utils.Database, code: str, now: float | None = None) -> Paired | Refusal:
    """Exchange a code for a new device credential (once), or say why not."""
    ensure_tables(db)
    now = time.time() if now is None else now
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(
            "SELECT device, role, expires_at, used_at FROM device_pairings WHERE digest = ?",
            (digest(normalize(code)),),
        ).fetchone()
        if row is None:
            conn.execute("ROLLBACK")
            return "unknown"
        device, role, expires_at, used_at = row
        if used_at is not None:
            conn.execute("ROLLBACK")
            return "used"
        if now >= expires_at:
            conn.execute("ROLLBACK")
            return "expired"
        token = secrets.token_urlsafe(TOKEN_BYTES)
        conn.execute(
            "UPDATE device_pairings SET used_at = ? WHERE digest = ?",
            (now, digest(normalize(code))),
        )
        conn.execute(
            "INSERT INTO device_tokens(digest, device, issued_at, revoked_at) "
            "VALUES (?, ?, ?, NULL)",
            (digest(token), device, now),
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return Paired(device=str(device), role=str(role), credential=token)


def revoke(db: sqlite_utils.Database, device: str, now: float | None = None) -> int:
    """End every paired credential and unused code of a device; how many credentials ended."""
    ensure_tables(db)
    now = time.time() if now is None else now
    with db.conn:
        db.conn.execute(
            "UPDATE device_pairings SET used_at = ? WHERE device = ? AND used_at IS NULL",
            (now, device),
        )
        return db.conn.execute(
            "UPDATE device_tokens SET revoked_at = ? WHERE device = ? AND revoked_at IS NULL",
            (now, device),
        ).rowcount


def token_table(db: sqlite_utils.Database) -> dict[str, tuple[str, bool]]:
    """Every paired credential's digest -> (device, revoked)."""
    ensure_tables(db)
    rows = db.conn.execute("SELECT digest, device, revoked_at FROM device_tokens").fetchall()
    return {str(d): (str(dev), rev is not None) for d, dev, rev in rows}


def overview(db: sqlite_utils.Database, now: float | None = None) -> list[dict[str, Any]]:
    """Per device: live paired credentials, revoked ones, and a code still waiting."""
    ensure_tables(db)
    now = time.time() if now is None else now
    out: dict[str, dict[str, Any]] = {}
    for device, revoked_at in db.conn.execute("SELECT device, revoked_at FROM device_tokens"):
        row = out.setdefault(
            device, {"device": device, "paired": 0, "revoked": 0, "code_expires_at": None}
        )
        row["revoked" if revoked_at is not None else "paired"] += 1
    for device, expires_at in db.conn.execute(
        "SELECT device, expires_at FROM device_pairings WHERE used_at IS NULL AND expires_at > ?",
        (now,),
    ):
        row = out.setdefault(
            device, {"device": device, "paired": 0, "revoked": 0, "code_expires_at": None}
        )
        row["code_expires_at"] = expires_at
    return [out[k] for k in sorted(out)]
