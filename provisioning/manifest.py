"""The component manifest: what one provisioned artifact is, file by file (the bundle contract).

A bundle is a set of components, one per artifact kind. Each component is a folder holding
its files and a ``component.json`` naming its kind, its monotonically increasing version, the
oldest service version that can load it, the version it replaces, and the size and sha256 of
every file. The box verifies a component against its manifest before it ever activates it;
the trust layer (TUF) vouches for the manifest itself. Pure: reads files, no network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import msgspec

COMPONENT_FILE = "component.json"
CHUNK = 4 * 1024 * 1024

ComponentKind = Literal["stt", "vad", "router", "llm", "tts", "knowledge", "intents", "config"]
COMPONENT_KINDS: tuple[ComponentKind, ...] = (
    "stt", "vad", "router", "llm", "tts", "knowledge", "intents", "config",
)
# Who may sign a kind: knowledge editors sign knowledge (and the intent catalog's answers),
# never models; the models role signs models; branch config is signed by operations.
SIGNING_ROLE: dict[ComponentKind, str] = {
    "stt": "models", "vad": "models", "router": "models", "llm": "models", "tts": "models",
    "knowledge": "knowledge", "intents": "knowledge", "config": "operations",
}


class FileEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One file of a component: its size in bytes and its sha256 (hex)."""

    size: int
    sha256: str


class ComponentManifest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One provisioned artifact (e.g. the Whisper model, the zh voice, the knowledge pack)."""

    name: str  # e.g. "whisper-base", "zh-databaker", "kb-sample-branch"
    kind: ComponentKind
    version: int  # monotonically increasing per name; the box never activates an older one
    min_service_version: str  # "0.1.0": the oldest service that can load it
    files: dict[str, FileEntry]  # path relative to the component folder -> entry
    replaces: int | None = None  # the version this one supersedes, if any
    description: str = ""

    @property
    def total_bytes(self) -> int:
        """What a download of this component costs."""
        return sum(f.size for f in self.files.values())


class ManifestError(ValueError):
    """A component folder does not match its manifest, or the manifest is malformed."""


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in chunks so multi-gigabyte models do not fill memory."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe_files(
    folder: Path, progress: Callable[[int, int], None] | None = None
) -> dict[str, FileEntry]:
    """Size and hash of every file under folder (the manifest itself excluded)."""
    paths = [
        p for p in sorted(folder.rglob("*")) if p.is_file() and p.name != COMPONENT_FILE
    ]
    total = sum(p.stat().st_size for p in paths)
    done = 0
    entries: dict[str, FileEntry] = {}
    for p in paths:
        size = p.stat().st_size
        entries[p.relative_to(folder).as_posix()] = FileEntry(size=size, sha256=file_sha256(p))
        done += size
        if progress is not None:
            progress(done, total)
    return entries


def encode(manifest: ComponentManifest) -> bytes:
    """Canonical bytes (sorted keys) so the same manifest always hashes the same."""
    return msgspec.json.format(msgspec.json.encode(manifest, order="sorted"), indent=2)


def decode(data: bytes) -> ComponentManifest:
    """Parse a manifest, with a clear error for a malformed one."""
    try:
        return msgspec.json.decode(data, type=ComponentManifest)
    except msgspec.ValidationError as exc:
        raise ManifestError(f"malformed component manifest: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ManifestError(f"component manifest is not JSON: {exc}") from exc


def write(folder: Path, manifest: ComponentManifest) -> Path:
    """Write folder/component.json."""
    path = folder / COMPONENT_FILE
    path.write_bytes(encode(manifest))
    return path


def read(folder: Path) -> ComponentManifest:
    """Read folder/component.json."""
    path = folder / COMPONENT_FILE
    if not path.is_file():
        raise ManifestError(f"{folder} has no {COMPONENT_FILE}")
    return decode(path.read_bytes())


def problems(folder: Path, manifest: ComponentManifest, *, hashes: bool = True) -> list[str]:
    """Every way the folder differs from its manifest (empty: the folder is intact)."""
    found: list[str] = []
    for rel, entry in sorted(manifest.files.items()):
        if rel.startswith("/") or ".." in Path(rel).parts:
            found.append(f"{rel}: path leaves the component folder")
            continue
        path = folder / rel
        if not path.is_file():
            found.append(f"{rel}: missing")
        elif path.stat().st_size != entry.size:
            found.append(f"{rel}: {path.stat().st_size} bytes, manifest says {entry.size}")
        elif hashes and file_sha256(path) != entry.sha256:
            found.append(f"{rel}: sha256 differs from the manifest")
    extra = set(describe_paths(folder)) - set(manifest.files)
    found.extend(f"{rel}: not in the manifest" for rel in sorted(extra))
    return found


def describe_paths(folder: Path) -> list[str]:
    """Relative paths of every file under folder, the manifest excluded."""
    return [
        p.relative_to(folder).as_posix()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != COMPONENT_FILE
    ]


def version_tuple(version: str) -> tuple[int, ...]:
    """'0.10.2' -> (0, 10, 2), for comparing min_service_version with the running service."""
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError as exc:
        raise ManifestError(f"not a dotted version: {version!r}") from exc
