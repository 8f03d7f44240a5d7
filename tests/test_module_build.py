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


@defer.inlineCallbacks
def start_site(case: RunMasterBase) -> defer.Deferred:
    """A master on this site's defaults, all state in a temporary folder; no web UI."""
    for tool in ("rpmbuild", "createrepo_c"):
        if shutil.which(tool) is None:
            raise unittest.SkipTest(f"needs {tool} (run make setup)")
    root = tempdir(case)
    settings = Settings(
        db_url="sqlite://",
        registry_url=f"sqlite:///{root}/registry.sqlite",
        www_port=None,
        distgit=os.path.join(root, "distgit"),
        publish_root=os.path.join(root, "publish"),
        artifacts=os.path.join(root, "artifacts"),
        poll_interval=1,
    )
    DistGit.init(settings.distgit)
    yield case.setup_master({"configurators": [ModulesConfigurator(settings)]})
    return settings


class ModuleBuildInProcess(RunMasterBase):
    proto = "pb"
    timeout = 180

    @defer.inlineCallbacks
    def test_dag_module_builds_and_publishes(self) -> None:
        settings = yield start_site(self)
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


class CancelInProcess(RunMasterBase):
    proto = "pb"
    timeout = 180

    @defer.inlineCallbacks
    def test_stopping_the_module_build_cancels_its_components(self) -> None:
        settings = yield start_site(self)
        source = tempdir(self)
        write(
            source,
            "modules/slow/slow.yaml",
            module_yaml("Slow", {"s-slow": [], "s-after": ["s-slow"], "s-other": []}),
        )
        for name in ("s-slow", "s-after", "s-other"):
            write(source, f"rpms/{name}/{name}.spec", SPEC.format(name=name, build="sleep 60"))
        DistGit(settings.distgit).import_dir(source)
        registry = Registry(settings.registry_url)

        def building() -> list[str]:
            builds = registry.module_builds(name="slow")
            if not builds:
                return []
            return [c.name for c in registry.components(builds[0].id) if c.state == "building"]

        deadline = time.monotonic() + 60
        while not building() and time.monotonic() < deadline:
            yield task.deferLater(reactor, 0.3, lambda: None)
        self.assertTrue(building(), "no component started building")
        yield task.deferLater(reactor, 1, lambda: None)  # let rpmbuild start its sleep
        names = yield self.builder_names()
        builds = yield self.master.data.get(("builds",))
        # Module builds show as the virtual builder "module N:S".
        (module_build,) = [
            b for b in builds if not b["complete"] and names[b["builderid"]] == "module slow:main"
        ]
        started = time.monotonic()
        yield self.master.data.control(
            "stop", {"reason": "release engineer said so"}, ("builds", module_build["buildid"])
        )
        while time.monotonic() - started < 60:
            record = registry.module_builds(name="slow")[0]
            if record.state == "failed":
                break
            yield task.deferLater(reactor, 0.3, lambda: None)
        # Stopped well before the 60 s sleep ended: the running rpmbuild was killed.
        self.assertLess(time.monotonic() - started, 30)
        self.assertEqual(record.state, "failed")
        self.assertIn("module build stopped", record.state_reason)
        states = {c.name: c.state for c in registry.components(record.id)}
        self.assertEqual(set(states.values()), {"cancelled"}, states)
        builds = yield self.master.data.get(("builds",))
        component_builds = [b for b in builds if names[b["builderid"]] == "components slow:main"]
        self.assertTrue(component_builds)
        self.assertTrue(all(b["complete"] for b in component_builds))

    @defer.inlineCallbacks
    def builder_names(self) -> defer.Deferred:
        builders = yield self.master.data.get(("builders",))
        return {b["builderid"]: b["name"] for b in builders}
