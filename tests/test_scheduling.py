"""Scheduling decisions of the module build: critical-path priorities, one build per
module stream at a time, and a newer request superseding a queued one."""

from __future__ import annotations

import time
from typing import Any

from buildbot.process.properties import Properties
from buildbot.test.util.integration import RunMasterBase
from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from buildbot_modules.core.deps import ExpandedBuild
from buildbot_modules.core.module import Component, ModuleStream
from buildbot_modules.core.plan import plan_module
from buildbot_modules.distgit import DistGit
from buildbot_modules.master.configurator import _collapse_queued, _one_build_per_stream
from buildbot_modules.master.driver import remaining_paths
from buildbot_modules.master.steps import BuildUnit
from buildbot_modules.registry import Registry

from .helpers import tempdir, write
from .test_pipeline import SPEC, module_yaml


def unit(**after: tuple[str, ...]) -> BuildUnit:
    module = ModuleStream(
        name="m", stream="s", components={c: Component(c, buildafter=a) for c, a in after.items()}
    )
    u = BuildUnit(module, ExpandedBuild(module, {}, {}, "c"), 1, 1)
    u.plan = plan_module(module)
    return u


class Priorities(unittest.TestCase):
    def test_remaining_path_puts_the_critical_chain_first(self) -> None:
        # a -> b -> c is the long chain; d is alone; e waits only for a.
        u = unit(a=(), b=("a",), c=("b",), d=(), e=("a",))
        paths = remaining_paths(u, {})
        self.assertEqual(paths, {"a": 3.0, "b": 2.0, "c": 1.0, "d": 1.0, "e": 1.0})
        # A long build elsewhere changes what is critical.
        paths = remaining_paths(u, {"d": 10.0, "e": 5.0})
        self.assertEqual(paths["d"], 10.0)
        self.assertEqual(paths["a"], 6.0)  # a then e (5)
        self.assertGreater(paths["d"], paths["a"])


class FakeRequest:
    def __init__(self, module: str, stream: str) -> None:
        self.properties = Properties(module=module, stream=stream)


class FakeBuild:
    def __init__(self, module: str, stream: str) -> None:
        self.props = {"module": module, "stream": stream}

    def getProperty(self, name: str) -> Any:
        return self.props.get(name)


class FakeBuilder:
    def __init__(self, *running: FakeBuild) -> None:
        self.building = list(running)


class OneBuildPerStream(unittest.TestCase):
    def test_same_stream_waits_other_streams_start(self) -> None:
        builder = FakeBuilder(FakeBuild("hello", "main"))
        self.assertFalse(_one_build_per_stream(builder, None, FakeRequest("hello", "main")))
        self.assertTrue(_one_build_per_stream(builder, None, FakeRequest("hello", "2.0")))
        self.assertTrue(_one_build_per_stream(builder, None, FakeRequest("other", "main")))
        self.assertTrue(_one_build_per_stream(FakeBuilder(), None, FakeRequest("hello", "main")))


class FakeBuildsets:
    def __init__(self, props: dict[int, dict[str, Any]]) -> None:
        self.props = props

    def getBuildsetProperties(self, bsid: int) -> defer.Deferred[dict[str, Any]]:
        return defer.succeed({k: (v, "scheduler") for k, v in self.props[bsid].items()})


class FakeMaster:
    def __init__(self, props: dict[int, dict[str, Any]]) -> None:
        self.db = type("db", (), {"buildsets": FakeBuildsets(props)})()


class Collapse(unittest.TestCase):
    @defer.inlineCallbacks
    def test_newer_request_for_the_same_stream_supersedes_a_queued_one(self) -> None:
        master = FakeMaster(
            {
                1: {"module": "a", "stream": "s"},
                2: {"module": "a", "stream": "s"},
                3: {"module": "a", "stream": "t"},
            }
        )
        old = {"buildrequestid": 10, "buildsetid": 1}
        new = {"buildrequestid": 11, "buildsetid": 2}
        other = {"buildrequestid": 12, "buildsetid": 3}
        self.assertTrue((yield _collapse_queued(master, None, new, old)))
        self.assertFalse((yield _collapse_queued(master, None, old, new)))  # never the reverse
        self.assertFalse((yield _collapse_queued(master, None, other, old)))


class HandOver(RunMasterBase):
    """A finished component's successors are queued before its build frees the worker,
    so the worker goes to the most critical waiting component, not the oldest request."""

    proto = "pb"
    timeout = 180

    @defer.inlineCallbacks
    def test_the_freed_worker_goes_to_the_critical_successor(self) -> None:
        from .test_module_build import start_site

        settings = yield start_site(self)  # one component worker (in the master)
        source = tempdir(self)
        # k1 -> k2 -> k3 is the critical chain; a is alone and waits from the start.
        write(
            source,
            "modules/ho/ho.yaml",
            module_yaml("A hand-over test", {"k1": [], "k2": ["k1"], "k3": ["k2"], "a": []}),
        )
        for name in ("k1", "k2", "k3", "a"):
            write(source, f"rpms/{name}/{name}.spec", SPEC.format(name=name, build=""))
        DistGit(settings.distgit).import_dir(source)
        registry = Registry(settings.registry_url)
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            builds = registry.module_builds(name="ho")
            if builds and builds[0].state in ("ready", "failed"):
                break
            yield task.deferLater(reactor, 0.5, lambda: None)
        self.assertEqual(builds[0].state, "ready", builds[0].state_reason)
        started = {c.name: c.started_at for c in registry.components(builds[0].id)}
        order = sorted(started, key=lambda n: started[n])
        self.assertEqual(order[:2], ["k1", "k2"], started)  # a waited, though queued first
