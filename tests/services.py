"""Real servers for the scale-out tests: redis-server and PostgreSQL from Debian packages.

Each is started from its own binary in a fresh temporary folder, bound to
127.0.0.1 on a free port, and stopped (and its folder removed) afterwards. When a
binary is missing the tests skip and say which Debian package to install; `.ci/run`
installs both.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from api_server import free_port


def _binary(name: str, package: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
                                       None)
    if not found:
        pytest.skip(f"{name} not found: install the Debian package '{package}'")
    return found


@dataclass
class Redis:
    url: str
    proc: subprocess.Popen
    folder: Path

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_redis() -> Redis:
    binary = _binary("redis-server", "redis-server")
    folder = Path(tempfile.mkdtemp(prefix="shotsmith-redis-"))
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=open(folder / "redis.log", "wb"), stderr=subprocess.STDOUT)
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server did not start: " + (folder / "redis.log").read_text()[-2000:])
            time.sleep(0.1)
    return Redis(f"redis://127.0.0.1:{port}/0", proc, folder)


@dataclass
class Postgres:
    url: str
    proc: subprocess.Popen
    folder: Path

    def stop(self) -> None:
        self.proc.terminate()  # "smart" shutdown
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)

    def query(self, sql: str, *params) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url) as conn:
            cursor = conn.execute(sql, params or None)
            return cursor.fetchall() if cursor.description else []


def _as_postgres_user() -> dict:
    """PostgreSQL refuses to run as root: drop to the 'postgres' system user there."""
    if os.getuid() != 0:
        return {}
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL as")
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def start_postgres() -> Postgres:
    initdb = _binary("initdb", "postgresql")
    postgres = _binary("postgres", "postgresql")
    folder = Path(tempfile.mkdtemp(prefix="shotsmith-pg-"))
    run_as = _as_postgres_user()
    if run_as:
        os.chown(folder, run_as["user"], run_as["group"])
    data = folder / "data"
    subprocess.run([initdb, "-D", str(data), "-U", "shotsmith", "--auth=trust", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True, **run_as)
    port = free_port()
    log = open(folder / "postgres.log", "wb")
    proc = subprocess.Popen([postgres, "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(folder),
                             "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=100"],
                            stdout=log, stderr=subprocess.STDOUT, **run_as)
    url = f"postgresql://shotsmith@127.0.0.1:{port}/postgres"
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("PostgreSQL did not start: " + (folder / "postgres.log").read_text()[-2000:])
            time.sleep(0.2)
    return Postgres(url, proc, folder)
