"""The two ways the driver schedules components (setting ``scheduling``): "dag" requests
a component as soon as its own dependencies are built, "batches" (as MBS) also waits for
every component of the lower levels.

The in-process tests build one module on two PB workers: at level 0 a long component
(``sleep 6``) and a short one, at level 1 a component that waits only for the short one.
Under "batches" it starts after the long one finished; under "dag" well before.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

from buildbot.test.util.integration import RunMasterBase
from buildbot_worker.bot import Worker
from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from buildbot_modules.core.problems import ModuleError
from buildbot_modules.distgit import DistGit
from buildbot_modules.master.driver import BatchGate
from buildbot_modules.master.settings import Settings, load_settings
from buildbot_modules.registry import ComponentRecord, Registry

from .helpers import tempdir, write
from .test_module_build import start_site
from .test_pipeline import SPEC, module_yaml

LONG_SLEEP = 6


class Gate(unittest.TestCase):
    """The barrier alone, as the driver feeds it."""

    def test_batches_hold_a_level_until_the_lower_ones_have_results(self) -> None:
        gate = BatchGate([["a", "b"], ["c", "d"], ["e"]])
        results: dict[str, str] = {}
        self.assertEqual(gate.release(["a", "b"], results), ["a", "b"])
        results["b"] = "built"
        self.assertEqual(gate.release(["c"], results), [])  # a still runs
        self.assertEqual(gate.open_batch, 0)
        results["a"] = "failed"  # a failure is a result: the next batch opens ...
        results["d"] = "dependency-failed"  # ... without what depended on a
        self.assertEqual(gate.release([], results), ["c"])
        self.assertEqual(gate.open_batch, 1)
        results["c"] = "built"
        self.assertEqual(gate.release(["e"], results), ["e"])

    def test_dag_is_one_batch_nothing_is_held(self) -> None:
        gate = BatchGate([["a", "b", "c"]])
        self.assertEqual(gate.release(["a", "b"], {}), ["a", "b"])
        self.assertEqual(gate.release(["c"], {"a": "built"}), ["c"])


class Setting(unittest.TestCase):
    def test_only_dag_and_batches(self) -> None:
        self.assertEqual(Settings().scheduling, "dag")
        Settings(scheduling="batches").check()
        with self.assertRaisesRegex(ValueError, "scheduling 'waves'"):
            Settings(scheduling="waves").check()
        folder = tempdir(self)
        path = write(folder, "settings.toml", 'scheduling = "fifo"\n')
        with self.assertRaisesRegex(ModuleError, "scheduling 'fifo'"):
            load_settings(path)


class ModesInProcess(RunMasterBase):
    proto = "pb"
    timeout = 120

    @defer.inlineCallbacks
    def build(self, scheduling: str) -> Any:
        """Build the test module on two workers; its components by name."""
        settings = yield start_site(
            self, scheduling=scheduling, backend="rpmbuild", workers={"second": "pw2"}
        )
        # The master forgets the second worker at shutdown, with no "missing" timer left.
        self.master.workers.namedServices["second"].missing_timeout = 0
        dispatcher = next(iter(self.master.pbmanager.dispatchers.values()))
        port = dispatcher.port.getHost().port
        second = Worker(
            "127.0.0.1", port, "second", "pw2", tempfile.mkdtemp(dir=tempdir(self)), False
        )
        yield second.setServiceParent(self.master)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            workers = yield self.master.data.get(("workers",))
            if sum(1 for w in workers if w["connected_to"] and w["name"] != "bbmod-local") >= 2:
                break
            yield task.deferLater(reactor, 0.2, lambda: None)
        else:
            self.fail("the two build workers did not connect")
        source = tempdir(self)
        write(
            source,
            "modules/modes/modes.yaml",
            module_yaml("Modes", {"m-long": [], "m-short": [], "m-next": ["m-short"]}),
        )
        for name, build in (("m-long", f"sleep {LONG_SLEEP}"), ("m-short", ""), ("m-next", "")):
            write(source, f"rpms/{name}/{name}.spec", SPEC.format(name=name, build=build))
        DistGit(settings.distgit).import_dir(source)
        registry = Registry(settings.registry_url)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            builds = registry.module_builds(name="modes")
            if builds and builds[0].state in ("ready", "failed"):
                self.assertEqual(builds[0].state, "ready", builds[0].state_reason)
                # The module build goes on (production gate): let it end before the
                # master stops, or the stop interrupts a step as it finishes.
                while time.monotonic() < deadline:
                    running = yield self.master.data.get(("builds",))
                    if all(b["complete"] for b in running):
                        break
                    yield task.deferLater(reactor, 0.3, lambda: None)
                return {c.name: c for c in registry.components(builds[0].id)}
            yield task.deferLater(reactor, 0.3, lambda: None)
        self.fail("module modes did not finish in 90 s")

    def check_levels(self, components: dict[str, ComponentRecord]) -> None:
        self.assertEqual(
            {n: c.level for n, c in components.items()}, {"m-long": 0, "m-short": 0, "m-next": 1}
        )
        for c in components.values():
            self.assertEqual(c.state, "built", c.name)
            assert c.started_at is not None and c.finished_at is not None
            for dep in c.after:
                finished = components[dep].finished_at
                assert finished is not None
                self.assertGreaterEqual(c.started_at, finished, c.name)
        # Both level-0 components ran at the same time, one on each worker.
        long, short = components["m-long"], components["m-short"]
        assert long.started_at and long.finished_at and short.started_at and short.finished_at
        self.assertLess(short.started_at, long.finished_at)
        self.assertLess(long.started_at, short.finished_at)

    @defer.inlineCallbacks
    def test_batches_wait_for_the_whole_lower_level(self) -> None:
        components = yield self.build("batches")
        self.check_levels(components)
        finished = [c.finished_at for c in components.values() if c.level == 0]
        started = [c.started_at for c in components.values() if c.level == 1]
        self.assertGreaterEqual(min(started), max(finished))
        # m-next waited for m-long, which it does not depend on.
        self.assertGreaterEqual(components["m-next"].started_at, components["m-long"].finished_at)

    @defer.inlineCallbacks
    def test_dag_starts_a_component_when_its_own_dependencies_finished(self) -> None:
        components = yield self.build("dag")
        self.check_levels(components)
        # m-next started while m-long (a level lower, not its dependency) still ran.
        nxt, long = components["m-next"], components["m-long"]
        self.assertLess(nxt.started_at, long.finished_at)
