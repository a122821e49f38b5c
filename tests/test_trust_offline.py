"""Trust over time and without a network: expiry on the box's clock, a frozen repository, root
key rotation followed by an existing box, and a USB mirror with the same checks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata

from provisioning import manifest as m
from provisioning.repository import Lifetimes
from provisioning.trust import BoxTrust, TrustError
from provisioning.trust_status import assess_expiry, worst
from tests.conftest import REPO
from tests.trust_fixtures import box, make_central, serve

DAY = 86_400.0


def test_assess_expiry_names_the_state_and_the_role() -> None:
    now = 1_000_000.0
    assert assess_expiry({"timestamp": now + 2 * DAY, "root": now + 300 * DAY}, now, DAY)[0] == "ok"
    state, detail = assess_expiry({"timestamp": now + 3600}, now, DAY)
    assert state == "stale" and "1.0 h" in detail
    state, detail = assess_expiry({"timestamp": now - 60, "snapshot": now - 7200}, now, DAY)
    assert state == "expired" and "snapshot, timestamp" in detail and "2.0 h ago" in detail


def test_expired_metadata_is_refused(tmp_path: Path) -> None:
    # central's clock ran 3 days behind: its 2-day timestamp was dead on arrival
    central = make_central(tmp_path, clock=lambda: time.time() - 3 * DAY)
    with serve(central.folder) as (url, _):
        trust = box(tmp_path, central, url)
        with pytest.raises(TrustError):
            trust.fetch_bundle(tmp_path / "slot", installed={})
    assert trust.status.state == "expired" and trust.status.alarm
    assert not (tmp_path / "slot").exists()


def test_freeze_is_an_alarm_then_a_refusal_on_the_box_clock(tmp_path: Path) -> None:
    central = make_central(tmp_path)  # publishes once, then never bumps its timestamp again
    now = [time.time()]
    with serve(central.folder) as (url, _):
        trust = box(tmp_path, central, url, clock=lambda: now[0], alarm_margin_s=DAY / 2)
        assert trust.check().state == "ok"
        now[0] += 1.6 * DAY  # the box keeps asking; central keeps serving the same timestamp
        status = trust.check()
        assert status.state == "stale" and status.alarm and "expires in" in status.detail
        fetched = trust.fetch_bundle(tmp_path / "slot", installed={})  # still usable ...
        assert fetched.components and trust.status.state == "stale"  # ... but the alarm stays
        now[0] += 0.5 * DAY  # past the timestamp's expiry by the box's clock
        with pytest.raises(TrustError, match="expired"):
            trust.fetch_bundle(tmp_path / "slot2", installed={})
        assert trust.status.state == "expired"
        central.repo.bump_timestamp(central.keys)  # central wakes up: new 2-day timestamp
        now[0] = time.time()
        assert box(tmp_path, central, url, clock=lambda: now[0]).check().state == "ok"


def test_renew_re_signs_what_expires_before_boxes_see_it_expire(tmp_path: Path) -> None:
    # central set up 80 days ago: its delegated roles (90 days) expire in 10 days
    central = make_central(tmp_path, clock=lambda: time.time() - 80 * DAY)
    central.repo.clock = time.time
    before = {r: central.repo.load(r).signed.version for r in ("models", "targets", "root")}
    offline = {k: v for k, v in central.keys.items() if k not in ("root", "targets")}
    done = central.repo.renew(offline, within_days=30)
    assert {"models v3", "knowledge v3", "operations v3", "snapshot", "timestamp"} <= set(done)
    assert central.repo.load("models").signed.version == before["models"] + 1
    assert central.repo.load("targets").signed.version == before["targets"]  # 365 days: fine
    assert central.repo.renew(offline, within_days=30) == ["snapshot", "timestamp"]  # online only
    done = central.repo.renew(offline, within_days=300)  # targets and root now due
    assert "targets expires soon: needs the targets key" in done
    assert "root expires soon: needs the (offline) root key" in done
    assert central.repo.renew(central.keys, within_days=300)[:1] == ["root v2"]
    with serve(central.folder) as (url, _):
        fetched = box(tmp_path, central, url).fetch_bundle(tmp_path / "slot", installed={})
    assert fetched.components


def test_a_box_follows_a_root_key_rotation_without_reinstalling(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    with serve(central.folder) as (url, _):
        assert box(tmp_path, central, url).check().state == "ok"  # trusts root v1
        new_root = CryptoSigner.generate_ed25519()
        assert central.repo.rotate_root([central.keys["root"]], new_root) == 2
        central.keys["root"] = new_root
        central.rebuild(b"w2")
        fetched = box(tmp_path, central, url).fetch_bundle(tmp_path / "slot", installed={})
        trusted = Metadata.from_file(str(tmp_path / "box" / "trust" / "metadata" / "root.json"))
        assert trusted.signed.version == 2
        assert new_root.public_key.keyid in trusted.signed.roles["root"].keyids
        assert [c.manifest.version for c in fetched.components if c.manifest.kind == "stt"] == [2]
        # a v3 that v2's root key did not sign is refused
        central.repo.rotate_root([], CryptoSigner.generate_ed25519())  # missing v2's key
        status = box(tmp_path, central, url).check()
        assert status.state == "rejected"


def test_offline_branch_updates_from_a_usb_mirror_with_the_same_checks(tmp_path: Path) -> None:
    central = make_central(tmp_path)
    usb = tmp_path / "usb" / "repository"
    shutil.copytree(central.folder, usb)
    trust = box(tmp_path, central, mirror=usb)
    fetched = trust.fetch_bundle(tmp_path / "slot", installed={})
    assert sorted(c.manifest.name for c in fetched.components) == [
        "config-test-001",
        "kb-test-001",
        "whisper-base",
    ]
    assert all(m.problems(c.folder, c.manifest) == [] for c in fetched.components)
    # a tampered stick
    tar = next((usb / "targets" / "knowledge").glob("*.tar"))
    tar.write_bytes(tar.read_bytes()[:-1] + b"X")
    with pytest.raises(TrustError, match="signed hash"):
        box(tmp_path / "b2", central, mirror=usb).fetch_bundle(tmp_path / "s2", installed={})
    # a stick missing a metadata file the snapshot promises
    for f in (usb / "metadata").glob("*.models.json"):
        f.unlink()
    status = box(tmp_path / "b3", central, mirror=usb).check()
    assert status.state == "ok"  # top-level metadata is whole
    with pytest.raises(TrustError):
        box(tmp_path / "b3", central, mirror=usb).fetch_bundle(tmp_path / "s3", installed={})
    # a corrupt root of trust on the box is an alarm, not a crash
    broken = BoxTrust(b"{}", tmp_path / "b4", mirror=usb, service_version="0.1.0")
    assert broken.check().state == "rejected"
    # a mirror URL cannot leave the stick
    from tuf.api.exceptions import DownloadHTTPError

    from provisioning.fetchers import MirrorFetcher

    with pytest.raises(DownloadHTTPError) as err:
        list(
            MirrorFetcher(usb, tmp_path / "scratch").fetch("mirror:///metadata/../../../etc/passwd")
        )
    assert err.value.status_code == 403


def test_the_command_line_runs_central_and_an_offline_box(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "edge.cli"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin"},
        )

    from tests.trust_fixtures import build

    build(tmp_path / "bundle", tmp_path / "src")
    done = run("bundle", "check")  # no root of trust installed: a clear refusal, no traceback
    assert done.returncode == 2 and "root_file" in done.stderr and "Traceback" not in done.stderr
    done = run("repo", "init", "--repo", "repo", "--keys", "keys")
    assert done.returncode == 0, done.stderr
    assert oct((tmp_path / "keys" / "knowledge.pem").stat().st_mode & 0o777) == "0o600"
    assert run("repo", "init", "--repo", "repo2", "--keys", "keys").returncode == 2  # no overwrite
    done = run("repo", "publish", "bundle", "--repo", "repo", "--keys", "keys")
    assert done.returncode == 0 and "bundles/current.json" in done.stdout, done.stderr
    # a knowledge editor's folder plus central's online keys: models are out of reach
    for folder, roles in (("editor", ["knowledge"]), ("online", ["snapshot", "timestamp"])):
        (tmp_path / folder).mkdir()
        for role in roles:
            shutil.copy(tmp_path / "keys" / f"{role}.pem", tmp_path / folder)
    done = run(
        "repo", "publish", "bundle", "--repo", "repo", "--keys", "online", "--keys", "editor"
    )
    assert done.returncode == 0, done.stderr
    assert "skipped stt/whisper-base-1.tar: signed by models, no models key" in done.stdout
    box_args = [
        "--provisioning-mirror-path",
        "repo",
        "--provisioning-root-file",
        "repo/metadata/1.root.json",
        "--data-dir",
        "data",
    ]
    done = run("bundle", "fetch", *box_args, "--dest", "slot", "--installed", "whisper-base=1")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"]["state"] == "ok" and out["unchanged"] == ["whisper-base"]
    assert sorted(v["name"] for v in out["verified"]) == ["config-test-001", "kb-test-001"]
    done = run("bundle", "check", *box_args, "--provisioning-expiry-alarm-s", str(3 * DAY))
    assert done.returncode == 1 and json.loads(done.stdout)["state"] == "stale"
    assert (
        run(
            "repo",
            "rotate-root",
            "--repo",
            "repo",
            "--keys",
            "keys",
            "--new-key",
            "keys/root-new.pem",
        ).returncode
        == 0
    )
    assert json.loads(run("bundle", "check", *box_args).stdout)["state"] == "ok"


def test_worst_keeps_the_serious_state() -> None:
    from provisioning.trust_status import TrustStatus

    ok = TrustStatus(state="ok", detail="", checked_at=0.0)
    bad = TrustStatus(state="expired", detail="", checked_at=0.0)
    assert worst(ok, bad) is bad and worst(bad, ok) is bad
    assert Lifetimes().timestamp < Lifetimes().snapshot
