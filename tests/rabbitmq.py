"""A private RabbitMQ broker for one test: its own node, Erlang cookie, epmd, data and logs
in a temporary folder, on free ports on 127.0.0.1; stopped and removed afterwards. No
system service is used and nothing outside the folder is written (the cookie lives in
the folder, which is the broker's and the CLI's HOME: ~/.erlang.cookie is not touched).
Works as root: the server is started directly, not through Debian's su wrapper."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid

from twisted.trial import unittest

RABBITMQ_BIN = "/usr/lib/rabbitmq/bin"  # Debian's and Fedora's real scripts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tool(name: str) -> str | None:
    path = os.path.join(RABBITMQ_BIN, name)
    return path if os.access(path, os.X_OK) else shutil.which(name)


def start_rabbitmq(case: unittest.TestCase) -> str:
    """Start a broker; return its AMQP URL. Skips, saying why, without rabbitmq-server."""
    server, ctl, epmd = _tool("rabbitmq-server"), _tool("rabbitmqctl"), shutil.which("epmd")
    if server is None or ctl is None:
        raise unittest.SkipTest("needs RabbitMQ (Debian package rabbitmq-server; make setup)")
    folder = tempfile.mkdtemp(prefix="bbmod-rabbitmq-")
    case.addCleanup(shutil.rmtree, folder, True)
    node = f"bbmod{uuid.uuid4().hex[:10]}@localhost"
    port, epmd_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "HOME": folder,  # the Erlang cookie: private
        "ERL_EPMD_PORT": str(epmd_port),  # a private epmd, stopped at the end
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(_free_port()),
        "RABBITMQ_MNESIA_BASE": os.path.join(folder, "mnesia"),
        "RABBITMQ_LOG_BASE": os.path.join(folder, "log"),
        "RABBITMQ_PID_FILE": os.path.join(folder, "pid"),
        # Not the system's /etc/rabbitmq files.
        "RABBITMQ_CONFIG_FILE": os.path.join(folder, "rabbitmq"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(folder, "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": os.path.join(folder, "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(folder, "enabled_plugins"),
        "RABBITMQ_PLUGINS_EXPAND_DIR": os.path.join(folder, "plugins-expand"),
    }
    with open(env["RABBITMQ_ENABLED_PLUGINS_FILE"], "w") as f:
        f.write("[].\n")
    log = open(os.path.join(folder, "server.log"), "wb")  # noqa: SIM115 (closed at cleanup)
    case.addCleanup(log.close)
    proc = subprocess.Popen(
        [server], env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )

    def stop() -> None:
        subprocess.run([ctl, "-n", node, "stop"], env=env, capture_output=True, timeout=60)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if epmd is not None:
            subprocess.run(
                [epmd, "-port", str(epmd_port), "-kill"], env=env, capture_output=True, timeout=30
            )

    case.addCleanup(stop)
    # `wait PIDFILE` returns once the node has written its pid and booted the broker.
    wait = subprocess.run(
        [ctl, "-n", node, "wait", "--timeout", "90", env["RABBITMQ_PID_FILE"]],
        env=env,
        capture_output=True,
        timeout=120,
    )
    if wait.returncode != 0 or proc.poll() is not None:
        with open(os.path.join(folder, "server.log"), "rb") as f:
            tail = f.read()[-2000:].decode("utf-8", "replace")
        raise RuntimeError(
            f"RabbitMQ did not start: {wait.stderr.decode('utf-8', 'replace')[-1000:]}\n{tail}"
        )
    return f"amqp://guest:guest@127.0.0.1:{port}/%2F"
