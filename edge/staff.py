"""Staff accounts and shift sessions: argon2id password hashes, short-lived opaque tokens.

Accounts live in the box's SQLite (`staff` table); a login issues a random token of which
only the SHA-256 digest is kept (`staff_sessions`), so a copy of the database logs no one
in. Sessions are held in memory for the check at every websocket upgrade and mirrored to
the database so a restart does not end a shift. Hashing runs in a worker thread (argon2 is
deliberately slow); nothing here logs a password, a hash or a token.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from edge.roles import STAFF_ROLES, Staff

# Demo accounts, created only by `serve --demo` (and the tests' demo service): user,
# password, role, counter. README and `make run` print them.
DEMO_STAFF: tuple[tuple[str, str, str, str | None], ...] = (
    ("manager", "demo-manager", "manager", "c4"),
    ("teller-1", "demo-teller-1", "teller", "c1"),
    ("teller-2", "demo-teller-2", "teller", "c2"),
    ("admin", "demo-admin", "admin", None),
    ("auditor", "demo-auditor", "auditor", None),
)
MIN_PASSWORD = 10  # staff passwords (demo ones excepted)


class StaffError(Exception):
    """An account operation that cannot be done (unknown user, weak password...)."""


def hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    """argon2id with the branch's cost settings."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def token_digest(token: str) -> str:
    """What is stored and compared for a session token (never the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """One shift login: whose, until when, and when the password was last re-entered."""

    digest: str
    user: str
    role: str
    counter: str | None
    issued_at: float
    expires_at: float
    confirmed_at: float | None = None

    def staff(self) -> Staff:
        return Staff(self.user, self.role, self.counter, self.confirmed_at)

    def __repr__(self) -> str:  # the digest stays out of any log line
        return f"Session(user={self.user!r}, role={self.role!r}, expires_at={self.expires_at})"


@dataclass
class SessionBook:
    """Live sessions by token digest, with an injected clock (pure: no I/O)."""

    ttl_s: float
    clock: Callable[[], float] = time.time
    _live: dict[str, Session] = field(default_factory=dict)

    def issue(self, user: str, role: str, counter: str | None) -> tuple[str, Session]:
        """A new token (returned once, to the client) and its session."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(token_digest(token), user, role, counter, now, now + self.ttl_s,
                          confirmed_at=now)
        self._live[session.digest] = session
        return token, session

    def restore(self, session: Session) -> None:
        if session.expires_at > self.clock():
            self._live[session.digest] = session

    def check(self, token: str) -> Session | None:
        """The live session of a token; None when unknown, revoked or expired."""
        session = self._live.get(token_digest(token))
        if session is None:
            return None
        if session.expires_at <= self.clock():
            del self._live[session.digest]
            return None
        return session

    def get(self, digest: str) -> Session | None:
        session = self._live.get(digest)
        return session if session is not None and session.expires_at > self.clock() else None

    def confirm(self, digest: str) -> Session | None:
        """The password was re-entered now: overrides are allowed for a few minutes."""
        session = self.get(digest)
        if session is None:
            return None
        self._live[digest] = replace(session, confirmed_at=self.clock())
        return self._live[digest]

    def revoke(self, digest: str) -> Session | None:
        return self._live.pop(digest, None)

    def sessions(self) -> list[Session]:
        """Every session held in memory (expired ones included until checked)."""
        return list(self._live.values())

    def revoke_user(self, user: str) -> list[Session]:
        gone = [s for s in self._live.values() if s.user == user]
        for s in gone:
            del self._live[s.digest]
        return gone


# ------------------------------------------------------------ database (store thread)


def ensure_tables(db: sqlite_utils.Database) -> None:
    """Create the staff tables if this database predates them."""
    names = db.table_names()
    if "staff" not in names:
        db.table("staff").create(
            {"user": str, "role": str, "counter": str, "hash": str, "disabled": int,
             "created_at": float, "changed_at": float}, pk="user")
    if "staff_sessions" not in names:
        db.table("staff_sessions").create(
            {"digest": str, "user": str, "issued_at": float, "expires_at": float,
             "revoked": int}, pk="digest")


def account(db: sqlite_utils.Database, user: str) -> dict[str, Any] | None:
    ensure_tables(db)
    rows = list(db.table("staff").rows_where("user = ?", [user]))
    return rows[0] if rows else None


def accounts(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every account without its hash (for `staff list`)."""
    ensure_tables(db)
    return [{k: v for k, v in row.items() if k != "hash"}
            for row in db.table("staff").rows_where(order_by="user")]


def add_account(db: sqlite_utils.Database, ph: PasswordHasher, user: str, password: str,
                role: str, counter: str | None, *, replace_existing: bool = False,
                min_password: int = MIN_PASSWORD) -> None:
    """Create (or, for the demo, reset) an account with an argon2id hash of its password."""
    ensure_tables(db)
    if role not in STAFF_ROLES:
        raise StaffError(f"unknown role {role!r}; one of {', '.join(STAFF_ROLES)}")
    if role == "teller" and not counter:
        raise StaffError("a teller needs --counter (the counter they serve at)")
    if len(password) < min_password:
        raise StaffError(f"a staff password needs at least {min_password} characters")
    if not replace_existing and account(db, user) is not None:
        raise StaffError(f"staff account {user!r} exists; use `staff passwd`")
    now = time.time()
    db.table("staff").upsert({"user": user, "role": role, "counter": counter,
                              "hash": ph.hash(password), "disabled": 0, "created_at": now,
                              "changed_at": now}, pk="user")


def set_password(db: sqlite_utils.Database, ph: PasswordHasher, user: str,
                 password: str) -> None:
    if account(db, user) is None:
        raise StaffError(f"no staff account {user!r}")
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"a staff password needs at least {MIN_PASSWORD} characters")
    db.table("staff").update(user, {"hash": ph.hash(password), "changed_at": time.time()})
    revoke_user_sessions(db, user)


def disable(db: sqlite_utils.Database, user: str) -> None:
    if account(db, user) is None:
        raise StaffError(f"no staff account {user!r}")
    db.table("staff").update(user, {"disabled": 1, "changed_at": time.time()})
    revoke_user_sessions(db, user)


def revoke_user_sessions(db: sqlite_utils.Database, user: str) -> None:
    ensure_tables(db)
    db.execute("UPDATE staff_sessions SET revoked = 1 WHERE user = ?", [user])


# A valid argon2id hash of a random password: unknown users cost the same work as known ones.
_DUMMY: dict[str, str] = {}


def check_password(ph: PasswordHasher, row: dict[str, Any] | None, password: str) -> bool:
    """Whether `password` opens this enabled account (the same work for no account)."""
    if row is None or row["disabled"]:
        key = f"{ph.time_cost}/{ph.memory_cost}/{ph.parallelism}"
        dummy = _DUMMY.setdefault(key, ph.hash(secrets.token_hex(16)))
        _check(ph, dummy, password)
        return False
    return _check(ph, str(row["hash"]), password)


def _check(ph: PasswordHasher, stored: str, password: str) -> bool:
    try:
        return ph.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def save_session(db: sqlite_utils.Database, session: Session) -> None:
    ensure_tables(db)
    db.table("staff_sessions").insert(
        {"digest": session.digest, "user": session.user, "issued_at": session.issued_at,
         "expires_at": session.expires_at, "revoked": 0}, pk="digest", replace=True)
    db.execute("DELETE FROM staff_sessions WHERE expires_at < ?", [session.issued_at])


def revoke_session(db: sqlite_utils.Database, digest: str) -> None:
    ensure_tables(db)
    db.execute("UPDATE staff_sessions SET revoked = 1 WHERE digest = ?", [digest])


def live_sessions(db: sqlite_utils.Database, now: float) -> list[Session]:
    """Sessions to restore at start: not revoked, not expired, account still enabled."""
    ensure_tables(db)
    rows = db.execute(
        "SELECT s.digest, s.user, a.role, a.counter, s.issued_at, s.expires_at "
        "FROM staff_sessions s JOIN staff a ON a.user = s.user "
        "WHERE s.revoked = 0 AND s.expires_at > ? AND a.disabled = 0", [now]).fetchall()
    return [Session(digest=r[0], user=r[1], role=r[2], counter=r[3], issued_at=r[4],
                    expires_at=r[5]) for r in rows]
