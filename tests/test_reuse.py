"""Component reuse (MBS's rebuild strategies): the pure rule, then a module stream built
again and again by an in-process master."""

from __future__ import annotations

import os
import time
from typing import Any

from buildbot.test.util.integration import RunMasterBase
from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from buildbot_modules.core.plan import ComponentPlan
from buildbot_modules.core.problems import ModuleError
from buildbot_modules.core.reuse import module_strategy, reusable
from buildbot_modules.distgit import DistGit
from buildbot_modules.master.site import binary_rpms
from buildbot_modules.registry import Registry

from .helpers import tempdir, write
from .test_module_build import start_site
from .test_pipeline import SPEC

# root -> mid -> leaf, and solo on its own
CHAIN = ComponentPlan(
    after={"root": (), "mid": ("root",), "leaf": ("mid",), "solo": ()}, source="buildafter"
)


class ReusableRule(unittest.TestCase):
    def test_changed_and_after_follows_the_dag(self) -> None:
        self.assertEqual(reusable(CHAIN, {"leaf"}, "changed-and-after"), {"root", "mid", "solo"})
        self.assertEqual(reusable(CHAIN, {"root"}, "changed-and-after"), {"solo"})
        self.assertEqual(reusable(CHAIN, {"mid"}, "changed-and-after"), {"root", "solo"})
        self.assertEqual(reusable(CHAIN, set(), "changed-and-after"), set(CHAIN.components))

    def test_only_changed_and_all(self) -> None:
        self.assertEqual(reusable(CHAIN, {"root"}, "only-changed"), {"mid", "leaf", "solo"})
        self.assertEqual(reusable(CHAIN, set(), "all"), set())
        with self.assertRaises(ValueError):
            reusable(CHAIN, set(), "some")

    def test_strategy_from_xmd(self) -> None:
        default = "changed-and-after"
        self.assertEqual(module_strategy(None, default), default)
        self.assertEqual(module_strategy({"other": 1}, default), default)
        self.assertEqual(module_strategy({"bbmod": {"rebuild_strategy": "all"}}, default), "all")
        with self.assertRaises(ModuleError):
            module_strategy({"bbmod": {"rebuild_strategy": "most"}}, default)


NAMES = ("r-root", "r-mid", "r-leaf", "r-solo")


def reuse_yaml(xmd: str = "") -> str:
    """A stream v2 module (v2 carries xmd): r-root -> r-mid -> r-leaf, and r-solo."""
    after = {"r-mid": "r-root", "r-leaf": "r-mid"}
    lines = [
        "document: modulemd",
        "version: 2",
        "data:",
        "  summary: Reuse",
        "  description: Components reused from the previous build.",
        "  license:",
        "    module: [MIT]",
        "  dependencies:",
        "    - buildrequires:",
        "        platform: [f39]",
        "      requires:",
        "        platform: [f39]",
        "  profiles:",
        "    default:",
        "      rpms: [" + ", ".join(NAMES) + "]",
        "  api:",
        "    rpms: [r-root]",
        "  components:",
        "    rpms:",
    ]
    for name in NAMES:
        lines += [f"      {name}:", "        rationale: Part of the test.", "        ref: main"]
        if name in after:
            lines.append(f"        buildafter: [{after[name]}]")
    if xmd:
        lines += ["  xmd:", "    bbmod:", f"      rebuild_strategy: {xmd}"]
    return "\n".join(lines) + "\n"


class ReuseInProcess(RunMasterBase):
    proto = "pb"
    timeout = 400

    @defer.inlineCallbacks
    def test_rebuild_strategies(self) -> None:
        if os.geteuid() != 0:
            raise unittest.SkipTest("buildroots need root (mount namespaces)")
        settings = yield start_site(self)
        registry = Registry(settings.registry_url)
        distgit = DistGit(settings.distgit)
        source = tempdir(self)
        write(source, "modules/reuse/reuse.yaml", reuse_yaml())
        for name in NAMES:
            write(source, f"rpms/{name}/{name}.spec", SPEC.format(name=name, build=""))
        distgit.import_dir(source)
        first = yield self.wait_ready(registry, 1)
        self.assertEqual(self.states(registry, first.id), dict.fromkeys(NAMES, "built"))

        # A change to the leaf rebuilds the leaf alone; the rest comes from build 1.
        yield self.push(source, distgit, "r-leaf")
        second = yield self.wait_ready(registry, 2)
        self.assertEqual(
            self.states(registry, second.id),
            {"r-root": "reused", "r-mid": "reused", "r-leaf": "built", "r-solo": "reused"},
        )
        components = {c.name: c for c in registry.components(second.id)}
        self.assertIn(f"(module build {first.id})", components["r-root"].reason or "")
        first_nvrs = {c.name: c.nvr for c in registry.components(first.id)}
        self.assertEqual(components["r-root"].nvr, first_nvrs["r-root"])
        self.assertEqual(sorted(registry.artifacts(second.id)), sorted(NAMES))
        self.assertComposed(second)

        # A change to the root rebuilds it and everything downstream; solo is reused.
        yield self.push(source, distgit, "r-root")
        third = yield self.wait_ready(registry, 3)
        self.assertEqual(
            self.states(registry, third.id),
            {"r-root": "built", "r-mid": "built", "r-leaf": "built", "r-solo": "reused"},
        )
        self.assertComposed(third)

        # The module asks for "all" in its xmd: everything is rebuilt.
        yield task.deferLater(reactor, 1.1, lambda: None)
        write(source, "modules/reuse/reuse.yaml", reuse_yaml(xmd="all"))
        distgit.import_dir(source)
        fourth = yield self.wait_ready(registry, 4)
        self.assertEqual(self.states(registry, fourth.id), dict.fromkeys(NAMES, "built"))
        self.assertComposed(fourth)

        # "only-changed" (the module's choice again): a change to the root rebuilds the
        # root alone; what depends on it is reused from build 4 all the same.
        yield task.deferLater(reactor, 1.1, lambda: None)
        write(source, "modules/reuse/reuse.yaml", reuse_yaml(xmd="only-changed"))
        text = SPEC.format(name="r-root", build=f"echo {time.time()}")
        write(source, "rpms/r-root/r-root.spec", text)
        distgit.import_dir(source)
        fifth = yield self.wait_ready(registry, 5)
        self.assertEqual(
            self.states(registry, fifth.id),
            {"r-root": "built", "r-mid": "reused", "r-leaf": "reused", "r-solo": "reused"},
        )
        self.assertEqual(fifth.rebuild_strategy, "only-changed")
        reused_from = {c.name: c.reused_from for c in registry.components(fifth.id)}
        self.assertEqual(reused_from["r-mid"], fourth.id)
        self.assertComposed(fifth)

    def states(self, registry: Registry, build_id: int) -> dict[str, str]:
        return {c.name: c.state for c in registry.components(build_id)}

    def assertComposed(self, record: Any) -> None:
        """Every component's RPM is in the published compose and its modulemd."""
        assert record.published_path
        files = [os.path.basename(p) for p in binary_rpms(record.published_path)]
        for name in NAMES:
            self.assertTrue(any(f.startswith(f"{name}-1.0-") for f in files), (name, files))
            self.assertIn(f"{name}-0:1.0-", record.modulemd)

    @defer.inlineCallbacks
    def push(self, source: str, distgit: DistGit, package: str) -> defer.Deferred:
        yield task.deferLater(reactor, 1.1, lambda: None)  # a later commit second
        text = SPEC.format(name=package, build=f"echo {time.time()}")
        write(source, f"rpms/{package}/{package}.spec", text)
        distgit.import_dir(source)

    @defer.inlineCallbacks
    def wait_ready(self, registry: Registry, count: int) -> defer.Deferred:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            builds = registry.module_builds(name="reuse")
            if len(builds) >= count and builds[0].state in ("ready", "failed"):
                self.assertEqual(builds[0].state, "ready", builds[0].state_reason)
                return builds[0]
            yield task.deferLater(reactor, 0.5, lambda: None)
        self.fail(f"module build {count} of reuse did not finish in 120 s")
