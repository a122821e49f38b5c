"""Build a bundle: one component archive per artifact kind, ready to be added to a TUF repository.

A component is a deterministic tar (sorted names, zero mtimes and owners) of its files with
its ``component.json`` last, so one pass reads each file once: it is hashed while it is
archived. ``bundle.json`` lists the components; building again into the same folder keeps a
component's version when nothing in it changed and bumps it by one when something did, so
versions only ever grow and an unchanged model is never downloaded twice.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import msgspec

from provisioning import manifest as m

INDEX_FILE = "bundle.json"
TARGETS_DIR = "targets"
SKIP_DIRS = frozenset({"__pycache__", ".git", ".llm-pkgs"})

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ComponentSource:
    """What goes into one component: its identity and its files (archive path -> source)."""

    name: str
    kind: m.ComponentKind
    files: dict[str, Path]
    description: str = ""


class BundleEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One component of a bundle as the index lists it (the target path is the TUF name)."""

    target: str  # "stt/whisper-base-3.tar"
    name: str
    kind: m.ComponentKind
    version: int
    min_service_version: str
    bytes: int  # the archive's size
    digest: str  # sha256 over the component's (path, size, sha256) list: "same content"
    replaces: int | None = None


class BundleIndex(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A bundle: the component versions central publishes together (mix-and-match guard)."""

    bundle: str
    created: float
    components: list[BundleEntry]

    def entry(self, name: str) -> BundleEntry | None:
        """The component with this name, if the bundle has one."""
        return next((c for c in self.components if c.name == name), None)


class BundleError(ValueError):
    """A bundle cannot be built or read (a clear sentence, nothing half-written)."""


def encode_index(index: BundleIndex) -> bytes:
    """Canonical bytes of an index (sorted keys)."""
    return msgspec.json.format(msgspec.json.encode(index, order="sorted"), indent=2)


def decode_index(data: bytes) -> BundleIndex:
    """Parse an index with a clear error."""
    try:
        return msgspec.json.decode(data, type=BundleIndex)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BundleError(f"malformed bundle index: {exc}") from exc


def read_index(folder: Path) -> BundleIndex | None:
    """The index of a bundle folder, or None when the folder holds none yet."""
    path = folder / INDEX_FILE
    return decode_index(path.read_bytes()) if path.is_file() else None


def folder_files(folder: Path, prefix: str = "") -> dict[str, Path]:
    """Every file under folder (caches and hidden files left out), keyed by archive path."""
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for fname in sorted(filenames):
            if fname.startswith(".") or fname.endswith((".pyc", ".partial")):
                continue
            path = Path(dirpath) / fname
            found[prefix + path.relative_to(folder).as_posix()] = path
    return found


def content_digest(files: dict[str, m.FileEntry]) -> str:
    """One hash for the whole content: equal digests mean the component did not change."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(f"{rel}\0{files[rel].size}\0{files[rel].sha256}\n".encode())
    return h.hexdigest()


class _HashingReader(io.RawIOBase):
    """Feeds tarfile while hashing what it reads and reporting bytes (one pass per file)."""

    def __init__(self, f: IO[bytes], on_bytes: Callable[[int], None]) -> None:
        self._f, self._on_bytes = f, on_bytes
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._f.read(size)
        self.digest.update(chunk)
        self._on_bytes(len(chunk))
        return chunk


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _archive(source: ComponentSource, tmp: Path, say: Progress) -> dict[str, m.FileEntry]:
    """Write the files into tmp (no manifest yet) and return their manifest entries."""
    total = sum(p.stat().st_size for p in source.files.values()) or 1
    done = 0
    last = time.monotonic()
    entries: dict[str, m.FileEntry] = {}

    def on_bytes(n: int) -> None:
        nonlocal done, last
        done += n
        if time.monotonic() - last >= 1.0 and done < total:  # large components only
            last = time.monotonic()
            say(
                f"{source.kind} {source.name}: {100.0 * done / total:3.0f}% of {total / 1e6:.1f} MB"
            )

    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for rel in sorted(source.files):
            path = source.files[rel]
            size = path.stat().st_size
            with path.open("rb") as f:
                reader = _HashingReader(f, on_bytes)
                tar.addfile(_tarinfo(rel, size), reader)
            entries[rel] = m.FileEntry(size=size, sha256=reader.digest.hexdigest())
    return entries


def _append_manifest(tmp: Path, manifest: m.ComponentManifest) -> None:
    data = m.encode(manifest)
    with tarfile.open(tmp, "a", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_tarinfo(m.COMPONENT_FILE, len(data)), io.BytesIO(data))


def build_component(
    source: ComponentSource,
    out: Path,
    previous: BundleEntry | None,
    service_version: str,
    say: Progress,
) -> BundleEntry:
    """Archive one component; its version grows only when its content changed."""
    if "/" in source.name or not source.name or source.name.startswith("."):
        raise BundleError(f"component name {source.name!r} must be a plain file name")
    if not source.files:
        raise BundleError(f"{source.kind} {source.name}: no files")
    folder = out / TARGETS_DIR / source.kind
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{source.name}.tar.partial"
    entries = _archive(source, tmp, say)
    digest = content_digest(entries)
    if previous is not None and previous.digest == digest:
        # unchanged files: same version, same requirement (a newer service still loads it),
        # so the archive is byte for byte the one already published
        version, replaces = previous.version, previous.replaces
        service_version = previous.min_service_version
    elif previous is not None:
        version, replaces = previous.version + 1, previous.version
    else:
        version, replaces = 1, None
    manifest = m.ComponentManifest(
        name=source.name,
        kind=source.kind,
        version=version,
        min_service_version=service_version,
        files=entries,
        replaces=replaces,
        description=source.description,
    )
    _append_manifest(tmp, manifest)
    target = f"{source.kind}/{source.name}-{version}.tar"
    final = out / TARGETS_DIR / target
    tmp.replace(final)
    return BundleEntry(
        target=target,
        name=source.name,
        kind=source.kind,
        version=version,
        min_service_version=service_version,
        bytes=final.stat().st_size,
        digest=digest,
        replaces=replaces,
    )


def build_bundle(
    sources: list[ComponentSource],
    out: Path,
    service_version: str,
    say: Progress,
    now: Callable[[], float] = time.time,
) -> BundleIndex:
    """Build every component into out/targets and write out/bundle.json last."""
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise BundleError(f"two components share a name: {sorted(names)}")
    out.mkdir(parents=True, exist_ok=True)
    before = read_index(out)
    entries = []
    for source in sources:
        previous = before.entry(source.name) if before else None
        if previous is not None and previous.kind != source.kind:
            raise BundleError(f"{source.name}: was a {previous.kind} component, now {source.kind}")
        entry = build_component(source, out, previous, service_version, say)
        entries.append(entry)
        state = (
            "unchanged"
            if previous and previous.version == entry.version
            else f"version {entry.version}"
        )
        say(f"{entry.kind} {entry.name}: {state}, {entry.bytes / 1e6:.1f} MB -> {entry.target}")
    created = now()
    bundle_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(created))
    index = BundleIndex(bundle=bundle_id, created=created, components=entries)
    tmp = out / (INDEX_FILE + ".partial")
    tmp.write_bytes(encode_index(index))
    tmp.replace(out / INDEX_FILE)
    _remove_stale_archives(out, index)
    return index


def _remove_stale_archives(out: Path, index: BundleIndex) -> None:
    """Archives of superseded versions go: the repository already has what it published."""
    keep = {e.target for e in index.components}
    for path in _archives(out / TARGETS_DIR):
        if path.relative_to(out / TARGETS_DIR).as_posix() not in keep:
            path.unlink()


def _archives(folder: Path) -> Iterator[Path]:
    yield from (p for p in sorted(folder.glob("*/*.tar")) if p.is_file())
