"""The fleet store's tables, their migrations, and the two databases it runs on.

The SQL is written once, in the subset SQLite and PostgreSQL share (`?` placeholders,
`INSERT ... ON CONFLICT`, TEXT/BIGINT/DOUBLE PRECISION columns, JSON kept as TEXT). The only
differences live in `Dialect`: PostgreSQL's placeholders are `%s`, and the lock taken while
migrating. A migration is appended to MIGRATIONS, never edited once released.
"""

from __future__ import annotations

from dataclasses import dataclass

# Migration n (1-based) brings the schema from version n-1 to n.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE boxes (
            box_id TEXT PRIMARY KEY,
            branch TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '[]',
            secret_hash TEXT NOT NULL,
            service_version TEXT NOT NULL DEFAULT '',
            bundle TEXT NOT NULL DEFAULT '',
            components TEXT NOT NULL DEFAULT '{}',
            health TEXT NOT NULL DEFAULT '{}',
            last_contact DOUBLE PRECISION,
            enabled INTEGER NOT NULL DEFAULT 1,
            created_at DOUBLE PRECISION NOT NULL
        )""",
        """CREATE TABLE rollouts (
            rollout_id TEXT PRIMARY KEY,
            bundle TEXT NOT NULL,
            stages TEXT NOT NULL,
            soak_s DOUBLE PRECISION NOT NULL,
            max_failures INTEGER NOT NULL,
            state TEXT NOT NULL,
            stage INTEGER NOT NULL DEFAULT 0,
            created_at DOUBLE PRECISION NOT NULL,
            stage_started_at DOUBLE PRECISION NOT NULL DEFAULT 0,
            stage_healthy_at DOUBLE PRECISION,
            reason TEXT NOT NULL DEFAULT '',
            forgiven TEXT NOT NULL DEFAULT '[]',
            revision BIGINT NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE rollout_boxes (
            rollout_id TEXT NOT NULL REFERENCES rollouts (rollout_id),
            box_id TEXT NOT NULL REFERENCES boxes (box_id),
            stage INTEGER NOT NULL,
            step TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (rollout_id, box_id)
        )""",
        "CREATE INDEX rollout_boxes_by_box ON rollout_boxes (box_id)",
        """CREATE TABLE days (
            box_id TEXT NOT NULL REFERENCES boxes (box_id),
            day TEXT NOT NULL,
            aggregates TEXT NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (box_id, day)
        )""",
        "CREATE INDEX days_by_day ON days (day)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)"


class SchemaError(Exception):
    """The database holds a schema this program cannot use."""


@dataclass(frozen=True)
class Dialect:
    """What differs between the two databases, and nothing else."""

    name: str
    placeholder: str  # what `?` becomes
    migration_lock: str  # taken inside the migrating transaction ("" = the BEGIN locks)

    def sql(self, statement: str) -> str:
        """The statement in this database's placeholder style (our SQL never holds a `?`
        or `%` other than placeholders)."""
        return statement if self.placeholder == "?" else statement.replace("?", self.placeholder)


SQLITE = Dialect("sqlite", "?", "")
POSTGRES = Dialect("postgresql", "%s", "LOCK TABLE schema_version IN EXCLUSIVE MODE")


def pending(current: int) -> list[tuple[int, tuple[str, ...]]]:
    """Migrations to run on a database at `current` (refusing one newer than we know)."""
    if current > SCHEMA_VERSION:
        raise SchemaError(f"the fleet store is at schema version {current}, newer than this "
                          f"branch-teller knows ({SCHEMA_VERSION}): upgrade branch-teller")
    return [(n, MIGRATIONS[n - 1]) for n in range(current + 1, SCHEMA_VERSION + 1)]
