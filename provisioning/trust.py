"""The box side of trust: python-tuf's ngclient verifies a published bundle before it is used.

The root of trust is the bank's ``root.json`` (``[provisioning] root_file``, or one a bank's
build placed in this package as ``trusted_root.json``), passed to ngclient as ``bootstrap``.
Everything ngclient has trusted since (newer roots, timestamp, snapshot, targets, delegated
roles) lives under the trust folder on the data disk, so rollback and freeze protection
survive reboots. A component is accepted only when: TUF vouches for its archive (length and
hash, signed by the role its kind belongs to), the bundle index, the signed target and the
archive's own manifest agree on name, kind and version, it is not older than the installed
one, this service is new enough for it, and every file matches ``manifest.problems()``.
ngclient judges expiry on the system clock while it refreshes; the box then judges every
trusted role again on its own (injectable) clock, which raises the stale and expired alarms.
"""

from __future__ import annotations

import shutil
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata, TargetFile
from tuf.ngclient import Updater

from provisioning import manifest as m
from provisioning.bundle import BundleEntry, BundleError, BundleIndex, decode_index
from provisioning.fetchers import DownloadProgress, MirrorFetcher, ResumableFetcher
from provisioning.repository import CURRENT_BUNDLE
from provisioning.settings import ProvisioningSettings
from provisioning.trust_status import (
    TrustState,
    TrustStatus,
    assess_expiry,
    decode_status,
    encode_status,
    worst,
)

PACKAGED_ROOT = "trusted_root.json"
STATUS_FILE = "status.json"


class TrustError(Exception):
    """A check or download that failed; ``status`` is what the box shows (and alarms on)."""

    def __init__(self, status: TrustStatus) -> None:
        super().__init__(status.detail)
        self.status = status


@dataclass(frozen=True)
class VerifiedComponent:
    """A component folder that TUF and its manifest both vouch for, ready for a slot."""

    manifest: m.ComponentManifest
    folder: Path
    target: str


@dataclass
class BundleFetch:
    """What a fetch brought: verified new components and those already installed."""

    index: BundleIndex
    components: list[VerifiedComponent] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def packaged_root() -> bytes | None:
    """The root a bank's own build of this package carries (none in the open-source tree)."""
    ref = resources.files("provisioning").joinpath(PACKAGED_ROOT)
    return ref.read_bytes() if ref.is_file() else None


def last_status(trust_dir: Path) -> TrustStatus | None:
    """What the last check concluded (any process: the service, a cron fetch, the CLI)."""
    try:
        return decode_status((trust_dir / STATUS_FILE).read_bytes())
    except OSError:
        return None


def load_root(settings: ProvisioningSettings) -> bytes | None:
    """The bank's root of trust: the configured file, else the packaged one, else None."""
    if settings.root_file:
        return Path(settings.root_file).read_bytes()  # missing: the operator must know
    return packaged_root()


class BoxTrust:
    """One box's view of central's repository (or a USB mirror of it). Blocking (network,
    hashing): the service calls it from a worker thread, one call at a time."""

    def __init__(
        self,
        root: bytes,
        trust_dir: Path,
        *,
        repository_url: str = "",
        mirror: Path | None = None,
        clock: Callable[[], float] = time.time,
        alarm_margin_s: float = 43_200.0,
        timeout_s: float = 30.0,
        progress: DownloadProgress | None = None,
        service_version: str = "",
        rate_bps: int = 0,
    ) -> None:
        if not repository_url and mirror is None:
            raise ValueError("give a repository URL or a mirror folder")
        self.root, self.trust_dir = root, trust_dir
        self.repository_url = repository_url.rstrip("/")
        self.mirror, self.clock = mirror, clock
        self.alarm_margin_s, self.timeout_s = alarm_margin_s, timeout_s
        self.progress, self.rate_bps = progress, rate_bps
        self.service_version = service_version or _own_version()
        self._fetcher: ResumableFetcher | MirrorFetcher | None = None
        self.status = last_status(trust_dir) or TrustStatus(
            state="unchecked", detail="the repository has not been checked yet", checked_at=clock()
        )

    @classmethod
    def from_settings(
        cls, settings: ProvisioningSettings, data_dir: str, **kwargs: Any
    ) -> BoxTrust | None:
        """The box's trust from branch.toml; None when no root or no source is configured."""
        root = load_root(settings)
        if root is None or not (settings.repository_url or settings.mirror_path):
            return None
        return cls(
            root,
            settings.trust_folder(data_dir),
            repository_url=settings.repository_url,
            mirror=Path(settings.mirror_path) if settings.mirror_path else None,
            alarm_margin_s=settings.expiry_alarm_s,
            timeout_s=settings.download_timeout_s,
            rate_bps=settings.download_rate_bps,
            **kwargs,
        )

    # metadata ---------------------------------------------------------------------------
    def _updater(self) -> Updater:
        metadata_dir = self.trust_dir / "metadata"
        metadata_dir.mkdir(parents=True, exist_ok=True)
        if self.mirror is not None:
            self._fetcher = MirrorFetcher(self.mirror, self.trust_dir / "partial", self._progress)
            md_url, t_url = MirrorFetcher.base_url("metadata"), MirrorFetcher.base_url("targets")
        else:
            md_url = f"{self.repository_url}/metadata/"
            t_url = f"{self.repository_url}/targets/"
            self._fetcher = ResumableFetcher(
                self.trust_dir / "partial", t_url, self.timeout_s, self._progress, self.rate_bps
            )
        return Updater(
            str(metadata_dir),
            md_url,
            str(self.trust_dir / "downloads"),
            t_url,
            self._fetcher,
            bootstrap=self.root,
        )

    def _progress(self, url: str, done: int, total: int | None) -> None:
        if self.progress is not None:
            self.progress(url, done, total)

    def _set(self, state: TrustState, detail: str) -> TrustStatus:
        expires = self.trusted_expiry()
        ts = expires.get("timestamp")
        self.status = TrustStatus(
            state=state,
            detail=detail,
            checked_at=self.clock(),
            timestamp_expires=ts,
            timestamp_version=self._ts_version(),
        )
        self._save()
        return self.status

    def _save(self) -> None:
        self.trust_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.trust_dir / f".{STATUS_FILE}.partial"
        tmp.write_bytes(encode_status(self.status))
        tmp.replace(self.trust_dir / STATUS_FILE)

    def trusted_expiry(self) -> dict[str, float]:
        """Expiry (epoch s) of every role the box has trusted so far, read from its disk."""
        found: dict[str, float] = {}
        folder = self.trust_dir / "metadata"
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                md = Metadata.from_bytes(path.read_bytes())
            except (OSError, ValueError, tuf_errors.RepositoryError):
                continue
            found[path.stem] = md.signed.expires.timestamp()
        return found

    def _ts_version(self) -> int | None:
        path = self.trust_dir / "metadata" / "timestamp.json"
        try:
            return int(Metadata.from_bytes(path.read_bytes()).signed.version)
        except (OSError, ValueError, tuf_errors.RepositoryError):
            return None

    def _clock_check(self) -> TrustStatus:
        state, detail = assess_expiry(self.trusted_expiry(), self.clock(), self.alarm_margin_s)
        return self._set(state, detail)

    def _fail(self, exc: BaseException, what: str) -> TrustError:
        """Map a TUF failure onto the box's states, keeping the worse of it and the clock's."""
        if isinstance(exc, tuf_errors.ExpiredMetadataError):
            state: TrustState = "expired"
        elif isinstance(exc, tuf_errors.DownloadHTTPError) and exc.status_code == 404:
            state = "rejected"  # metadata promised a file the repository does not have
        elif isinstance(exc, tuf_errors.DownloadLengthMismatchError):
            state = "rejected"
        elif isinstance(exc, tuf_errors.DownloadError | OSError):
            state = "unreachable"
        else:
            state = "rejected"
        failed = self._set(state, f"{what}: {type(exc).__name__}: {exc}")
        clock = self._clock_check()
        self.status = worst(clock, failed) if state == "unreachable" else failed
        self._save()
        return TrustError(self.status)

    def check(self) -> TrustStatus:
        """Refresh trusted metadata (never raises): the status for health and the console."""
        try:
            self._refresh()
        except TrustError as err:
            return err.status
        return self.status

    def _refresh(self) -> Updater:
        try:
            updater = self._updater()  # a bad installed root fails here: rejected, with why
            updater.refresh()
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError, OSError) as exc:
            raise self._fail(exc, "metadata refresh failed") from exc
        status = self._clock_check()
        if status.state == "expired":
            raise TrustError(status)
        return updater

    # targets ----------------------------------------------------------------------------
    def fetch_bundle(
        self, dest: Path, installed: Mapping[str, int], bundle: str = CURRENT_BUNDLE
    ) -> BundleFetch:
        """Verify and unpack every component of a published bundle that is newer than the
        installed one into dest/NAME; all or nothing (raises TrustError on any problem)."""
        updater = self._refresh()
        info = self._targetinfo(updater, bundle, "operations")
        try:
            index = decode_index(Path(self._download(updater, info)).read_bytes())
        except BundleError as exc:
            raise TrustError(self._set("rejected", f"{bundle}: {exc}")) from exc
        result = BundleFetch(index)
        for entry in index.components:
            info = self._targetinfo(updater, entry.target, m.SIGNING_ROLE[entry.kind])
            if not self._wanted(entry, info, installed):
                result.unchanged.append(entry.name)
                continue
            result.components.append(self._component(updater, entry, info, dest))
        if self.status.state != "stale":
            self._set(
                "ok",
                f"bundle {index.bundle} verified: {len(result.components)} new, "
                f"{len(result.unchanged)} unchanged",
            )
        return result

    def _targetinfo(self, updater: Updater, path: str, role: str) -> TargetFile:
        try:
            info = updater.get_targetinfo(path)
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError, OSError) as exc:
            raise self._fail(exc, f"{path}: metadata of role {role}") from exc
        if info is None:
            raise TrustError(
                self._set(
                    "rejected",
                    f"{path} is not signed by the {role} role (or not published): refused",
                )
            )
        return info

    def _reject(self, entry: BundleEntry, why: str) -> TrustError:
        return TrustError(
            self._set("rejected", f"{entry.kind} {entry.name} {entry.version}: {why}")
        )

    def _wanted(self, entry: BundleEntry, info: TargetFile, installed: Mapping[str, int]) -> bool:
        """False when already installed; raises for anything that must never activate."""
        signed = (info.custom or {}).get("component", {})
        folder = entry.target.split("/", 1)[0]
        if not (
            folder == entry.kind == signed.get("kind")
            and signed.get("name") == entry.name
            and signed.get("version") == entry.version
        ):
            raise self._reject(entry, f"the bundle index and the signed target disagree ({signed})")
        have = installed.get(entry.name)
        if have is not None and entry.version < have:
            raise self._reject(entry, f"older than the installed version {have} (rollback refused)")
        try:
            too_new = m.version_tuple(entry.min_service_version) > m.version_tuple(
                self.service_version
            )
        except m.ManifestError as exc:
            raise self._reject(entry, str(exc)) from exc
        if too_new:
            raise self._reject(
                entry,
                f"needs service {entry.min_service_version}, this box runs {self.service_version}",
            )
        return have != entry.version

    def _download(self, updater: Updater, info: TargetFile) -> str:
        """The verified file; a cut-off download keeps its partial bytes for the next try."""
        try:
            path = updater.download_target(info)
        except tuf_errors.LengthOrHashMismatchError as exc:
            self._discard(info)  # bad bytes: never resume them
            raise self._fail(exc, f"{info.path} does not match its signed hash") from exc
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError, OSError) as exc:
            raise self._fail(exc, f"{info.path} download failed (will resume)") from exc
        self._discard(info)
        return path

    def _discard(self, info: TargetFile) -> None:
        if isinstance(self._fetcher, ResumableFetcher):
            folder, _, base = info.path.rpartition("/")
            name = f"{folder}/{info.hashes['sha256']}.{base}".lstrip("/")
            self._fetcher.discard(f"{self.repository_url}/targets/{name}")

    def _component(
        self, updater: Updater, entry: BundleEntry, info: TargetFile, dest: Path
    ) -> VerifiedComponent:
        final = dest / entry.name
        if final.is_dir() and _intact(final, entry):  # verified by an earlier, interrupted run
            return VerifiedComponent(m.read(final), final, entry.target)
        archive = Path(self._download(updater, info))
        staging = dest / f".{entry.name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(staging, filter="data")
            manifest = m.read(staging)
        except (tarfile.TarError, m.ManifestError, OSError) as exc:
            raise self._reject(entry, f"archive unreadable: {exc}") from exc
        finally:
            archive.unlink(missing_ok=True)
        if (manifest.name, manifest.kind, manifest.version) != (
            entry.name,
            entry.kind,
            entry.version,
        ):
            raise self._reject(
                entry, f"its manifest says {manifest.kind} {manifest.name} {manifest.version}"
            )
        problems = m.problems(staging, manifest)
        if problems:
            raise self._reject(entry, "files differ from the manifest: " + "; ".join(problems[:3]))
        shutil.rmtree(final, ignore_errors=True)
        staging.replace(final)
        return VerifiedComponent(manifest, final, entry.target)


def _intact(folder: Path, entry: BundleEntry) -> bool:
    try:
        manifest = m.read(folder)
    except m.ManifestError:
        return False
    return (manifest.name, manifest.kind, manifest.version) == (
        entry.name,
        entry.kind,
        entry.version,
    ) and not m.problems(folder, manifest)


def _own_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("branch-teller")
    except PackageNotFoundError:
        return "0.0.0"
