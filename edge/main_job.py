"""`branch-teller demo`: the main job a newcomer starts with `make run`.

Starts the edge service with the demo branch (simulated kiosks, tellers and a number-caller)
as a child process, then opens the staff console on the terminal as the lobby manager at
counter 4. Without a terminal (CI, a pipe) it prints the demo's activity instead. Leaving the
console (q) or Ctrl-C stops the service gracefully.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

MANAGER = ("manager", "demo-manager", "c4")


def _start_service(extra: list[str], log_path: Path | None) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "edge.cli", "serve", "--demo", *extra]
    out: IO[str] | int = subprocess.PIPE
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT if log_path is None
                            else log_path.open("a", encoding="utf-8"), text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("listening on "):
            return proc, line.removeprefix("listening on ").strip()
        sys.stdout.write(line)
    raise SystemExit(f"the service stopped before listening (exit {proc.wait()})")


def _pump(stream: IO[str], sink: IO[str]) -> None:
    for line in stream:
        sink.write(line)
        sink.flush()


def web_pages(url: str) -> str:
    """Where a newcomer opens the kiosk and the lobby display (the demo's own simulators use
    kiosk-1 and caller-1, so the pages sign in as kiosk-2 and display-1)."""
    from devices.static import page_urls

    kiosk, display = page_urls(url.replace("ws://", "http://", 1), ("kiosk-2", "demo-kiosk-2"),
                               ("display-1", "demo-display-1"))
    return f"kiosk page (open in Chromium): {kiosk}\nqueue display page: {display}"


def run_demo_job(extra: list[str], data_dir: str, console: bool | None = None) -> int:
    """Service plus console (or plain activity output when there is no terminal)."""
    interactive = sys.stdin.isatty() and sys.stdout.isatty() if console is None else console
    log_path = Path(data_dir) / "demo.log" if interactive else None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    proc, url = _start_service([*extra, "--data-dir", data_dir], log_path)
    print(f"branch-teller service listening on {url}"
          + (f" (log: {log_path})" if log_path else ""), flush=True)
    print(web_pages(url), flush=True)
    assert proc.stdout is not None
    try:
        if interactive:
            assert log_path is not None
            with log_path.open("a", encoding="utf-8") as sink:
                threading.Thread(target=_pump, args=(proc.stdout, sink), daemon=True).start()
                from ui.console_cli import run_console

                user, credential, counter = MANAGER
                run_console(url, user, credential, counter)
        else:
            _pump(proc.stdout, sys.stdout)
    except KeyboardInterrupt:
        pass
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0 if proc.returncode in (0, -signal.SIGTERM) else int(proc.returncode or 0)


