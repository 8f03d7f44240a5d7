"""The Buildbot side on the pinned stack: master.cfg checks, and a real master runs
``bbmod lint`` on a real worker. Importing buildbot.test turns every warning into an
error, so this also proves the pinned set is silent (DESIGN.md §4)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from buildbot.process.results import FAILURE, SUCCESS
from buildbot.test.util.integration import RunMasterBase
from twisted.internet import defer
from twisted.trial import unittest

from buildbot_modules.master.configurator import ModulesConfigurator, Settings

from .helpers import CONTRIB, ROOT, tempdir, write


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
        config: dict = {"configurators": [ModulesConfigurator(Settings(db_url="sqlite://"))]}
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
    def test_invalid_module(self) -> None:
        bad = write(
            tempdir(self), "bad.yaml", "document: modulemd-packager\nversion: 3\ndata: {}\n"
        )
        build = yield self.build_with(bad)
        self.assertEqual(build["results"], FAILURE)
        self.assertTrue(self.checkBuildStepLogExist(build, "summary is missing"))
