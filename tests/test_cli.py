"""The command line as a newcomer uses it: serve + simulators in separate processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from edge.cli import build_parser
from tests.conftest import REPO
from tests.wsclient import command, login, recv_until

CLI = [sys.executable, "-m", "edge.cli"]
SUBCOMMANDS = ["serve", "kiosk-sim", "caller-sim", "route", "eval-intents", "train-router",
               "queue", "report", "kb", "models", "console", "demo", "bundle", "appointments",
               "staff", "repo", "audit", "device", "central"]


def run(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    import subprocess

    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)
    return proc.returncode, proc.stdout, proc.stderr


def test_help_lists_every_subcommand_and_each_help_works() -> None:
    code, out, _ = run("--help")
    assert code == 0
    for name in SUBCOMMANDS:
        assert name in out
    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert sorted(choices) == sorted(SUBCOMMANDS)


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_subcommand_help(name: str) -> None:
    code, out, _ = run(name, "--help")
    assert code == 0 and "usage: branch-teller" in out


def test_queue_help_documents_the_priority_formula() -> None:
    code, out, _ = run("queue", "--help")
    assert code == 0 and "offset" in out and "rate" in out


def test_bad_config_fails_at_start_naming_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "branch.toml"
    path.write_text("[server]\nport = 'x'\n", encoding="utf-8")
    code, _, err = run("serve", "--config", str(path))
    assert code == 2
    assert f"{path}: key server.port" in err


def test_route_json_shape() -> None:
    code, out, _ = run("route", "我的银行卡丢了", "--json")
    assert code == 0
    result = json.loads(out)
    assert set(result) >= {"intent", "confidence", "candidates", "unsure", "language", "slots"}
    assert result["language"] == "zh"


KIOSK_SECRET, CALLER_SECRET, TELLER_PASSWORD = "k1-" + "x" * 20, "c1-" + "y" * 20, "t1-pass-word"


def _branch(tmp_path: Path) -> Path:
    """A branch's own config (no demo credentials, chmod 600) and a teller account."""
    path = tmp_path / "branch.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n'
                    f'[[devices]]\nid = "kiosk-1"\nrole = "kiosk"\ncredential = "{KIOSK_SECRET}"\n'
                    f'[[devices]]\nid = "caller-1"\nrole = "caller"\n'
                    f'credential = "{CALLER_SECRET}"\n', encoding="utf-8")
    path.chmod(0o600)
    import subprocess

    subprocess.run([*CLI, "staff", "add", "teller-1", "--role", "teller", "--counter", "c1",
                    "--password-stdin", "--config", str(path)], input=TELLER_PASSWORD + "\n",
                   text=True, check=True, cwd=REPO, timeout=60, capture_output=True)
    return path


async def _start_service(config: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--config", str(config), "--port", "0", "--knowledge-dense", "false",
        "--llm-folder", "",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
    assert line.startswith("listening on ws://127.0.0.1:"), line
    return proc, line.removeprefix("listening on ")


async def test_serve_and_simulators_end_in_a_called_and_acked_ticket(tmp_path: Path) -> None:
    config = _branch(tmp_path)
    proc, url = await _start_service(config)
    try:
        caller = await asyncio.create_subprocess_exec(
            *CLI, "caller-sim", "--url", url, "--count", "1", "--timeout", "60",
            "--credential", CALLER_SECRET, cwd=REPO, stdout=asyncio.subprocess.PIPE)
        await asyncio.sleep(0.5)
        kiosk = await asyncio.create_subprocess_exec(
            *CLI, "kiosk-sim", "--url", url, "--json", "--credential", KIOSK_SECRET,
            "我七十多了", "我想换点美元", cwd=REPO, stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(kiosk.communicate(), 60)
        lines = [json.loads(x) for x in out.decode().splitlines()]
        ticket = next(m for m in lines if m["type"] == "ticket")
        assert ticket["service"] == "fx" and ticket["priority_class"] == "elderly"
        teller = await login(url, "teller-1", TELLER_PASSWORD)
        assert (await command(teller, "c1", "call_next"))["ticket"]["number"] == ticket["number"]
        caller_out, _ = await asyncio.wait_for(caller.communicate(), 60)
        assert caller.returncode == 0
        assert f"CALL {ticket['number']} -> counter 1" in caller_out.decode()
        # Graceful shutdown: the console is told, the process exits 0.
        proc.send_signal(signal.SIGTERM)
        bye = await recv_until(teller, "bye")
        assert "shutting down" in bye["reason"]
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        # Restart on the same data: the ticket is still there, at counter 1.
        proc, url = await _start_service(config)
        teller = await login(url, "teller-1", TELLER_PASSWORD)
        snap = await recv_until(teller, "snapshot")
        serving = {c["number"]: c["ticket"] for c in snap["counters"]}
        assert serving[1] == ticket["number"]
        await teller.close()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)


def test_kiosk_sim_script_blank_line_starts_a_new_customer(tmp_path: Path) -> None:
    from devices.simulators import read_script

    assert read_script("a\nb\n\n\nc\n") == [["a", "b"], ["c"]]
    assert os.path.exists(REPO / "devices" / "demo_script.txt")


async def test_main_job_without_a_terminal_prints_the_demo_branch_at_work(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *CLI, "demo", "--port", "0", "--data-dir", str(tmp_path / "data"), "--no-console",
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(120):
            while not (any("ticket" in s for s in seen) and any("CALL " in s for s in seen)):
                line = (await proc.stdout.readline()).decode()
                assert line, "the demo stopped:\n" + "".join(seen[-20:])
                seen.append(line)
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 60)
    assert any(s.startswith("branch-teller service listening on ws://") for s in seen)
    assert any(s.startswith("kiosk page (open in Chromium): http://") and "/k/#device=kiosk-2&"
               in s for s in seen)
    assert any(s.startswith("queue display page: http://") and "/d/#device=display-1&" in s
               for s in seen)
    assert proc.returncode == 0


def test_kb_search_prints_passages_with_sources(tmp_path: Path) -> None:
    code, out, err = run("kb", "search", "小微企业信用贷准入条件", "--bm25",
                         "--data-dir", str(tmp_path))
    assert code == 0, err
    assert "small_business_loan.md" in out and "准入" in out
    code, _, err = run("kb", "search", "--bm25", "--data-dir", str(tmp_path))
    assert code == 2 and "give the words" in err
