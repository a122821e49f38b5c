"""The box's TUF client against a real repository over HTTP on 127.0.0.1: what it accepts, what
it refuses, and that it keeps refusing after a restart."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, TargetFile

from provisioning import manifest as m
from provisioning.bundle import BundleEntry, BundleIndex, build_bundle, encode_index
from provisioning.repository import RepositoryError
from provisioning.trust import TrustError, last_status
from tests.trust_fixtures import MODEL_BYTES, box, build, make_central, serve, write_sources


def test_a_published_bundle_arrives_verified_and_is_not_fetched_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    central = make_central(tmp_path)
    real = tempfile.TemporaryFile

    def on_the_data_disk(*args: Any, **kwargs: Any) -> Any:
        assert kwargs.get("dir"), "a download went to the system temporary folder"
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", on_the_data_disk)
    with serve(central.folder) as (url, log):
        trust = box(tmp_path, central, url)
        fetched = trust.fetch_bundle(tmp_path / "slot", installed={})
        names = sorted(c.manifest.name for c in fetched.components)
        assert names == ["config-test-001", "kb-test-001", "whisper-base"]
        for comp in fetched.components:
            assert m.problems(comp.folder, comp.manifest) == []
        model = tmp_path / "slot" / "whisper-base" / "model.bin"
        assert model.stat().st_size == MODEL_BYTES
        assert trust.status.state == "ok" and not trust.status.alarm
        installed = {c.manifest.name: c.manifest.version for c in fetched.components}
        before = len(log.requests)
        again = box(tmp_path, central, url).fetch_bundle(tmp_path / "slot2", installed)
        assert again.components == [] and sorted(again.unchanged) == names
        assert not any(p.startswith("/targets/stt/") for p, _ in log.requests[before:])


def test_publishing_the_same_bundle_again_changes_nothing(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    before = central.repo.load("timestamp").signed.version
    assert central.repo.publish(central.bundle_dir, central.keys) == []
    assert central.repo.load("timestamp").signed.version == before
    central.rebuild(b"w2")  # a changed model: models and the index move, knowledge does not
    assert central.repo.load("knowledge").signed.version == 2
    assert central.repo.load("models").signed.version == 3
    assert central.repo.load("timestamp").signed.version == before + 1


def test_tampered_target_is_rejected_and_nothing_is_unpacked(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    stored = next((central.folder / "targets" / "stt").glob("*.tar"))
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same length, one byte flipped
    stored.write_bytes(bytes(data))
    with serve(central.folder) as (url, _):
        trust = box(tmp_path, central, url)
        with pytest.raises(TrustError, match="does not match its signed hash"):
            trust.fetch_bundle(tmp_path / "slot", installed={})
    assert trust.status.state == "rejected" and trust.status.alarm
    assert not (tmp_path / "slot" / "whisper-base").exists()
    # the service (another process, or after a restart) shows the same alarm without a check
    assert last_status(tmp_path / "box" / "trust") == trust.status
    assert box(tmp_path, central, url).status.state == "rejected"
    fresh = box(tmp_path / "new", central, url).status
    assert fresh.state == "unchecked" and not fresh.alarm
    assert list((tmp_path / "box" / "trust" / "partial").glob("*")) == []  # never resumed


def test_truncated_download_resumes_with_a_range_request(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    seen: list[tuple[int, int | None]] = []
    with serve(central.folder) as (url, log):
        log.cut_after[".whisper-base-1.tar"] = 1_000_000
        trust = box(tmp_path, central, url, progress=lambda _u, d, t: seen.append((d, t)))
        with pytest.raises(TrustError, match="will resume"):
            trust.fetch_bundle(tmp_path / "slot", installed={})
        assert trust.status.state == "unreachable"
        partial = list((tmp_path / "box" / "trust" / "partial").glob("*.partial"))
        assert [p.stat().st_size for p in partial] == [1_000_000]
        fetched = box(tmp_path, central, url).fetch_bundle(tmp_path / "slot", installed={})
        ranges = [r for p, r in log.requests if p.endswith(".whisper-base-1.tar")]
    assert ranges == [None, "bytes=1000000-"]
    assert "whisper-base" in [c.manifest.name for c in fetched.components]
    assert (
        m.problems(tmp_path / "slot" / "whisper-base", m.read(tmp_path / "slot" / "whisper-base"))
        == []
    )
    assert seen and seen[-1][0] == 1_000_000  # progress reported while downloading


def test_a_server_without_range_support_restarts_the_download(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    with serve(central.folder) as (url, log):
        log.ranges = False
        log.cut_after[".whisper-base-1.tar"] = 500_000
        with pytest.raises(TrustError):
            box(tmp_path, central, url).fetch_bundle(tmp_path / "slot", installed={})
        fetched = box(tmp_path, central, url).fetch_bundle(tmp_path / "slot", installed={})
    assert "whisper-base" in [c.manifest.name for c in fetched.components]


def test_metadata_signed_with_the_wrong_key_is_rejected(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    # An attacker with the online snapshot and timestamp keys but not the models key.
    models = central.repo.load("models")
    models.signed.targets["stt/whisper-base-9.tar"] = TargetFile.from_data(
        "stt/whisper-base-9.tar", b"evil", ["sha256"]
    )
    thief = CryptoSigner.generate_ed25519()
    central.repo._commit({"models": models}, {**central.keys, "models": thief})
    with serve(central.folder) as (url, _):
        trust = box(tmp_path, central, url)
        with pytest.raises(TrustError, match="models"):
            trust.fetch_bundle(tmp_path / "slot", installed={})
    assert trust.status.state == "rejected"


def _publish_index(
    central_repo: object, keys: dict[str, object], entries: list[BundleEntry], tmp: Path
) -> None:
    """Operations publishes an index naming these entries (bypassing publish()'s checks)."""
    from provisioning.repository import CURRENT_BUNDLE, Repository

    assert isinstance(central_repo, Repository)
    ops = central_repo.load("operations")
    data = tmp / "index.json"
    data.write_bytes(encode_index(BundleIndex(bundle="evil", created=0.0, components=entries)))
    central_repo._add_target(ops, CURRENT_BUNDLE, data, {"bundle": "evil"})
    central_repo._commit({"operations": ops}, keys)  # type: ignore[arg-type]


def test_a_knowledge_signed_model_is_rejected_by_the_box(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    repo, keys = central.repo, central.keys
    # The repository itself refuses: a knowledge editor's keys cannot publish a model.
    knowledge_only = {k: v for k, v in keys.items() if k not in ("models", "operations")}
    build(tmp_path / "b2", tmp_path / "s2", b"w2")
    assert any("skipped stt/" in line for line in repo.publish(tmp_path / "b2", knowledge_only))
    # A forged knowledge.json that lists a model: the box asks the models role and finds nothing.
    tar = next((tmp_path / "b2" / "targets" / "stt").glob("*.tar"))
    knowledge = repo.load("knowledge")
    forged = BundleEntry(
        target="stt/whisper-base-2.tar",
        name="whisper-base",
        kind="stt",
        version=2,
        min_service_version="0.1.0",
        bytes=tar.stat().st_size,
        digest="x",
    )
    repo._add_target(
        knowledge,
        forged.target,
        tar,
        {
            "component": {
                "name": "whisper-base",
                "kind": "stt",
                "version": 2,
                "min_service_version": "0.1.0",
            }
        },
    )
    repo._commit({"knowledge": knowledge}, keys)
    _publish_index(repo, keys, [forged], tmp_path)
    with serve(central.folder) as (url, _):
        trust = box(tmp_path, central, url)
        with pytest.raises(TrustError, match="not signed by the models role"):
            trust.fetch_bundle(tmp_path / "slot", installed={"whisper-base": 1})
    assert trust.status.state == "rejected"


def test_a_model_smuggled_under_the_knowledge_folder_is_rejected(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    repo, keys = central.repo, central.keys
    build(tmp_path / "b2", tmp_path / "s2", b"w2")
    tar = next((tmp_path / "b2" / "targets" / "stt").glob("*.tar"))
    knowledge = repo.load("knowledge")
    path = "knowledge/whisper-base-2.tar"
    repo._add_target(
        knowledge,
        path,
        tar,
        {
            "component": {
                "name": "whisper-base",
                "kind": "knowledge",
                "version": 2,
                "min_service_version": "0.1.0",
            }
        },
    )
    repo._commit({"knowledge": knowledge}, keys)
    entry = BundleEntry(
        target=path,
        name="whisper-base",
        kind="knowledge",
        version=2,
        min_service_version="0.1.0",
        bytes=tar.stat().st_size,
        digest="x",
    )
    _publish_index(repo, keys, [entry], tmp_path)
    with serve(central.folder) as (url, _):
        with pytest.raises(TrustError, match="its manifest says stt whisper-base"):
            box(tmp_path, central, url).fetch_bundle(tmp_path / "slot", installed={})
    assert not (tmp_path / "slot" / "whisper-base").exists()


def test_replayed_older_metadata_is_refused_even_after_a_restart(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    old = central.snapshot_copy(tmp_path / "old-repository")
    central.rebuild(b"w2")
    with serve(central.folder) as (url, _):
        box(tmp_path, central, url).fetch_bundle(tmp_path / "slot", installed={})
    shutil.rmtree(central.folder)
    shutil.copytree(old, central.folder)  # the attacker serves yesterday's signed metadata
    with serve(central.folder) as (url, _):
        restarted = box(tmp_path, central, url)  # a new process: only the data disk remembers
        with pytest.raises(TrustError):
            restarted.fetch_bundle(tmp_path / "slot3", installed={"whisper-base": 2})
        assert restarted.status.state == "rejected"
        assert "version" in restarted.status.detail.lower()
        # A box that had never seen the newer state would accept it: the disk is the guard.
        fresh = box(tmp_path / "other", central, url)
        assert fresh.check().state == "ok"


def test_an_older_component_never_activates(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    with serve(central.folder) as (url, _):
        trust = box(tmp_path, central, url)
        with pytest.raises(TrustError, match="older than the installed version 4"):
            trust.fetch_bundle(tmp_path / "slot", installed={"whisper-base": 4})
    assert trust.status.state == "rejected"
    # and central refuses to publish a replayed older build over a newer one
    central.rebuild(b"w2")
    shutil.rmtree(central.bundle_dir)
    build(central.bundle_dir, tmp_path / "s-old", b"w3")  # version 1 again, other bytes
    with pytest.raises(RepositoryError, match="older than the published 2"):
        central.repo.publish(central.bundle_dir, central.keys)


def test_a_component_needing_a_newer_service_is_refused(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    with serve(central.folder) as (url, _):
        trust = box(tmp_path, central, url)
        trust.service_version = "0.0.9"
        with pytest.raises(TrustError, match=r"needs service 0\.1\.0"):
            trust.fetch_bundle(tmp_path / "slot", installed={})
        # a signed but malformed requirement is refused with a sentence, not a crash
        build_bundle(
            write_sources(tmp_path / "s2", b"w2"), central.bundle_dir, "latest", lambda _s: None
        )
        central.repo.publish(central.bundle_dir, central.keys)
        with pytest.raises(TrustError, match="not a dotted version: 'latest'"):
            box(tmp_path, central, url).fetch_bundle(tmp_path / "slot", installed={})


def test_unreachable_central_is_a_status_not_a_crash(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    with serve(central.folder) as (url, _):
        trust = box(tmp_path, central, url)
        assert trust.check().state == "ok"
    status = box(tmp_path, central, url).check()  # the server is gone now
    assert status.state == "unreachable" and status.alarm
    assert (
        status.timestamp_version
        == Metadata.from_file(str(central.folder / "metadata" / "timestamp.json")).signed.version
    )


def test_a_download_rate_cap_keeps_the_branch_link_free(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    seen: list[tuple[float, int]] = []
    with serve(central.folder) as (url, _):
        trust = box(
            tmp_path, central, url, rate_bps=2_000_000,
            progress=lambda u, d, _t: seen.append((time.monotonic(), d)) if "whisper" in u else None,
        )
        fetched = trust.fetch_bundle(tmp_path / "slot", installed={})
    assert "whisper-base" in [c.manifest.name for c in fetched.components]
    # the 3 MB model: at 2 MB/s no faster than about 1.5 s from its first byte to its last
    first = next(t for t, d in seen if d > 0)
    last, size = seen[-1]
    assert size > 3_000_000
    assert last - first >= (size - 262_144) / 2_000_000 * 0.9
