"""`branch-teller central ...` run in-process on a temporary SQLite store: boxes, rollouts,
the fleet table and the branch report, with their errors and exit codes."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.cli import build_parser, main
from provisioning.central.fleet import FleetStore
from provisioning.central.report import compare
from provisioning.central.rollout import step
from provisioning.central.status import ago
from provisioning.central.store import open_store
from provisioning.central.wire import BoxHealth, BoxReport, DayAggregates, UpdateReport, WaitStats

CHEAP = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/central/fleet.db"


@pytest.fixture
def store(url: str) -> Iterator[FleetStore]:
    opened = open_store(url, **CHEAP)
    yield opened
    opened.close()


def cli(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    code = main(["central", args[0], "--store", url, *args[1:]])
    out, err = capsys.readouterr()
    return code, out, err


def test_box_add_prints_the_secret_once_and_the_box_config(
        capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path) -> None:
    code, out, _ = cli(capsys, url, "box", "add", "sh-001", "--branch", "Pudong 001", "--tag",
                       "pilot", "--url", "https://central.bank:8780")
    assert code == 0
    secret = out.split("mode 0600):\n", 1)[1].split("\n", 1)[0]
    assert '[central]\nurl = "https://central.bank:8780"\nbox_id = "sh-001"\n' \
           'secret_file = "/etc/branch-teller/central.secret"' in out
    store = open_store(url, **CHEAP)
    assert store.authenticate("sh-001", secret)
    store.close()
    code, out, _ = cli(capsys, url, "box", "add", "sh-002", "--write-secret",
                       str(tmp_path / "keys" / "sh-002.secret"))
    written = (tmp_path / "keys" / "sh-002.secret").read_text().strip()
    assert code == 0 and written not in out
    assert stat.S_IMODE((tmp_path / "keys" / "sh-002.secret").stat().st_mode) == 0o600
    code, _, err = cli(capsys, url, "box", "add", "sh-001")
    assert code == 1 and "exists" in err
    code, _, err = cli(capsys, url, "box", "add", "bad id")
    assert code == 2 and "box ids and tags" in err
    code, _, err = cli(capsys, url, "box", "add", "sh-003", "--tag", "two words")
    assert code == 2


def test_box_list_disable_enable_rotate(capsys: pytest.CaptureFixture[str], url: str,
                                        store: FleetStore) -> None:
    old = store.add_box("sh-001", "Pudong", ["pilot"])
    store.add_box("sh-002", "Xuhui", [])
    store.record_report(BoxReport(box_id="sh-001", service_version="0.1.0", bundle="b6",
                                  health=BoxHealth(trust="ok: fresh")), time.time() - 200)
    code, out, _ = cli(capsys, url, "box", "list")
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("sh-001"))
    assert "Pudong" in line and "b6" in line and "0.1.0" in line and "3 min ago" in line
    assert "never  STALE" in next(x for x in out.splitlines() if x.startswith("sh-002"))
    assert cli(capsys, url, "box", "disable", "sh-001")[0] == 0
    assert not store.authenticate("sh-001", old)
    code, out, _ = cli(capsys, url, "box", "list", "--json")
    assert [b["enabled"] for b in json.loads(out)] == [False, True]
    assert cli(capsys, url, "box", "enable", "sh-001")[0] == 0
    code, out, _ = cli(capsys, url, "box", "rotate", "sh-001")
    new = out.strip().splitlines()[-1]
    assert code == 0 and store.authenticate("sh-001", new) and not store.authenticate(
        "sh-001", old)
    code, _, err = cli(capsys, url, "box", "rotate", "sh-404")
    assert code == 1 and "no box 'sh-404'" in err
    code, _, err = cli(capsys, url, "box", "disable")
    assert code == 2 and "needs a box ID" in err


def test_rollout_start_validates_stages_tags_and_one_live_rollout(
        capsys: pytest.CaptureFixture[str], url: str, store: FleetStore) -> None:
    store.add_box("sh-001", "", ["pilot"])
    for stages, said in [("pilot,,all", "empty stage"), ("all,pilot", "last stage"),
                         ("150%", "at most 100%")]:
        code, _, err = cli(capsys, url, "rollout", "start", "--bundle", "b7", "--stages", stages)
        assert code == 2 and said in err
    code, _, err = cli(capsys, url, "rollout", "start", "--stages", "all")
    assert code == 2 and "--bundle" in err
    code, _, err = cli(capsys, url, "rollout", "start", "--bundle", "b7", "--stages", "east,all")
    assert code == 1 and "no enabled box carries the tag 'east'" in err and "pilot" in err
    code, _, err = cli(capsys, url, "rollout", "start", "--bundle", "b7", "--repo",
                       str(Path(url.removeprefix("sqlite:///")).parent / "no-repo"))
    assert code == 1 and "cannot read the repository" in err
    code, out, _ = cli(capsys, url, "rollout", "start", "--bundle", "b7", "--id", "r1",
                       "--soak-s", "60", "--max-failures", "0")
    assert code == 0 and "pilot -> 20% -> all" in out
    [rollout] = store.rollouts()
    assert (rollout.bundle, rollout.soak_s, rollout.max_failures) == ("b7", 60, 0)
    code, _, err = cli(capsys, url, "rollout", "start", "--bundle", "b8")
    assert code == 1 and "r1 is running: cancel it first" in err


def test_status_halt_resume_cancel_through_a_rollout(capsys: pytest.CaptureFixture[str],
                                                     url: str, store: FleetStore) -> None:
    for n in range(5):
        store.add_box(f"sh-00{n}", f"Branch {n}", ["pilot"] if n < 2 else [])
    assert cli(capsys, url, "rollout", "start", "--bundle", "b7", "--id", "r1",
               "--stages", "pilot,all", "--max-failures", "0", "--soak-s", "0")[0] == 0
    now = time.time()
    assert len(step(store, now)) == 2
    store.record_report(BoxReport(box_id="sh-000", service_version="0.1.0", bundle="b7",
                                  update=UpdateReport(rollout="r1", bundle="b7",
                                                      step="succeeded")), now)
    store.record_report(BoxReport(box_id="sh-001", service_version="0.1.0", bundle="factory",
                                  update=UpdateReport(rollout="r1", bundle="b7", step="failed",
                                                      reason="smoke test: tts")), now)
    step(store, now + 1)
    code, out, _ = cli(capsys, url, "status")
    assert code == 0
    header, line = out.splitlines()[:2]
    assert header.split()[:4] == ["ROLLOUT", "BUNDLE", "STATE", "STAGE"]
    assert line.split() == ["r1", "b7", "halted", "1/2", "pilot", "0", "0", "0", "0", "1",
                            "1", "0"]
    assert "sh-001 failed (smoke test: tts)" in out and "STALE" in out
    code, out, _ = cli(capsys, url, "status", "--json", "--rollout", "r1")
    status = json.loads(out)
    assert status["rollouts"][0]["counts"]["failed"] == 1
    assert {b["box"]: b["step"] for b in status["boxes"]}["sh-000"] == "succeeded"
    assert cli(capsys, url, "status", "--rollout", "nope")[0] == 1
    code, _, err = cli(capsys, url, "rollout", "halt", "r1")
    assert code == 1 and "not running" in err
    assert cli(capsys, url, "rollout", "resume", "r1", "--max-failures", "-1")[0] == 2
    code, out, _ = cli(capsys, url, "rollout", "resume", "r1", "--max-failures", "2")
    assert code == 0 and "1 failed boxes forgiven, max_failures 2" in out
    assert sorted(b for b, _, _ in step(store, now + 2)) == ["sh-002", "sh-003", "sh-004"]
    assert cli(capsys, url, "rollout", "halt", "r1", "--reason", "complaints")[0] == 0
    code, out, _ = cli(capsys, url, "rollout", "list")
    assert "r1  b7  halted  stage 2/2 all" in out and "complaints" in out
    assert cli(capsys, url, "rollout", "cancel", "r1")[0] == 0
    assert store.assignment("sh-000") == ("", "")
    code, _, err = cli(capsys, url, "rollout", "resume", "r1")
    assert code == 1 and "cancelled, not halted" in err
    assert cli(capsys, url, "rollout", "cancel", "nope")[0] == 1


def _day(tickets: int, within: float, deflected: float, p95: float) -> DayAggregates:
    return DayAggregates(
        tickets=tickets, within_target=within, conversations=20, deflected=deflected,
        turns={"voice": 30, "text": 10},
        waits={"cash": {"normal": WaitStats(served=tickets, p50_s=300, p90_s=900,
                                            within_target=within)}},
        latency_ms={"turn": {"p50_ms": p95 / 2, "p95_ms": p95, "n": 40}})


def test_report_compares_branches_and_flags_the_far_below(
        capsys: pytest.CaptureFixture[str], url: str, store: FleetStore) -> None:
    for n, name in enumerate(["Pudong", "Xuhui", "Minhang"]):
        store.add_box(f"sh-00{n}", name, [])
    for day in ("2026-12-01", "2026-12-02"):
        store.record_day("sh-000", day, _day(100, 0.90, 0.40, 1500), 0)
        store.record_day("sh-001", day, _day(100, 0.88, 0.38, 1600), 0)
        store.record_day("sh-002", day, _day(50, 0.40, 0.10, 5000), 0)
    code, out, _ = cli(capsys, url, "report")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line[:1].isalpha()}
    assert rows["Minhang"].split()[1:5] == ["2", "100", "40%", "10%"]
    assert "within target 40% vs fleet 79%" in rows["Minhang"]
    assert "turn p95 5000 ms" in rows["Minhang"]
    assert rows["Pudong"].rstrip().endswith("-") and rows["FLEET"].split()[2] == "500"
    assert "1 of 3 branches far below the fleet: Minhang" in out
    assert "cash 5.0/15.0 (100)" in out
    code, out, _ = cli(capsys, url, "report", "--since", "2026-12-02", "--json")
    report = json.loads(out)
    assert report["fleet"]["days"] == 1 and report["fleet"]["tickets"] == 250
    assert report["fleet"]["turns"] == {"text": 30, "voice": 90}
    code, _, err = cli(capsys, url, "report", "--until", "yesterday")
    assert code == 2 and "YYYY-MM-DD" in err


def test_report_means_are_weighted() -> None:
    rows = [("a", "2026-12-01", DayAggregates(tickets=300, within_target=1.0)),
            ("a", "2026-12-02", DayAggregates(tickets=100, within_target=0.0)),
            ("b", "2026-12-01", DayAggregates())]
    branches, fleet = compare(rows, [])
    assert branches[0].within_target == 0.75 and branches[1].within_target is None
    assert fleet.within_target == 0.75 and fleet.deflected is None
    assert branches[1].flags == []


def test_ago() -> None:
    assert [ago(s) for s in (-1, 5, 180, 7300, 200_000)] == [
        "just now", "5 s ago", "3 min ago", "2 h ago", "2 d ago"]


def test_store_comes_from_the_environment_and_errors_are_exit_3(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRANCH_TELLER_CENTRAL_STORE", f"sqlite:///{tmp_path}/env.db")
    assert main(["central", "box", "add", "sh-001"]) == 0
    assert (tmp_path / "env.db").exists()
    capsys.readouterr()
    assert main(["central", "status", "--store", "mysql://nope"]) == 3
    assert "cannot open the fleet store" in capsys.readouterr().err
    os.chmod(tmp_path, 0o500)
    try:
        if os.geteuid() != 0:  # root writes anywhere
            assert main(["central", "status", "--store", f"sqlite:///{tmp_path}/x/f.db"]) == 3
    finally:
        os.chmod(tmp_path, 0o700)


def test_serve_takes_its_arguments() -> None:
    args = build_parser().parse_args(["central", "serve", "--store", "sqlite:///f.db", "--repo",
                                      "repo", "--host", "0.0.0.0", "--port", "0",
                                      "--tick-s", "2"])
    assert (args.store, args.repo, args.host, args.port, args.tick_s) == (
        "sqlite:///f.db", "repo", "0.0.0.0", 0, 2.0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["central"])


def test_rollout_start_checks_the_bundle_is_published(capsys: pytest.CaptureFixture[str],
                                                      url: str, store: FleetStore,
                                                      tmp_path: Path) -> None:
    from provisioning.central.fleet import Rollout
    from tests.trust_fixtures import make_central

    central = make_central(tmp_path / "tuf")
    published = json.loads((central.bundle_dir / "bundle.json").read_text())["bundle"]
    store.add_box("sh-001", "", [])
    code, _, err = cli(capsys, url, "rollout", "start", "--bundle", "b999", "--stages", "all",
                       "--repo", str(central.folder))
    assert code == 1 and "'b999' is not published" in err and published in err
    code, _, _ = cli(capsys, url, "rollout", "start", "--bundle", published, "--stages", "all",
                     "--repo", str(central.folder))
    assert code == 0
    assert [r.bundle for r in store.rollouts()] == [published]
    assert isinstance(store.rollouts()[0], Rollout)
