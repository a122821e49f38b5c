"""The central side of trust: a TUF repository kept with python-tuf's stable metadata API.

Top-level roles root, targets, snapshot and timestamp; targets delegates each artifact kind to
one role with its own key (``models``, ``knowledge``, ``operations``, see ``SIGNING_ROLE``), so
a knowledge editor's key can vouch for knowledge and never for a model. Consistent snapshots:
metadata files are versioned (``3.snapshot.json``) and targets hash-prefixed, so any static
HTTP server or CDN can serve the folder and a half-finished publish never mixes states.
Keys are PEM files (mode 0600, never in git); keep root and targets keys offline.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from provisioning.bundle import BundleEntry, BundleIndex, encode_index, read_index
from provisioning.manifest import SIGNING_ROLE

TOP_ROLES = ("root", "targets", "snapshot", "timestamp")
DELEGATED_ROLES = ("models", "knowledge", "operations")
BUNDLES = "bundles"  # the bundle indexes, signed by operations
CURRENT_BUNDLE = f"{BUNDLES}/current.json"


def role_paths(role: str) -> list[str]:
    """Target paths a delegated role may sign: its kinds' folders (operations: also bundles)."""
    paths = [f"{kind}/*" for kind, owner in SIGNING_ROLE.items() if owner == role]
    return [*paths, f"{BUNDLES}/*"] if role == "operations" else paths


@dataclass(frozen=True)
class Lifetimes:
    """How long each role's metadata stays valid, in days (timestamp: bump it more often)."""

    root: float = 365.0
    targets: float = 365.0
    delegated: float = 90.0
    snapshot: float = 7.0
    timestamp: float = 2.0


class RepositoryError(ValueError):
    """A publish that would be unsafe or cannot be signed; the repository is left unchanged."""


def save_key(folder: Path, role: str, signer: CryptoSigner) -> Path:
    """Write a private key as PEM, readable by its owner only; never overwrites a key."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{role}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(signer.private_bytes)
    return path


def load_key(path: Path) -> CryptoSigner:
    """A signer from a PEM private key file (the public key and key id follow from it)."""
    return CryptoSigner(load_pem_private_key(path.read_bytes(), None))


def load_keys(folder: Path) -> dict[str, Signer]:
    """Every role key present in folder (a knowledge editor's folder holds knowledge.pem only)."""
    roles = (*TOP_ROLES, *DELEGATED_ROLES)
    return {
        role: load_key(folder / f"{role}.pem")
        for role in roles
        if (folder / f"{role}.pem").is_file()
    }


def generate_keys(folder: Path) -> dict[str, Signer]:
    """One fresh ed25519 key per role, saved under folder."""
    keys: dict[str, Signer] = {}
    for role in (*TOP_ROLES, *DELEGATED_ROLES):
        signer = CryptoSigner.generate_ed25519()
        save_key(folder, role, signer)
        keys[role] = signer
    return keys


class Repository:
    """A repository folder: metadata/ (versioned files, timestamp.json) and targets/."""

    def __init__(
        self,
        folder: Path,
        clock: Callable[[], float] = time.time,
        lifetimes: Lifetimes | None = None,
    ) -> None:
        self.folder = folder
        self.metadata_dir = folder / "metadata"
        self.targets_dir = folder / "targets"
        self.clock = clock
        self.lifetimes = lifetimes or Lifetimes()

    @classmethod
    def create(
        cls,
        folder: Path,
        keys: Mapping[str, Signer],
        clock: Callable[[], float] = time.time,
        lifetimes: Lifetimes | None = None,
    ) -> Repository:
        """A new repository: version 1 of every role, no targets yet."""
        repo = cls(folder, clock, lifetimes)
        if repo.metadata_dir.exists():
            raise RepositoryError(f"{repo.metadata_dir} exists: this is already a repository")
        missing = [r for r in (*TOP_ROLES, *DELEGATED_ROLES) if r not in keys]
        if missing:
            raise RepositoryError(f"creating a repository needs every role's key: {missing}")
        repo.metadata_dir.mkdir(parents=True)
        repo.targets_dir.mkdir(exist_ok=True)
        lt = repo.lifetimes
        root = Root(expires=repo._expires(lt.root), consistent_snapshot=True)
        for role in TOP_ROLES:
            root.add_key(keys[role].public_key, role)
        repo._write(Metadata(root), [keys["root"]])
        delegations = Delegations(keys={}, roles={})
        for role in DELEGATED_ROLES:
            key = keys[role].public_key
            delegations.keys[key.keyid] = key
            assert delegations.roles is not None
            delegations.roles[role] = DelegatedRole(
                name=role, keyids=[key.keyid], threshold=1, terminating=True, paths=role_paths(role)
            )
            repo._write(Metadata(Targets(expires=repo._expires(lt.delegated))), [keys[role]], role)
        repo._write(
            Metadata(Targets(expires=repo._expires(lt.targets), delegations=delegations)),
            [keys["targets"]],
        )
        snapshot = Snapshot(expires=repo._expires(lt.snapshot))
        for role in DELEGATED_ROLES:
            snapshot.meta[f"{role}.json"] = MetaFile(version=1)
        repo._write(Metadata(snapshot), [keys["snapshot"]])
        repo._write(Metadata(Timestamp(expires=repo._expires(lt.timestamp))), [keys["timestamp"]])
        return repo

    # reading -----------------------------------------------------------------------------
    def load(self, role: str) -> Metadata[Any]:
        """The newest version of a role's metadata in this repository."""
        if role == "timestamp":
            return Metadata.from_file(str(self.metadata_dir / "timestamp.json"))
        if role == "root":
            versions = [int(p.name.split(".")[0]) for p in self.metadata_dir.glob("*.root.json")]
            return Metadata.from_file(str(self.metadata_dir / f"{max(versions)}.root.json"))
        timestamp: Timestamp = self.load("timestamp").signed
        if role == "snapshot":
            version = timestamp.snapshot_meta.version
        else:
            snapshot: Snapshot = self.load("snapshot").signed
            version = snapshot.meta[f"{role}.json"].version
        return Metadata.from_file(str(self.metadata_dir / f"{version}.{role}.json"))

    def published(self, role: str) -> dict[str, TargetFile]:
        """Target path -> target of one delegated role, as boxes see it now."""
        targets: Targets = self.load(role).signed
        return dict(targets.targets)

    # writing -----------------------------------------------------------------------------
    def _expires(self, days: float) -> datetime:
        return datetime.fromtimestamp(self.clock() + days * 86_400.0, UTC).replace(microsecond=0)

    def _write(self, md: Metadata[Any], signers: list[Signer], name: str | None = None) -> None:
        md.signatures.clear()
        for signer in signers:
            md.sign(signer, append=True)
        name = name or md.signed.type
        filename = "timestamp.json" if name == "timestamp" else f"{md.signed.version}.{name}.json"
        tmp = self.metadata_dir / f".{filename}.partial"
        tmp.write_bytes(md.to_bytes(JSONSerializer(compact=False)))
        tmp.replace(self.metadata_dir / filename)

    def _bump(self, md: Metadata[Any], days: float) -> Metadata[Any]:
        md.signed.version += 1
        md.signed.expires = self._expires(days)
        return md

    def _add_target(
        self, md: Metadata[Targets], path: str, data_file: Path, custom: dict[str, Any]
    ) -> None:
        target = TargetFile.from_file(path, str(data_file), ["sha256"])
        target.unrecognized_fields["custom"] = custom
        folder, _, base = path.rpartition("/")
        stored = self.targets_dir / folder / f"{target.hashes['sha256']}.{base}"
        stored.parent.mkdir(parents=True, exist_ok=True)
        if not stored.exists():
            tmp = stored.with_name(f".{stored.name}.partial")
            shutil.copyfile(data_file, tmp)
            tmp.replace(stored)
        md.signed.targets[path] = target

    def _check_newer(self, md: Metadata[Targets], entry: BundleEntry, data_file: Path) -> bool:
        """True if entry must be added; raises if it would replay an older or altered version."""
        for path, target in md.signed.targets.items():
            known = target.custom.get("component", {}) if target.custom else {}
            if known.get("name") != entry.name:
                continue
            if known["version"] > entry.version:
                raise RepositoryError(
                    f"{entry.name} {entry.version} is older than the "
                    f"published {known['version']}: versions only grow"
                )
            if known["version"] == entry.version:
                fresh = TargetFile.from_file(path, str(data_file), ["sha256"])
                if fresh.hashes != target.hashes or path != entry.target:
                    raise RepositoryError(
                        f"{entry.name} {entry.version} is already published "
                        "with other content: build a new version"
                    )
                return False
        return True

    def publish(self, bundle_dir: Path, keys: Mapping[str, Signer]) -> list[str]:
        """Add a built bundle's components (each by its kind's role) and, with the operations
        key, the bundle index; then a new snapshot and timestamp. Returns what changed."""
        index = read_index(bundle_dir)
        if index is None:
            raise RepositoryError(f"{bundle_dir} holds no bundle.json: run `bundle build` first")
        for role in ("snapshot", "timestamp"):
            if role not in keys:
                raise RepositoryError(f"publishing needs the online {role} key")
        changed: list[str] = []
        loaded: dict[str, Metadata[Targets]] = {}
        dirty: set[str] = set()
        for entry in index.components:
            role = SIGNING_ROLE[entry.kind]
            if role not in keys:
                changed.append(f"skipped {entry.target}: signed by {role}, no {role} key here")
                continue
            md = loaded[role] = loaded.get(role) or self.load(role)
            data_file = bundle_dir / "targets" / entry.target
            if self._check_newer(md, entry, data_file):
                for old in [
                    p
                    for p, t in md.signed.targets.items()
                    if (t.custom or {}).get("component", {}).get("name") == entry.name
                ]:
                    del md.signed.targets[old]  # boxes only ever want the newest
                self._add_target(md, entry.target, data_file, {"component": _custom(entry)})
                changed.append(entry.target)
                dirty.add(role)
        if "operations" in keys:
            ops = loaded["operations"] = loaded.get("operations") or self.load("operations")
            if self._add_index(index, ops, loaded):
                changed.append(CURRENT_BUNDLE)
                dirty.add("operations")
        if dirty:
            self._commit({role: loaded[role] for role in sorted(dirty)}, keys)
        return changed

    def _add_index(
        self, index: BundleIndex, ops: Metadata[Targets], roles: dict[str, Metadata[Targets]]
    ) -> bool:
        """Point bundles/current.json at this index; False when it already does."""
        for entry in index.components:
            role = SIGNING_ROLE[entry.kind]
            md = roles.get(role) or self.load(role)
            if entry.target not in md.signed.targets:
                raise RepositoryError(
                    f"the bundle names {entry.target}, which {role} has not "
                    "published: publish it with that role's key first"
                )
        data = encode_index(index)
        current = ops.signed.targets.get(CURRENT_BUNDLE)
        if current is not None and current.hashes == TargetFile.from_data("", data).hashes:
            return False
        staging = self.folder / ".staging"
        staging.mkdir(exist_ok=True)
        for path in (f"{BUNDLES}/{index.bundle}.json", CURRENT_BUNDLE):
            tmp = staging / path.replace("/", "_")
            tmp.write_bytes(data)
            self._add_target(ops, path, tmp, {"bundle": index.bundle})
            tmp.unlink()
        return True

    def _commit(self, roles: dict[str, Metadata[Targets]], keys: Mapping[str, Signer]) -> None:
        """Write the changed delegated roles, then snapshot, then timestamp (readers follow
        timestamp, so they see the old state or the new one, never a mix)."""
        snapshot = self._bump(self.load("snapshot"), self.lifetimes.snapshot)
        for role, md in roles.items():
            days = self.lifetimes.targets if role == "targets" else self.lifetimes.delegated
            self._write(self._bump(md, days), [keys[role]], role)
            snapshot.signed.meta[f"{role}.json"] = MetaFile(version=md.signed.version)
        self._write(snapshot, [keys["snapshot"]])
        timestamp = self._bump(self.load("timestamp"), self.lifetimes.timestamp)
        timestamp.signed.snapshot_meta = MetaFile(version=snapshot.signed.version)
        self._write(timestamp, [keys["timestamp"]])

    def bump_timestamp(self, keys: Mapping[str, Signer]) -> int:
        """A fresh timestamp (run daily): boxes that hear nothing new raise a stale alarm."""
        timestamp = self._bump(self.load("timestamp"), self.lifetimes.timestamp)
        self._write(timestamp, [keys["timestamp"]])
        return int(timestamp.signed.version)

    def renew(self, keys: Mapping[str, Signer], within_days: float) -> list[str]:
        """Re-sign every role that expires within the window and whose key is here (run it
        from the same cron as the timestamp; offline roles when their keys come out)."""
        horizon = self._expires(within_days)
        done: list[str] = []
        root = self.load("root")
        if root.signed.expires <= horizon:
            if "root" in keys:
                self._write(self._bump(root, self.lifetimes.root), [keys["root"]])
                done.append(f"root v{root.signed.version}")
            else:
                done.append("root expires soon: needs the (offline) root key")
        roles: dict[str, Metadata[Targets]] = {}
        for role in ("targets", *DELEGATED_ROLES):
            md = self.load(role)
            if md.signed.expires <= horizon:
                if role in keys:
                    roles[role] = md
                else:
                    done.append(f"{role} expires soon: needs the {role} key")
        if roles or self.load("snapshot").signed.expires <= horizon:
            self._commit(roles, keys)
            done.extend(
                [
                    *(f"{role} v{md.signed.version}" for role, md in roles.items()),
                    "snapshot",
                    "timestamp",
                ]
            )
        elif self.load("timestamp").signed.expires <= horizon:
            done.append(f"timestamp v{self.bump_timestamp(keys)}")
        return done

    def rotate_root(self, old: list[Signer], new: Signer) -> int:
        """Root v(n+1) trusting only the new root key, signed by the old keys and the new one,
        so boxes that trust v(n) follow without reinstalling."""
        root: Metadata[Root] = self._bump(self.load("root"), self.lifetimes.root)
        for keyid in list(root.signed.roles["root"].keyids):
            root.signed.revoke_key(keyid, "root")
        root.signed.add_key(new.public_key, "root")
        self._write(root, [*old, new])
        return int(root.signed.version)


def _custom(entry: BundleEntry) -> dict[str, Any]:
    """What boxes learn before downloading: identity, version and what it needs."""
    return {
        "name": entry.name,
        "kind": entry.kind,
        "version": entry.version,
        "min_service_version": entry.min_service_version,
        "replaces": entry.replaces,
    }
