"""The box's own Ed25519 key: made on first start under the data folder, readable by the
service's user only (0600); it signs the audit log's checkpoints.

The private key never leaves the box; `branch-teller audit checkpoints --export` writes the
signed checkpoints, with the public key, for safekeeping elsewhere.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

log = logging.getLogger("branch_teller.box_key")

KEY_MODE = 0o600
KEY_FILE = "box_ed25519.pem"  # under the data folder, beside branch.db


class BoxKeyError(Exception):
    """The key file is missing (where it must exist), unreadable or not an Ed25519 key."""


def load_or_create(path: Path) -> Ed25519PrivateKey:
    """The box's signing key, generated (0600, never overwritten) if there is none yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE)
        except FileExistsError:  # another process made it a moment ago: use theirs
            return load(path)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        log.info("generated the box's audit signing key at %s", path)
        return key
    return load(path)


def load(path: Path) -> Ed25519PrivateKey:
    """Read the key; one readable by others is narrowed to 0600 (and said so)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("box key %s was readable by others (%o): set to 600", path, mode)
            path.chmod(KEY_MODE)
        key = load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as err:
        raise BoxKeyError(f"{path}: no box key (the service makes it on first start)") from err
    except (OSError, ValueError, TypeError) as err:
        raise BoxKeyError(f"{path}: cannot read the box key: {err}") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise BoxKeyError(f"{path}: not an Ed25519 key")
    return key


def public_key(path: Path) -> Ed25519PublicKey:
    """The public half, for verification on the box."""
    return load(path).public_key()


def public_key_from_hex(text: str) -> Ed25519PublicKey:
    """A public key given as 64 hex characters (as checkpoints and `audit verify` print it)."""
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text.strip()))
    except ValueError as err:
        raise BoxKeyError(f"not an Ed25519 public key (64 hex characters): {err}") from err
