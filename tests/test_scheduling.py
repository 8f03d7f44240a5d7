"""Scheduling decisions of the module build: critical-path priorities, one build per
module stream at a time, and a newer request superseding a queued one."""

from __future__ import annotations

from typing import Any

from buildbot.process.properties import Properties
from twisted.internet import defer
from twisted.trial import unittest

from buildbot_modules.core.deps import ExpandedBuild
from buildbot_modules.core.module import Component, ModuleStream
from buildbot_modules.core.plan import plan_module
from buildbot_modules.master.configurator import _collapse_queued, _one_build_per_stream
from buildbot_modules.master.driver import remaining_paths
from buildbot_modules.master.steps import BuildUnit


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
