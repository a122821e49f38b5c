"""The audit log's hash chain and signed checkpoints, and their verification (pure: rows in,
findings out).

Each row commits to the one before it: its hash is sha256 over the RFC 8785 canonical JSON of
the row (id, at, actor, action, detail) with the previous row's hash. A chain alone shows an
edited, deleted or reordered row, but not the newest rows cut off, so every so often the box
signs a checkpoint (the newest row's id and hash) with its Ed25519 key; checkpoints exported
off the box catch a truncation even if the box's own copy of them is cut too.

The chain starts at an anchor: the genesis marker (GENESIS_HASH) when the chain was created,
or the last row a retention purge removed (rows are only ever removed from the oldest end, up
to a signed checkpoint).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

GENESIS_HASH = "0" * 64  # what the first row of a new chain follows
ROW_FIELDS = ("id", "at", "actor", "action", "detail")
CHECKPOINT_KIND = "branch-teller audit checkpoint v1"


def row_hash(row: Mapping[str, Any], prev_hash: str) -> str:
    """The hash a row carries: its fields and the previous row's hash, canonical JSON."""
    body = {name: row[name] for name in ROW_FIELDS}
    body["prev_hash"] = prev_hash
    return hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def public_key_hex(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key as hex: how checkpoints and the CLI name the box's key."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the log held `upto_id` rows ending in `upto_hash` at `at`."""

    seq: int
    at: float
    branch: str
    upto_id: int
    upto_hash: str
    public_key: str
    signature: str

    def payload(self) -> bytes:
        """The bytes signed (everything but the signature, canonical JSON)."""
        body = {k: v for k, v in asdict(self).items() if k != "signature"}
        body["kind"] = CHECKPOINT_KIND
        return rfc8785.dumps(body)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        return cls(
            seq=int(data["seq"]),
            at=float(data["at"]),
            branch=str(data["branch"]),
            upto_id=int(data["upto_id"]),
            upto_hash=str(data["upto_hash"]),
            public_key=str(data["public_key"]),
            signature=str(data["signature"]),
        )


def sign_checkpoint(
    key: Ed25519PrivateKey, seq: int, at: float, branch: str, upto_id: int, upto_hash: str
) -> Checkpoint:
    """A checkpoint over the newest row, signed by the box's key."""
    unsigned = Checkpoint(
        seq=seq,
        at=at,
        branch=branch,
        upto_id=upto_id,
        upto_hash=upto_hash,
        public_key=public_key_hex(key.public_key()),
        signature="",
    )
    signature = key.sign(unsigned.payload()).hex()
    return Checkpoint(**{**asdict(unsigned), "signature": signature})


def signature_valid(cp: Checkpoint, key: Ed25519PublicKey) -> bool:
    """True when `key` signed exactly this checkpoint."""
    if cp.public_key != public_key_hex(key):
        return False
    try:
        key.verify(bytes.fromhex(cp.signature), cp.payload())
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Anchor:
    """Where the chain starts: after row `after_id`, whose hash was `after_hash`."""

    after_id: int
    after_hash: str
    reason: str  # "genesis" or "retention"
    at: float
    migrated_rows: int = 0  # genesis: rows written before the chain existed, chained then


@dataclass
class Verdict:
    """What `branch-teller audit verify` found."""

    rows: int = 0
    first_id: int | None = None
    last_id: int | None = None
    checkpoints: int = 0
    newest_checkpoint: Checkpoint | None = None
    unsigned_tail: int = 0  # rows after the newest valid checkpoint
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_log(
    rows: Sequence[Mapping[str, Any]],
    anchor: Anchor,
    checkpoints: Sequence[Checkpoint],
    key: Ed25519PublicKey,
) -> Verdict:
    """Walk the chain from its anchor, then hold it against every signed checkpoint."""
    v = Verdict(
        rows=len(rows),
        first_id=rows[0]["id"] if rows else None,
        last_id=rows[-1]["id"] if rows else None,
    )
    _walk_chain(rows, anchor, v)
    _check_checkpoints(rows, anchor, checkpoints, key, v)
    return v


def _written_as(r: Mapping[str, Any], window: int = 64) -> int | None:
    """The id a row had when it was written, if it is a nearby row moved to another place."""
    rid = int(r["id"])
    for k in range(max(1, rid - window), rid + window + 1):
        if k != rid and row_hash({**r, "id": k}, str(r["prev_hash"])) == r["hash"]:
            return k
    return None


def _walk_chain(rows: Sequence[Mapping[str, Any]], anchor: Anchor, v: Verdict) -> None:
    by_hash = {str(r["hash"]): int(r["id"]) for r in rows}
    expected_id, expected_prev = anchor.after_id + 1, anchor.after_hash
    for r in rows:
        rid = int(r["id"])
        if rid > expected_id:
            gap = f"{expected_id}" if rid == expected_id + 1 else f"{expected_id}-{rid - 1}"
            v.problems.append(f"row {gap}: missing (deleted)")
        elif rid < expected_id:
            v.problems.append(f"row {rid}: out of sequence after row {expected_id - 1}")
        if row_hash(r, str(r["prev_hash"])) != r["hash"]:
            moved = _written_as(r)
            v.problems.append(
                f"row {rid}: holds the row written as row {moved} (rows reordered)"
                if moved is not None
                else f"row {rid}: content does not match its hash (edited after it was written)"
            )
        elif r["prev_hash"] != expected_prev and rid <= expected_id:
            before = by_hash.get(str(r["prev_hash"]))
            v.problems.append(
                f"row {rid}: was written after the row now numbered {before}, not after "
                "the row before it (rows reordered)"
                if before is not None and before != rid - 1
                else f"row {rid}: does not follow the row before it (that row was edited, "
                "replaced or deleted)"
            )
        expected_id, expected_prev = rid + 1, str(r["hash"])


def _check_checkpoints(
    rows: Sequence[Mapping[str, Any]],
    anchor: Anchor,
    checkpoints: Sequence[Checkpoint],
    key: Ed25519PublicKey,
    v: Verdict,
) -> None:
    hashes = {int(r["id"]): str(r["hash"]) for r in rows}
    last_id = int(rows[-1]["id"]) if rows else anchor.after_id
    newest: Checkpoint | None = None
    for cp in checkpoints:
        if not signature_valid(cp, key):
            v.problems.append(
                f"checkpoint {cp.seq}: signature does not verify with the box's "
                "key (forged or altered)"
            )
            continue
        v.checkpoints += 1
        if newest is None or cp.upto_id > newest.upto_id:
            newest = cp
        if cp.upto_id > last_id:
            v.problems.append(
                f"checkpoint {cp.seq}: signed for rows up to {cp.upto_id}, the log "
                f"ends at row {last_id} (truncated: {cp.upto_id - last_id} "
                "newest rows removed)"
            )
        elif cp.upto_id == anchor.after_id and anchor.reason == "retention":
            if cp.upto_hash != anchor.after_hash:
                v.problems.append(f"checkpoint {cp.seq}: does not match the retention anchor")
        elif cp.upto_id > anchor.after_id and hashes.get(cp.upto_id) != cp.upto_hash:
            v.problems.append(
                f"checkpoint {cp.seq}: row {cp.upto_id} is not the row that was "
                "signed (the log was rewritten up to it)"
            )
    v.newest_checkpoint = newest
    covered = newest.upto_id if newest is not None else anchor.after_id
    v.unsigned_tail = sum(1 for rid in hashes if rid > covered)
