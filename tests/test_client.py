"""The module client (``bbmod list|info|stack|builds|repos|build|watch``) against two
module services — an in-process master and a real ``buildbot start`` site — and one
plain module repository, merged with the source of every row; ``bbmod watch`` following
builds to their end while the in-process master builds them."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from typing import Any

from buildbot.test.util.integration import RunMasterBase
from twisted.internet import defer, threads
from twisted.trial import unittest

from buildbot_modules.client import ClientConfig, ServiceSource, load_config, watch
from buildbot_modules.distgit import DistGit
from buildbot_modules.registry import Registry

from .helpers import ROOT, tempdir, write
from .test_pipeline import BIN, free_port, module_yaml, run
from .test_service_api import push, start_service


def bbmod(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "buildbot_modules.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
        timeout=120,
    )


class ExternalSite:
    """A second site: `bbmod quickstart` + `buildbot start` (no worker, no polling)."""

    def __init__(self, case: unittest.TestCase) -> None:
        root = tempdir(case)
        self.port = free_port()
        distgit = os.path.join(root, "distgit")
        run(f"{BIN}/bbmod", "distgit", "init", distgit)
        run(
            f"{BIN}/bbmod", "quickstart", os.path.join(root, "site"),
            "--distgit", distgit, "--publish", os.path.join(root, "publish"),
            "--port", str(self.port), "--workers", "1",
            "--worker-port", str(free_port()), "--poll-interval", "0",
        )  # fmt: skip
        self.master = os.path.join(root, "site", "master")
        run(f"{BIN}/buildbot", "start", self.master)
        case.addCleanup(
            subprocess.run,
            [f"{BIN}/buildbot", "stop", self.master],
            capture_output=True,
            check=False,
            timeout=60,
        )
        self.url = f"http://127.0.0.1:{self.port}/"
        self.registry = Registry(f"sqlite:///{self.master}/registry.sqlite")
        case.addCleanup(self.registry.dispose)

    def add_ready(self, name: str, stream: str) -> None:
        build = self.registry.create_module_build(
            name=name, stream=stream, version=3920260101000000, context="e0e0e0e0",
            scmurl=f"file:///elsewhere/modules/{name}?#0", commit="0" * 40,
            owner="Ext <ext@example.org>", buildrequires={"platform": "f39"},
            requires={"platform": ["f39"]},
        )  # fmt: skip
        for state in ("wait", "build", "done", "ready"):
            self.registry.set_module_state(build, state)


class ClientAgainstSites(RunMasterBase):
    proto = "pb"
    timeout = 240

    @defer.inlineCallbacks
    def test_two_services_and_a_repository(self) -> Any:
        yield defer.ensureDeferred(self.scenario())

    async def scenario(self) -> None:
        if shutil.which("createrepo_c") is None:
            raise unittest.SkipTest("needs createrepo_c (run make setup)")
        external = await threads.deferToThread(ExternalSite, self)
        settings = await start_service(self)
        config_home = tempdir(self)
        env = dict(os.environ, XDG_CONFIG_HOME=config_home, CLIENT_TEST_PW="devpw")
        write(
            config_home,
            "bbmod/config.toml",
            f'sources = ["{settings.url}", "{external.url}"]\n'
            'user = "dev"\npassword_env = "CLIENT_TEST_PW"\n',
        )
        distgit = DistGit(settings.distgit)
        push(
            distgit,
            tempdir(self),
            {
                "wa": module_yaml("Watched", {"wa-pkg": [], "wa-two": ["wa-pkg"]}),
                "wf": module_yaml("Fails", {"wf-pkg": []}),
            },
            {"wa-pkg": "sleep 2", "wa-two": "", "wf-pkg": "exit 1"},
        )

        # build + watch: the client submits, then follows the build while it runs.
        done = await threads.deferToThread(bbmod, env, "build", "wa:main", "--json")
        self.assertEqual(done.returncode, 0, done.stderr)
        build_id = str(json.loads(done.stdout)["id"])
        watched = await threads.deferToThread(bbmod, env, "watch", build_id, "--interval", "0.3")
        self.assertEqual(watched.returncode, 0, watched.stdout + watched.stderr)
        self.assertIn("2/2 components built", watched.stdout)
        self.assertIn("ended ready", watched.stdout)
        self.assertNotIn("\r", watched.stdout)  # not a terminal: plain lines
        failing = await threads.deferToThread(bbmod, env, "build", "wf:main", "--json")
        self.assertEqual(failing.returncode, 0, failing.stderr)
        fid = str(json.loads(failing.stdout)["id"])
        watched = await threads.deferToThread(bbmod, env, "watch", fid, "--interval", "0.3")
        self.assertEqual(watched.returncode, 1, watched.stdout + watched.stderr)
        self.assertIn("component wf-pkg failed", watched.stdout)
        self.assertIn("ended failed", watched.stdout)
        again = await threads.deferToThread(bbmod, env, "build", "wa:main")
        self.assertEqual(again.returncode, 1)
        self.assertIn("409", again.stderr)

        # The second service has a build of its own; a plain repository has wa too.
        await threads.deferToThread(external.add_ready, "ext", "1")
        wa = Registry(settings.registry_url).module_builds(name="wa")[0]
        repository = os.path.join(tempdir(self), "wa-repo")
        shutil.copytree(wa.published_path, repository)

        listed = await threads.deferToThread(
            bbmod, env, "list", "--json",
            "--source", settings.url, "--source", external.url, "--source", repository,
        )  # fmt: skip
        self.assertEqual(listed.returncode, 0, listed.stderr)
        rows = {(r["name"], r["stream"], r["source"]): r for r in json.loads(listed.stdout)}
        self.assertEqual(
            set(rows),
            {
                ("wa", "main", settings.url),
                ("wf", "main", settings.url),
                ("ext", "1", external.url),
                ("wa", "main", repository),
            },
        )
        self.assertEqual(rows[("wa", "main", settings.url)]["latest"], wa.nsvc)
        self.assertEqual(rows[("wa", "main", repository)]["latest"], wa.nsvc)
        self.assertEqual(
            rows[("ext", "1", external.url)]["latest"], "ext:1:3920260101000000:e0e0e0e0"
        )

        # Default sources from the configuration; text output names each source.
        text = await threads.deferToThread(bbmod, env, "list")
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn(external.url, text.stdout)
        self.assertIn("ext:1", text.stdout)
        info = await threads.deferToThread(
            bbmod, env, "info", wa.nsvc, "--source", settings.url, "--source", repository
        )
        self.assertEqual(info.returncode, 0, info.stderr)
        self.assertIn(f"(from {settings.url})", info.stdout)
        self.assertIn(f"(from {repository})", info.stdout)
        self.assertIn("component wa-two: built", info.stdout)
        stack = await threads.deferToThread(bbmod, env, "stack", "wa:main")
        self.assertEqual(stack.returncode, 0, stack.stderr)
        self.assertIn(f"{wa.nsvc} [ready]", stack.stdout)
        self.assertIn("platform:f39 [not in the registry] (buildrequires, requires)", stack.stdout)
        builds = await threads.deferToThread(bbmod, env, "builds", "--state", "failed", "--json")
        self.assertEqual([b["id"] for b in json.loads(builds.stdout)], [int(fid)])
        folder = tempdir(self)
        repos = await threads.deferToThread(
            bbmod, env, "repos", "--write", folder, "--source", settings.url,
            "--source", repository,
        )  # fmt: skip
        self.assertEqual(repos.returncode, 0, repos.stderr)
        written = sorted(os.listdir(folder))
        self.assertEqual(written, ["bbmod-wa-repo.repo", "wa-main-stage.repo"])
        with open(os.path.join(folder, "wa-main-stage.repo"), encoding="utf-8") as f:
            self.assertIn(f"baseurl=file://{wa.published_path}", f.read())
        missing = await threads.deferToThread(bbmod, env, "info", "nope:main")
        self.assertEqual(missing.returncode, 1)


class FakeService(ServiceSource):
    def __init__(self, answers: list[dict[str, Any]]) -> None:
        super().__init__("http://fake/")
        self.answers = answers

    def module_build(self, build_id: str) -> dict[str, Any]:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def fake_build(state: str, components: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "nsvc": "m:s:1:c",
        "state_name": state,
        "state_reason": extra.pop("reason", None),
        "components": [{"name": n, "state": s, "reason": None} for n, s in components.items()],
        **extra,
    }


class WatchOutput(unittest.TestCase):
    def test_terminal_line_and_exit_codes(self) -> None:
        source = FakeService(
            [
                fake_build("build", {"x": "building", "y": "waiting"}),
                fake_build("build", {"x": "failed", "y": "dependency-failed"}),
                fake_build("failed", {"x": "failed", "y": "dependency-failed"}, reason="x"),
            ]
        )
        out = io.StringIO()
        self.assertEqual(watch(source, "1", out, tty=True, sleep=lambda _s: None), 1)
        text = out.getvalue()
        self.assertIn("\r\x1b[Km:s:1:c build: 0/2 components built, 1 building, 0 failed", text)
        self.assertEqual(text.count("component x failed"), 1)
        self.assertIn("component y dependency-failed", text)
        self.assertTrue(text.endswith("m:s:1:c ended failed (x)\n"))
        held = FakeService([fake_build("done", {"x": "built"}, decisions={"stage": {}})])
        self.assertEqual(watch(held, "1", io.StringIO(), tty=False, sleep=lambda _s: None), 0)

    def test_config_from_xdg_config_home(self) -> None:
        home = tempdir(self)
        write(home, "bbmod/config.toml", 'sources = ["a", "b"]\nuser = "u"\npassword = "p"\n')
        old = os.environ.get("XDG_CONFIG_HOME")
        os.environ["XDG_CONFIG_HOME"] = home
        try:
            self.assertEqual(load_config(), ClientConfig(["a", "b"], "u", "p"))
        finally:
            if old is None:
                del os.environ["XDG_CONFIG_HOME"]
            else:
                os.environ["XDG_CONFIG_HOME"] = old
