"""A module build inside one process: the real master, its dist-git poller, the module
and component builders, and one worker. Quicker to read than the full pipeline test
(tests/test_pipeline.py), which runs separate master and worker processes."""

from __future__ import annotations

import os
import shutil
import time

from buildbot.test.util.integration import RunMasterBase
from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from buildbot_modules.distgit import DistGit
from buildbot_modules.master.configurator import ModulesConfigurator, Settings
from buildbot_modules.registry import Registry

from .helpers import tempdir, write
from .test_pipeline import SPEC, module_yaml


class ModuleBuildInProcess(RunMasterBase):
    proto = "pb"
    timeout = 180

    @defer.inlineCallbacks
    def test_dag_module_builds_and_publishes(self) -> None:
        for tool in ("rpmbuild", "createrepo_c"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest(f"needs {tool} (run make setup)")
        root = tempdir(self)
        settings = Settings(
            db_url="sqlite://",
            registry_url=f"sqlite:///{root}/registry.sqlite",
            www_port=0,
            distgit=os.path.join(root, "distgit"),
            publish_root=os.path.join(root, "publish"),
            artifacts=os.path.join(root, "artifacts"),
            poll_interval=1,
        )
        DistGit.init(settings.distgit)
        yield self.setup_master({"configurators": [ModulesConfigurator(settings)]})
        source = tempdir(self)
        obsoletes = (
            "---\ndocument: modulemd-obsoletes\nversion: 1\ndata:\n"
            "  modified: 2026-11-25T00:00Z\n  module: dag\n  stream: main\n"
            "  message: Replaced by a later stream.\n"
        )
        write(
            source,
            "modules/dag/dag.yaml",
            module_yaml("A DAG", {"d-base": [], "d-top": ["d-base"], "d-solo": []}) + obsoletes,
        )
        for name in ("d-base", "d-top", "d-solo"):
            write(source, f"rpms/{name}/{name}.spec", SPEC.format(name=name, build=""))
        DistGit(settings.distgit).import_dir(source)
        registry = Registry(settings.registry_url)
        first = yield self.wait_ready(registry, 1)
        states = {c.name: c.state for c in registry.components(first.id)}
        self.assertEqual(states, {"d-base": "built", "d-top": "built", "d-solo": "built"})
        # The module repository's obsoletes document is composed with the module.
        self.assertIn("document: modulemd-obsoletes", first.modulemd)
        self.assertIn("Replaced by a later stream.", first.modulemd)

        # A push to a component's branch rebuilds the module that tracks it, as a new
        # version whose component commit is the pushed one.
        yield task.deferLater(reactor, 1.1, lambda: None)  # a later commit second
        write(source, "rpms/d-base/d-base.spec", SPEC.format(name="d-base", build="true"))
        pushed = DistGit(settings.distgit).import_dir(source)
        base_commit = next(r.commit for r in pushed if r.name == "d-base")
        second = yield self.wait_ready(registry, 2)
        self.assertGreater(second.version, first.version)
        commits = {c.name: c.commit for c in registry.components(second.id)}
        self.assertEqual(commits["d-base"], base_commit)

    @defer.inlineCallbacks
    def wait_ready(self, registry: Registry, count: int) -> defer.Deferred:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            builds = registry.module_builds(name="dag")
            if len(builds) >= count and builds[0].state in ("ready", "failed"):
                self.assertEqual(builds[0].state, "ready", builds[0].state_reason)
                return builds[0]
            yield task.deferLater(reactor, 0.5, lambda: None)
        self.fail(f"module build {count} of dag did not finish in 120 s")
