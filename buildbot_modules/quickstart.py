"""``bbmod quickstart``: a ready master directory and K worker directories.

After it, ``buildbot start DIR/master`` and ``buildbot-worker start DIR/workerN`` run the
whole system on this machine. Running it again keeps the existing directories and the
workers' passwords, and rewrites only the settings it owns.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tomllib
from dataclasses import dataclass

from .core.problems import ModuleError

MASTER_CFG = """\
# -*- python -*-
# Written by `bbmod quickstart`; the site's settings are in settings.toml beside this file.
import os

from buildbot_modules.master.configurator import ModulesConfigurator, load_settings

c = BuildmasterConfig = {}
c["configurators"] = [
    ModulesConfigurator(load_settings(os.path.join(basedir, "settings.toml")))
]
"""


@dataclass
class Quickstart:
    master: str
    workers: list[str]
    url: str


def _tool(name: str) -> str:
    """A Buildbot command of this virtualenv (beside the running Python)."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    if not os.access(path, os.X_OK):
        raise ModuleError(f"{name} not found beside {sys.executable}", hint="run `make setup`")
    return path


def _run(args: list[str]) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ModuleError(
            f"{os.path.basename(args[0])} failed: {(proc.stderr or proc.stdout).strip()[-400:]}"
        )


def _toml_value(value: object) -> str:
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def quickstart(
    directory: str,
    distgit: str,
    publish: str,
    platform: str = "f39",
    port: int = 8010,
    workers: int = 2,
    worker_port: int = 9989,
    poll_interval: int = 5,
) -> Quickstart:
    """Write ``DIR/master`` (master.cfg + settings.toml) and ``DIR/worker1..K``."""
    if workers < 1:
        raise ModuleError("--workers must be at least 1")
    directory = os.path.abspath(directory)
    master = os.path.join(directory, "master")
    settings_path = os.path.join(master, "settings.toml")
    existing: dict[str, object] = {}
    if os.path.exists(settings_path):
        with open(settings_path, "rb") as f:
            existing = tomllib.load(f)
    passwords = dict(existing.get("workers", {}))  # type: ignore[call-overload]
    if not os.path.exists(os.path.join(master, "buildbot.tac")):
        os.makedirs(directory, exist_ok=True)
        _run([_tool("buildbot"), "create-master", "--relocatable", "--quiet", master])
        _published_readable(os.path.join(master, "buildbot.tac"))
    names = [f"worker{i}" for i in range(1, workers + 1)]
    for name in names:
        passwords.setdefault(name, secrets.token_urlsafe(18))
    url = f"http://localhost:{port}/"
    settings = {
        "url": url,
        "www_port": f"tcp:{port}:interface=127.0.0.1",
        "worker_port": f"tcp:{worker_port}:interface=127.0.0.1",
        "distgit": os.path.abspath(distgit),
        "publish_root": os.path.abspath(publish),
        "platforms": [platform],
        "poll_interval": poll_interval,
        # Workers the site added by hand stay.
        "workers": passwords,
    }
    # Settings the site added or changed by hand stay, except the ones named here.
    merged = {**existing, **settings}
    text = "# Written by `bbmod quickstart`; docs/running.md lists every setting.\n"
    text += "".join(f"{key} = {_toml_value(value)}\n" for key, value in merged.items())
    _write(settings_path, text, mode=0o600)  # holds the workers' passwords
    _write(os.path.join(master, "master.cfg"), MASTER_CFG)
    worker_dirs = []
    for name in names:
        folder = os.path.join(directory, name)
        if not os.path.exists(os.path.join(folder, "buildbot.tac")):
            _run(
                [
                    _tool("buildbot-worker"),
                    "create-worker",
                    "--relocatable",
                    "--quiet",
                    folder,
                    f"127.0.0.1:{worker_port}",
                    name,
                    passwords[name],
                ]
            )
            _published_readable(os.path.join(folder, "buildbot.tac"))
        worker_dirs.append(folder)
    return Quickstart(master, worker_dirs, url)


def _published_readable(tac: str) -> None:
    """Buildbot daemons run with umask 077 unless told otherwise; the published
    repositories must be readable by everyone who installs from them."""
    with open(tac, encoding="utf-8") as f:
        text = f.read()
    _write(tac, text.replace("umask = None", "umask = 0o022"))


def _write(path: str, text: str, mode: int = 0o644) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
