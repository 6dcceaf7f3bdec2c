"""A real PostgreSQL server for the tests: Debian's `postgresql` binaries, a fresh cluster in
a temporary folder, listening on 127.0.0.1 on a free port, stopped at the end of the session.

PostgreSQL refuses to run as root: as root, initdb and the server run as the `postgres` user
the Debian package creates (through `runuser`). Without the binaries the tests are skipped, or
fail when CLOUDTALLY_REQUIRE_POSTGRES is set (as in CI, which installs them).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from glob import glob
from pathlib import Path

import pytest

USER = "tally"
PASSWORD = "s3cret-metrics"
DBNAME = "postgres"


@dataclass(frozen=True)
class PostgresServer:
    port: int
    host: str = "127.0.0.1"

    def url(self, user: str = USER, port: int | None = None) -> str:
        return f"postgresql://{user}@{self.host}:{port or self.port}/{DBNAME}"

    def connect(self):  # type: ignore[no-untyped-def]
        """A superuser connection in autocommit mode, to build and read tables."""
        import psycopg

        return psycopg.connect(self.url(), password=PASSWORD, autocommit=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bindir() -> Path | None:
    def version(path: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path))

    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _unavailable(why: str) -> None:
    if os.environ.get("CLOUDTALLY_REQUIRE_POSTGRES"):
        pytest.fail(f"CLOUDTALLY_REQUIRE_POSTGRES is set but {why}.")
    pytest.skip(why)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _bindir()
    if bindir is None:
        _unavailable("PostgreSQL's initdb is not installed (Debian: apt-get install postgresql)")
    assert bindir is not None
    run_as: list[str] = []
    owner: int | None = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres").pw_uid
        except KeyError:
            _unavailable("running as root and there is no `postgres` user to run the server")
        run_as = ["runuser", "-u", "postgres", "--"]
    # Not pytest's tmp_path: its folders are private to the test user, and the server's user
    # must reach the data and socket folders.
    root = Path(tempfile.mkdtemp(prefix="cloudtally-pg-"))
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    sockets.mkdir()
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
    if owner is not None:
        for path in (root, sockets, pwfile):
            os.chown(path, owner, -1)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*run_as, *args], capture_output=True, text=True, timeout=120, check=False
        )

    try:
        done = run(
            str(bindir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
            "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        assert done.returncode == 0, f"initdb failed: {done.stdout}{done.stderr}"
        for _attempt in range(3):  # the free port may be taken before the server binds it
            port = free_port()
            options = (
                f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off"
            )
            done = run(
                str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log),
                "-w", "-t", "60", "start",
            )  # fmt: skip
            if done.returncode == 0:
                break
        else:
            pytest.fail(f"PostgreSQL did not start: {done.stderr}\n{log.read_text()}")
        try:
            yield PostgresServer(port)
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
