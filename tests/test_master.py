"""The Buildbot side on the pinned stack: master.cfg checks, and a real master runs
``bbmod lint`` on a real worker. Importing buildbot.test turns every warning into an
error, so this also proves the pinned set is silent (DESIGN.md §4)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import treq
from buildbot.process.results import FAILURE, SUCCESS
from buildbot.test.util.integration import RunMasterBase
from twisted.internet import defer, reactor
from twisted.trial import unittest
from twisted.web.client import HTTPConnectionPool

from buildbot_modules.master.configurator import ModulesConfigurator, Settings

from .helpers import CONTRIB, ROOT, tempdir, write


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class MasterCfg(unittest.TestCase):
    def test_checkconfig(self) -> None:
        folder = tempdir(self)
        shutil.copy(os.path.join(ROOT, "master.cfg"), folder)
        buildbot = os.path.join(os.path.dirname(sys.executable), "buildbot")
        proc = subprocess.run(
            [buildbot, "checkconfig", folder],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("Config file is good!", proc.stdout)

    def test_bad_settings_refused_at_config_time(self) -> None:
        with self.assertRaises(ValueError):
            ModulesConfigurator(Settings(url="http://localhost:8010"))
        with self.assertRaises(ValueError):
            ModulesConfigurator(Settings(workers={"bad name;rm": "x"}))


class LintOnWorker(RunMasterBase):
    proto = "pb"  # a real worker connected over the network protocol

    @defer.inlineCallbacks
    def build_with(self, module_file: str) -> defer.Deferred:
        # The configurator runs when the master loads its configuration, as in master.cfg.
        self.www_port = free_port()
        settings = Settings(
            db_url="sqlite://",
            www_port=f"tcp:{self.www_port}:interface=127.0.0.1",
            url=f"http://127.0.0.1:{self.www_port}/",
        )
        config: dict = {"configurators": [ModulesConfigurator(settings)]}
        yield self.setup_master(config)
        build = yield self.doForceBuild(
            wantSteps=True,
            wantLogs=True,
            triggerCallback=lambda: self.master.data.control(
                "force", {"module_file": module_file}, ("forceschedulers", "module-lint")
            ),
        )
        return build

    @defer.inlineCallbacks
    def test_valid_module(self) -> None:
        build = yield self.build_with(os.path.join(CONTRIB, "modules", "hello", "hello.yaml"))
        self.assertEqual(build["results"], SUCCESS)

    @defer.inlineCallbacks
    def test_web_ui_serves_the_dashboards(self) -> None:
        yield self.build_with(os.path.join(CONTRIB, "modules", "hello", "hello.yaml"))
        # No kept-alive connection may outlive the test (trial checks the reactor).
        pool = HTTPConnectionPool(reactor, persistent=False)
        response = yield treq.get(f"http://127.0.0.1:{self.www_port}/config", pool=pool)
        self.assertEqual(response.code, 200)
        config = json.loads((yield response.text()))
        self.assertEqual(
            set(config["plugins"]),
            {"waterfall_view", "console_view", "grid_view", "wsgi_dashboards"},
        )
        builders = yield treq.get(f"http://127.0.0.1:{self.www_port}/api/v2/builders", pool=pool)
        names = [b["name"] for b in json.loads((yield builders.text()))["builders"]]
        # module-maintenance: retention; __Janitor: Buildbot's own, deleting old logs.
        self.assertEqual(
            sorted(names),
            [
                "__Janitor",
                "components",
                "module-actions",
                "module-lint",
                "module-maintenance",
                "modules",
            ],
        )

    @defer.inlineCallbacks
    def test_invalid_module(self) -> None:
        bad = write(
            tempdir(self), "bad.yaml", "document: modulemd-packager\nversion: 3\ndata: {}\n"
        )
        build = yield self.build_with(bad)
        self.assertEqual(build["results"], FAILURE)
        self.assertTrue(self.checkBuildStepLogExist(build, "summary is missing"))
