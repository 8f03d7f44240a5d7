"""The whole pipeline, as a site runs it: `bbmod distgit`, `bbmod quickstart`, a real
master process and two real PB workers on 127.0.0.1, pushes to dist-git, and dnf.

One scenario (it takes about a minute): a module with a buildafter DAG and one
independent component is pushed and built; a module that buildrequires it resolves
against the registry; a module with a failing component fails by name and builds
nothing downstream of it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from typing import Any

import requests
from twisted.trial import unittest

from buildbot_modules.registry import Registry

from .helpers import tempdir, write

BIN = os.path.dirname(sys.executable)

SPEC = """\
Name:           {name}
Version:        1.0
Release:        1%{{?dist}}
Summary:        Pipeline test package {name}
License:        MIT
BuildArch:      noarch

%description
Pipeline test package {name}.

%build
{build}

%install
mkdir -p %{{buildroot}}%{{_datadir}}/{name}
echo {name} > %{{buildroot}}%{{_datadir}}/{name}/{name}.txt

%files
%{{_datadir}}/{name}/{name}.txt

%changelog
* Wed Nov 25 2026 Test <test@example.org> - 1.0-1
- test
"""


def module_yaml(summary: str, components: dict[str, list[str]], deps: str = "") -> str:
    lines = [
        "document: modulemd-packager",
        "version: 3",
        "data:",
        f"  summary: {summary}",
        "  description: >-",
        f"    {summary}.",
        "  license: [MIT]",
        "  configurations:",
        "    - context: ctx1",
        "      platform: f39",
    ]
    if deps:
        lines += [
            "      buildrequires:",
            f"        {deps}: [main]",
            "      requires:",
            f"        {deps}: [main]",
        ]
    first = next(iter(components))
    lines += [
        "  profiles:",
        "    default:",
        "      rpms: [" + ", ".join(components) + "]",
        "      default: true",
        "  api:",
        f"    rpms: [{first}]",
        "  components:",
        "    rpms:",
    ]
    for name, after in components.items():
        lines += [f"      {name}:", "        rationale: Part of the test."]
        if after:
            lines.append("        buildafter: [" + ", ".join(after) + "]")
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run(*args: str) -> str:
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


class RealSite(unittest.TestCase):
    """A site made by `bbmod quickstart`: a master process and two worker processes."""

    timeout = 600

    def setUp(self) -> None:
        for tool in ("rpmbuild", "createrepo_c", "git"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest(f"needs {tool} (run make setup)")
        self.root = tempdir(self)
        self.distgit = os.path.join(self.root, "distgit")
        self.publish = os.path.join(self.root, "publish")
        self.site = os.path.join(self.root, "site")
        self.port, self.worker_port = free_port(), free_port()
        run(f"{BIN}/bbmod", "distgit", "init", self.distgit)
        run(
            f"{BIN}/bbmod",
            "quickstart",
            self.site,
            "--distgit",
            self.distgit,
            "--publish",
            self.publish,
            "--platform",
            "f39",
            "--port",
            str(self.port),
            "--workers",
            "2",
            "--worker-port",
            str(self.worker_port),
        )
        master = os.path.join(self.site, "master")
        run(f"{BIN}/buildbot", "start", master)
        self.addCleanup(self.stop, [f"{BIN}/buildbot", "stop", master], master)
        for n in (1, 2):
            worker = os.path.join(self.site, f"worker{n}")
            run(f"{BIN}/buildbot-worker", "start", worker)
            self.addCleanup(self.stop, [f"{BIN}/buildbot-worker", "stop", worker], worker)
        self.registry = Registry(f"sqlite:///{master}/registry.sqlite")
        self.api = f"http://127.0.0.1:{self.port}/api/v2"
        self.wait_for(lambda: self.connected_workers() >= 2, "two workers to connect")

    def stop(self, command: list[str], folder: str) -> None:
        subprocess.run(command, capture_output=True, check=False, timeout=60)
        if not self._passed:  # keep the story of a failure in the test output
            log = os.path.join(folder, "twistd.log")
            if os.path.exists(log):
                with open(log, encoding="utf-8", errors="replace") as f:
                    print(f"==== {log} (tail)\n" + "".join(f.readlines()[-80:]))

    def connected_workers(self) -> int:
        try:
            workers = requests.get(f"{self.api}/workers", timeout=5).json()["workers"]
        except (requests.RequestException, ValueError, KeyError):
            return 0
        return sum(1 for w in workers if w["connected_to"] and w["name"].startswith("worker"))

    def wait_for(self, check: Any, what: str, seconds: float = 180) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.5)
        raise AssertionError(f"timed out after {seconds} s waiting for {what}")

    def push(self, modules: dict[str, str], specs: dict[str, str]) -> None:
        source = tempdir(self)
        for name, text in modules.items():
            write(source, f"modules/{name}/{name}.yaml", text)
        for name, build in specs.items():
            write(source, f"rpms/{name}/{name}.spec", SPEC.format(name=name, build=build))
        run(f"{BIN}/bbmod", "distgit", "import", self.distgit, source)

    def finished(self, name: str) -> Any:
        """The registry record once the module build is over (ready or failed)."""
        builds = self.registry.module_builds(name=name)
        if builds and builds[0].state in ("ready", "failed"):
            return builds[0]
        done = self.module_builds(name)
        if done:  # Buildbot finished it, but the registry was not told: show why
            steps = self.module_build_steps(name)
            raise AssertionError(
                f"module build of {name} ended without a final registry state: "
                + "; ".join(f"{s['name']}: {s['state_string']}" for s in steps)
            )
        return None

    def module_builds(self, name: str) -> list[dict[str, Any]]:
        builds = requests.get(f"{self.api}/builds", params={"property": "*"}, timeout=5).json()[
            "builds"
        ]
        return [
            b
            for b in builds
            if b["complete"]
            and b["properties"].get("module", [None])[0] == name
            and "nsvcs" in b["properties"]  # a module build, not one of its components
        ]

    def module_build_steps(self, name: str) -> list[dict[str, Any]]:
        mine = self.module_builds(name)
        self.assertTrue(mine, f"no module build of {name}")
        steps = requests.get(f"{self.api}/builds/{mine[-1]['buildid']}/steps", timeout=5)
        result: list[dict[str, Any]] = steps.json()["steps"]
        return result


class Pipeline(RealSite):
    def test_push_build_compose_publish_install(self) -> None:
        sleepy = "sleep 2"
        self.push(
            {
                "pipe": module_yaml(
                    "A pipeline test module",
                    {
                        "p-base": [],
                        "p-left": ["p-base"],
                        "p-right": ["p-base"],
                        "p-top": ["p-left", "p-right"],
                        "p-solo": [],
                    },
                )
            },
            {n: sleepy for n in ("p-base", "p-left", "p-right", "p-top", "p-solo")},
        )
        build = self.wait_for(lambda: self.finished("pipe"), "module pipe to finish")
        self.assertEqual(build.state, "ready", build.state_reason)

        # Each component started only after its own dependencies finished ...
        components = {c.name: c for c in self.registry.components(build.id)}
        self.assertEqual({c.state for c in components.values()}, {"built"})
        for c in components.values():
            for dep in c.after:
                self.assertGreaterEqual(c.started_at, components[dep].finished_at, c.name)
        # ... and the independent one overlapped the others.
        solo = components["p-solo"]
        others = [c for n, c in components.items() if n != "p-solo"]
        self.assertTrue(
            any(o.started_at < solo.finished_at and solo.started_at < o.finished_at for o in others)
        )

        # Published in the stage tree and carried by the aggregate repository.
        arch = os.uname().machine
        path = os.path.join(
            self.publish, "stage", "pipe", "main", f"{build.version}.{build.context}", arch
        )
        self.assertEqual(build.published_path, path)
        self.assertTrue(os.path.isfile(os.path.join(path, "repodata", "repomd.xml")))
        aggregate = os.path.join(self.publish, "stage", "repo")
        self.assertTrue(os.path.isfile(os.path.join(aggregate, "repodata", "repomd.xml")))

        # The real client installs the default profile from the aggregate repository.
        if shutil.which("dnf") is None:
            raise unittest.SkipTest("needs dnf (Debian package dnf) for the install check")
        installroot = tempdir(self)
        run(
            "dnf",
            f"--installroot={installroot}",
            "--releasever=39",
            "--setopt=reposdir=/dev/null",
            "--disableplugin=local",
            f"--setopt=cachedir={installroot}/.cache",
            "--setopt=module_platform_id=platform:f39",
            f"--repofrompath=stage,file://{aggregate}",
            "--repo=stage",
            "--nogpgcheck",
            "-y",
            "module",
            "install",
            "pipe:main/default",
        )
        for name in components:
            self.assertTrue(
                os.path.isfile(os.path.join(installroot, f"usr/share/{name}/{name}.txt")), name
            )

        # A module that buildrequires pipe resolves against the registry.
        self.push(
            {"pipe2": module_yaml("A module on top of pipe", {"p2-app": []}, deps="pipe")},
            {"p2-app": ""},
        )
        second = self.wait_for(lambda: self.finished("pipe2"), "module pipe2 to finish")
        self.assertEqual(second.state, "ready", second.state_reason)
        self.assertEqual(second.buildrequires, {"pipe": "main", "platform": "f39"})

        # A failing component fails the module build by name; nothing downstream builds.
        self.push(
            {
                "pipefail": module_yaml(
                    "A module with a failing component",
                    {"f-ok": [], "f-bad": [], "f-after": ["f-bad"]},
                )
            },
            {"f-ok": "", "f-bad": "exit 1", "f-after": ""},
        )
        failed = self.wait_for(lambda: self.finished("pipefail"), "module pipefail to finish")
        self.assertEqual(failed.state, "failed")
        states = {c.name: c.state for c in self.registry.components(failed.id)}
        self.assertEqual(
            states, {"f-ok": "built", "f-bad": "failed", "f-after": "dependency-failed"}
        )
        self.assertEqual(self.registry.artifacts(failed.id).get("f-after", []), [])
        self.wait_for(lambda: self.module_builds("pipefail"), "the Buildbot build to complete")
        steps = {s["name"]: s for s in self.module_build_steps("pipefail")}
        self.assertIn("failed: f-bad", steps["build components"]["state_string"])
        self.assertFalse(
            os.path.exists(os.path.join(self.publish, "stage", "pipefail")),
            "a failed module must not be published",
        )
