"""A private Crossbar WAMP router for one test, on a free port on 127.0.0.1: a minimal
node configuration (one realm, the anonymous role may do anything), stopped afterwards.
Crossbar lives in its own virtualenv (`make crossbar`: its pins clash with ours)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

from twisted.trial import unittest

from .helpers import tempdir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CROSSBAR = os.environ.get("BBMOD_CROSSBAR", os.path.join(ROOT, ".venv-crossbar/bin/crossbar"))


def node_config(port: int, realm: str) -> dict[str, object]:
    """One router worker: a WebSocket transport at ws://127.0.0.1:PORT/ws, one realm."""
    anyone = {
        "uri": "",
        "match": "prefix",
        "allow": {"call": True, "register": True, "publish": True, "subscribe": True},
        "disclose": {"caller": False, "publisher": False},
        "cache": True,
    }
    return {
        "version": 2,
        "controller": {},
        "workers": [
            {
                "type": "router",
                "realms": [
                    {"name": realm, "roles": [{"name": "anonymous", "permissions": [anyone]}]}
                ],
                "transports": [
                    {
                        "type": "web",
                        "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
                        "paths": {"ws": {"type": "websocket"}},
                    }
                ],
            }
        ],
    }


def start_crossbar(case: unittest.TestCase, realm: str = "buildbot") -> str:
    """Start a router; return its URL. Skips, saying why, without `make crossbar`."""
    if not os.access(CROSSBAR, os.X_OK):
        raise unittest.SkipTest(f"needs Crossbar at {CROSSBAR} (make crossbar installs it)")
    folder = tempdir(case)
    cbdir = os.path.join(folder, ".crossbar")
    os.makedirs(cbdir)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(os.path.join(cbdir, "config.json"), "w", encoding="utf-8") as f:
        json.dump(node_config(port, realm), f)
    log = open(os.path.join(folder, "crossbar.log"), "wb")  # noqa: SIM115 (closed at cleanup)
    proc = subprocess.Popen(
        [CROSSBAR, "start", "--cbdir", cbdir],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def stop() -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()

    case.addCleanup(stop)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(log.name, encoding="utf-8", errors="replace") as f:
                raise AssertionError(f"crossbar exited ({proc.returncode}):\n{f.read()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return f"ws://127.0.0.1:{port}/ws"
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"crossbar did not listen on 127.0.0.1:{port} within 60 s")
