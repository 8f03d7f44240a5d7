"""A private PostgreSQL server for one test: its own cluster in a temporary folder, on
a free port on 127.0.0.1, stopped and removed afterwards. No system service is used."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

from twisted.trial import unittest


def _bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def start_postgresql(case: unittest.TestCase) -> str:
    """Start a cluster; return its SQLAlchemy URL. Skips, saying why, without PostgreSQL."""
    bindir = _bin()
    if bindir is None:
        raise unittest.SkipTest("needs the PostgreSQL server (Debian package postgresql)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        raise unittest.SkipTest("needs psycopg2 (make setup installs it)") from None
    # PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
    runas: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise unittest.SkipTest("needs the postgres system user (package postgresql)") from None
        runas = ["runuser", "-u", "postgres", "--"]
    folder = tempfile.mkdtemp(prefix="bbmod-pg-")
    case.addCleanup(shutil.rmtree, folder, True)
    if runas:
        os.chown(folder, user.pw_uid, user.pw_gid)
    data = os.path.join(folder, "data")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(
        [*runas, f"{bindir}/initdb", "-D", data, "-U", "bbmod", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *runas,
            f"{bindir}/pg_ctl",
            "-D",
            data,
            "-o",
            options,
            "-w",
            "-l",
            os.path.join(folder, "log"),
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    case.addCleanup(
        subprocess.run,
        [*runas, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        [f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "bbmod", "registry"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return f"postgresql+psycopg2://bbmod@127.0.0.1:{port}/registry"


def add_database(url: str, name: str) -> str:
    """Another database in the cluster ``start_postgresql`` returned; its URL."""
    bindir = _bin()
    assert bindir is not None
    server, _, _ = url.rpartition("/")
    port = server.rpartition(":")[2]
    subprocess.run(
        [f"{bindir}/createdb", "-h", "127.0.0.1", "-p", port, "-U", "bbmod", name],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return f"{server}/{name}"
