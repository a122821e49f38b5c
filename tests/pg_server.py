"""A real PostgreSQL server for the tests, started and stopped by them (Debian's packages).

    from tests.pg_server import pg_server, pg_url  # noqa: F401  (pytest fixtures)

`pg_server` (session scope) runs initdb and postgres in a temporary folder on a free port,
listening on a Unix socket only; as root it runs them as the `postgres` user (postgres
refuses root). `pg_url` gives each test a fresh database on it. Tests skip, saying why, only
when no PostgreSQL binaries exist (CI and scripts/install.sh install them).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT_S = 60


def find_bindir() -> Path | None:
    """Where initdb, pg_ctl and postgres live (PG_BINDIR, Debian's layout, or PATH)."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    found = shutil.which("pg_ctl")
    candidates.append(str(Path(found).parent) if found else "")
    for folder in candidates:
        if folder and all((Path(folder) / tool).exists() for tool in ("initdb", "pg_ctl")):
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgServer:
    """A running server: connect with `url(dbname)`."""

    bindir: Path
    root: Path
    port: int
    run_as: list[str]

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@/{dbname}?host={self.socket_dir}&port={self.port}"

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.run_as, str(self.bindir / "pg_ctl"), "-D",
                               str(self.root / "data"), *args], capture_output=True, text=True,
                              timeout=START_TIMEOUT_S, check=False)

    def create_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name


def start_server() -> PgServer:
    """initdb + pg_ctl start in a new temporary folder; the caller stops it."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl): apt-get install postgresql, "
                     "or set PG_BINDIR")
    root = Path(tempfile.mkdtemp(prefix="bt-pg-"))
    (root / "sock").mkdir()
    run_as: list[str] = []
    if os.geteuid() == 0:  # postgres will not run as root
        user = pwd.getpwnam("postgres")
        for path in (root, root / "sock"):
            os.chown(path, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    server = PgServer(bindir, root, _free_port(), run_as)
    init = subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(root / "data"), "-U",
                           "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"],
                          capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False)
    if init.returncode:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stderr.strip()}")
    options = (f"-k {server.socket_dir} -p {server.port} -c listen_addresses='' "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
    started = server.ctl("-o", options, "-l", str(root / "server.log"), "-w", "-t",
                         str(START_TIMEOUT_S), "start")
    if started.returncode:
        log = (root / "server.log").read_text(errors="replace")[-2000:]
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"postgres did not start: {started.stderr.strip()}\n{log}")
    return server


def stop_server(server: PgServer) -> None:
    server.ctl("-m", "fast", "-w", "stop")
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = start_server()
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, empty database on the session's server."""
    return pg_server.url(pg_server.create_database())
