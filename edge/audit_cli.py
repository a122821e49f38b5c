"""`branch-teller audit verify|checkpoints`: check the audit log's chain against the box's
signed checkpoints, and export those checkpoints for safekeeping off the box.

verify exits 0 when the log is intact, 1 when a row was edited, deleted, reordered or the
newest rows cut off (each problem on its own line), 2 when it cannot check (no database, no
chain yet, no key). It reads the database read-only.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge import audit_log, box_key
from edge.audit_chain import Anchor, Checkpoint, Verdict, public_key_hex, verify_log
from edge.config import BranchConfig

EXIT_INTACT, EXIT_TAMPERED, EXIT_CANNOT = 0, 1, 2


class CannotVerify(Exception):
    """The log cannot be checked at all (missing file, no chain, no key)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["verify", "checkpoints"])
    parser.add_argument("--db", help="the database (default DATA_DIR/branch.db)")
    parser.add_argument(
        "--checkpoints",
        metavar="FILE",
        dest="checkpoint_file",
        help="verify: also hold the log against checkpoints exported earlier "
        "(catches a truncation even if the box's own checkpoints were cut)",
    )
    parser.add_argument(
        "--public-key",
        metavar="HEX",
        help="verify: the box's public key (default: read from the box key "
        "DATA_DIR/box_ed25519.pem)",
    )
    parser.add_argument(
        "--export",
        metavar="FILE",
        help="checkpoints: write them as JSON lines to FILE (keep it off the box)",
    )


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


def _read(db: Path) -> tuple[list[dict[str, Any]], list[Anchor], list[Checkpoint]]:
    if not db.exists():
        raise CannotVerify(f"{db}: no such database")
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "audit_anchors" not in tables:
            raise CannotVerify(
                f"{db}: the audit log has no hash chain yet (the service chains "
                "it when it next starts)"
            )
        conn.row_factory = sqlite3.Row
        rows = [
            dict(r)
            for r in conn.execute(
                "SELECT id, at, actor, action, detail, prev_hash, hash FROM audit ORDER BY id"
            )
        ]
        conn.row_factory = None
        return rows, audit_log.anchors(conn), audit_log.checkpoints(conn)
    except sqlite3.Error as err:
        raise CannotVerify(f"{db}: cannot read the audit log: {err}") from err
    finally:
        conn.close()


def _exported(path: Path) -> list[Checkpoint]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [Checkpoint.from_json(json.loads(line)) for line in lines if line.strip()]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CannotVerify(f"{path}: not a checkpoint export: {err}") from err


def _key(args: argparse.Namespace, key_dir: Path) -> Ed25519PublicKey:
    try:
        if args.public_key:
            return box_key.public_key_from_hex(args.public_key)
        return box_key.public_key(key_dir / box_key.KEY_FILE)
    except box_key.BoxKeyError as err:
        raise CannotVerify(str(err)) from err


def describe(v: Verdict, anchors: list[Anchor], key: Ed25519PublicKey, extra: int) -> list[str]:
    """The verify report, line by line."""
    lines = [f"box key: {public_key_hex(key)}"]
    span = f"ids {v.first_id}-{v.last_id}" if v.rows else "empty"
    lines.append(f"chain: {v.rows} rows ({span})")
    genesis = anchors[0]
    if genesis.migrated_rows:
        lines.append(
            f"  rows {genesis.after_id + 1}-{genesis.after_id + genesis.migrated_rows} "
            "were written before the hash chain existed: they were chained from the "
            f"genesis marker when it was introduced ({_when(genesis.at)}); the chain "
            "vouches for them from then on only"
        )
    else:
        lines.append(f"  chained from the genesis marker ({_when(genesis.at)})")
    for a in anchors[1:]:
        lines.append(
            f"  rows up to {a.after_id} were removed by retention ({_when(a.at)}); "
            "the chain continues from that signed row"
        )
    cp = v.newest_checkpoint
    from_file = f" ({extra} from the export file)" if extra else ""
    if cp is None:
        lines.append(f"checkpoints: none signed yet{from_file}")
    else:
        lines.append(
            f"checkpoints: {v.checkpoints} signed{from_file}; the newest covers row "
            f"{cp.upto_id}, signed {_when(cp.at)}"
        )
    if v.unsigned_tail:
        lines.append(
            f"  {v.unsigned_tail} newer rows are chained but not yet signed (the next "
            "checkpoint covers them)"
        )
    if v.intact:
        lines.append("OK: the audit log is intact (no row edited, deleted, reordered or cut off)")
    else:
        lines.append(f"TAMPERED: {len(v.problems)} problem(s) found")
        lines += [f"  {p}" for p in v.problems]
    return lines


def verify(args: argparse.Namespace, db: Path) -> int:
    rows, anchors, box_checkpoints = _read(db)
    key = _key(args, db.parent)  # the box key lives beside its database
    exported = _exported(Path(args.checkpoint_file)) if args.checkpoint_file else []
    seen = {(c.seq, c.signature) for c in box_checkpoints}
    extra = [c for c in exported if (c.seq, c.signature) not in seen]
    verdict = verify_log(rows, anchors[-1], [*box_checkpoints, *extra], key)
    print(f"audit log: {db}")
    for line in describe(verdict, anchors, key, len(extra)):
        print(line)
    return EXIT_INTACT if verdict.intact else EXIT_TAMPERED


def checkpoints(args: argparse.Namespace, db: Path) -> int:
    _, _, found = _read(db)
    if args.export:
        out = Path(args.export)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text("".join(json.dumps(c.to_json()) + "\n" for c in found), encoding="utf-8")
        os.replace(tmp, out)
        print(
            f"{len(found)} checkpoints written to {out} (keep it off the box; "
            f"`branch-teller audit verify --checkpoints {out}` holds the log against it)"
        )
        return 0
    for c in found:
        print(
            f"#{c.seq:<5} {_when(c.at)}  rows up to {c.upto_id:<8} {c.upto_hash[:16]}…  "
            f"key {c.public_key[:16]}…"
        )
    print(f"{len(found)} checkpoints")
    return 0


def run_audit(config: BranchConfig, args: argparse.Namespace) -> int:
    db = Path(args.db) if args.db else Path(config.data_dir) / "branch.db"
    try:
        if args.action == "verify":
            return verify(args, db)
        return checkpoints(args, db)
    except CannotVerify as err:
        print(f"branch-teller audit: cannot verify: {err}", file=sys.stderr)
        return EXIT_CANNOT
