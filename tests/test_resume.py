"""A module build that does not start over: resubmission of a failed build, scratch builds
and the rebuild strategy of one request (an in-process master); a master killed with
SIGKILL mid-build and a worker lost mid-build (a real master and worker processes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any

import requests
from buildbot.process.results import CANCELLED, RETRY, SUCCESS
from buildbot.test.util.integration import RunMasterBase
from twisted.internet import defer, reactor, task

from buildbot_modules.distgit import DistGit
from buildbot_modules.master.site import binary_rpms
from buildbot_modules.registry import Registry

from .helpers import tempdir, write
from .test_module_build import start_site
from .test_pipeline import BIN, SPEC, RealSite, module_yaml, run

FORCE = ("forceschedulers", "bbmod-rebuild")


def flaky_build(flag: str) -> str:
    """A %build that fails until ``flag`` exists on the worker's host."""
    return f'test -e {flag} || {{ echo "{flag} is missing: failing on purpose"; exit 1; }}'


class ResubmitInProcess(RunMasterBase):
    proto = "pb"
    timeout = 300

    @defer.inlineCallbacks
    def test_resubmitting_a_failed_build_retries_only_what_did_not_finish(self) -> None:
        # Plain rpmbuild: the flag file must be visible (a buildroot has its own /tmp).
        settings = yield start_site(self, backend="rpmbuild")
        registry = Registry(settings.registry_url)
        source = tempdir(self)
        flag = os.path.join(tempdir(self), "allow")
        components = {"f-base": [], "f-top": ["f-base"], "f-bad": [], "f-after": ["f-bad"]}
        write(source, "modules/flaky/flaky.yaml", module_yaml("Flaky", components))
        for name in components:
            build = flaky_build(flag) if name == "f-bad" else ""
            write(source, f"rpms/{name}/{name}.spec", SPEC.format(name=name, build=build))
        DistGit(settings.distgit).import_dir(source)

        first = yield self.wait_final(registry, "flaky")
        self.assertEqual(first.state, "failed")
        before = {c.name: c for c in registry.components(first.id)}
        self.assertEqual(
            {n: c.state for n, c in before.items()},
            {
                "f-base": "built",
                "f-top": "built",
                "f-bad": "failed",
                "f-after": "dependency-failed",
            },
        )

        # The same sources submitted again: the same N:S:V:C, so MBS's resubmission.
        with open(flag, "w"):
            pass
        yield self.force("flaky")
        again = yield self.wait_final(registry, "flaky", after=first.finished_at)
        self.assertEqual(again.state, "ready", again.state_reason)
        self.assertEqual(again.id, first.id)  # one registry record for the N:S:V:C
        self.assertEqual(len(registry.module_builds(name="flaky")), 1)
        resolved = yield self.step_summaries("resolve dependencies")
        self.assertEqual(len(resolved), 2)
        self.assertTrue(resolved[-1].endswith(" (resubmitted)"), resolved)
        after = {c.name: c for c in registry.components(first.id)}
        self.assertEqual({c.state for c in after.values()}, {"built"})
        for name in ("f-base", "f-top"):  # finished before: not built again
            self.assertEqual(after[name].buildbot_build_id, before[name].buildbot_build_id)
            self.assertEqual(after[name].started_at, before[name].started_at)
        counts = yield self.component_build_counts("flaky")
        self.assertEqual(counts, {"f-base": 1, "f-top": 1, "f-bad": 2, "f-after": 1})
        files = [os.path.basename(p) for p in binary_rpms(again.published_path or "")]
        self.assertEqual(sorted(f.split("-1.0-")[0] for f in files), sorted(components))

        # A scratch build of the same sources: its own context, published apart, and
        # never ready for others (nor promoted); the real build is unchanged.
        yield self.force("flaky", scratch=True)
        scratch = yield self.wait_scratch(registry, "flaky")
        self.assertEqual(scratch.context, again.context + "_1")
        self.assertEqual(scratch.state, "done", scratch.state_reason)
        self.assertIn(f"{os.sep}scratch{os.sep}flaky{os.sep}", scratch.published_path or "")
        self.assertEqual(
            [b.context for b in registry.catalogue().builds("flaky", "main")], [again.context]
        )
        self.assertEqual(registry.module_build(again.id).state, "ready")
        # A scratch build reuses like any build (nothing changed: everything is reused).
        self.assertEqual({c.state for c in registry.components(scratch.id)}, {"reused"})
        self.assertEqual({c.reused_from for c in registry.components(scratch.id)}, {again.id})

        # The request's own strategy wins over the module's and the site's: "all".
        yield self.force("flaky", scratch=True, rebuild_strategy="all")
        second = yield self.wait_scratch(registry, "flaky", count=2)
        self.assertEqual(second.context, again.context + "_2")
        self.assertEqual({c.state for c in registry.components(second.id)}, {"built"})

    @defer.inlineCallbacks
    def force(self, module: str, **extra: Any) -> defer.Deferred:
        yield self.master.data.control(
            "force", {"owner": "test", "module": module, "stream": "main", **extra}, FORCE
        )

    @defer.inlineCallbacks
    def wait_final(self, registry: Registry, name: str, after: Any = None) -> defer.Deferred:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            builds = [b for b in registry.module_builds(name=name) if not b.scratch]
            final = builds and builds[0].state in ("ready", "failed")
            if final and (after is None or (builds[0].finished_at or after) > after):
                return builds[0]
            yield task.deferLater(reactor, 0.3, lambda: None)
        self.fail(f"the module build of {name} did not finish in 150 s")

    @defer.inlineCallbacks
    def wait_scratch(self, registry: Registry, name: str, count: int = 1) -> defer.Deferred:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            builds = [b for b in registry.module_builds(name=name) if b.scratch]
            over = len(builds) >= count and builds[0].state in ("done", "ready", "failed")
            if over and (builds[0].published_path or builds[0].state == "failed"):
                yield self.wait_idle()
                return registry.module_build(builds[0].id)
            yield task.deferLater(reactor, 0.3, lambda: None)
        self.fail(f"scratch build {count} of {name} did not finish in 150 s")

    @defer.inlineCallbacks
    def step_summaries(self, name: str) -> defer.Deferred:
        """The summary of step ``name`` in every build that has one, oldest first."""
        out = []
        for build in (yield self.master.data.get(("builds",))):
            for step in (yield self.master.data.get(("builds", build["buildid"], "steps"))):
                if step["name"] == name:
                    out.append(step["state_string"])
        return out

    @defer.inlineCallbacks
    def wait_idle(self) -> defer.Deferred:
        """Until no build runs (the gates after publish have had their say)."""
        for _ in range(200):
            builds = yield self.master.data.get(("builds",))
            if all(b["complete"] for b in builds):
                return
            yield task.deferLater(reactor, 0.3, lambda: None)

    @defer.inlineCallbacks
    def component_build_counts(self, module: str) -> defer.Deferred:
        """How many Buildbot builds each component had (every attempt counts)."""
        builds = yield self.master.data.get(("builds",))
        counts: dict[str, int] = {}
        for b in builds:
            props = yield self.master.data.get(("builds", b["buildid"], "properties"))
            if props.get("module", (None,))[0] == module and "component" in props:
                name = props["component"][0]
                counts[name] = counts.get(name, 0) + 1
        return counts


class Recovery(RealSite):
    """A real master and two worker processes (test_pipeline's site): the master killed
    with SIGKILL mid-build and restarted; a worker killed mid-build."""

    timeout = 600

    def master_pid(self) -> int:
        with open(os.path.join(self.site, "master", "twistd.pid")) as f:
            return int(f.read().strip())

    def over(self, name: str) -> Any:
        """The registry record once ready or failed (the master may have restarted)."""
        builds = self.registry.module_builds(name=name)
        return builds[0] if builds and builds[0].state in ("ready", "failed") else None

    def components(self, name: str) -> dict[str, Any]:
        builds = self.registry.module_builds(name=name)
        return {c.name: c for c in self.registry.components(builds[0].id)} if builds else {}

    def component_builds(self, module: str) -> list[dict[str, Any]]:
        """Every Buildbot build of the module's components, with its properties."""
        builds = requests.get(f"{self.api}/builds", params={"property": "*"}, timeout=5).json()[
            "builds"
        ]
        return [
            b
            for b in builds
            if b["properties"].get("module", [None])[0] == module and "component" in b["properties"]
        ]

    def test_master_killed_mid_build_resumes_without_rebuilding(self) -> None:
        components = {"k-first": [], "k-slow": ["k-first"], "k-last": ["k-slow"]}
        builds = {"k-first": "", "k-slow": "sleep 12", "k-last": ""}
        self.push({"killed": module_yaml("Killed", components)}, builds)
        self.wait_for(
            lambda: (
                self.components("killed").get("k-slow")
                and self.components("killed")["k-slow"].state == "building"
            ),
            "k-slow to start building",
            120,
        )
        first_id = self.registry.module_builds(name="killed")[0].id
        first_built = self.components("killed")["k-first"]
        self.assertEqual(first_built.state, "built")
        os.kill(self.master_pid(), signal.SIGKILL)
        time.sleep(1)
        master = os.path.join(self.site, "master")
        os.unlink(os.path.join(master, "twistd.pid"))  # a stale pid file stops `buildbot start`
        run(f"{BIN}/buildbot", "start", master)

        record = self.wait_for(lambda: self.over("killed"), "the resumed module build", 240)
        self.assertEqual(record.state, "ready", record.state_reason)
        self.assertEqual(record.id, first_id)
        self.assertEqual(len(self.registry.module_builds(name="killed")), 1)
        after = self.components("killed")
        self.assertEqual(sorted(after), sorted(components))  # one record per component
        self.assertEqual({c.state for c in after.values()}, {"built"})
        # k-first finished before the kill: its build is the one from before.
        self.assertEqual(after["k-first"].buildbot_build_id, first_built.buildbot_build_id)
        runs: dict[str, list[int | None]] = {}
        for b in self.component_builds("killed"):
            runs.setdefault(b["properties"]["component"][0], []).append(b["results"])
        self.assertEqual(len(runs["k-first"]), 1, runs)
        # k-slow: the build the kill interrupted (RETRY), possibly the requeued leftover
        # that stood down (CANCELLED), and one successful build.
        self.assertEqual(runs["k-slow"].count(SUCCESS), 1, runs)
        self.assertLessEqual(set(runs["k-slow"]), {SUCCESS, RETRY, CANCELLED}, runs)
        self.assertEqual(runs["k-last"], [SUCCESS], runs)
        files = [os.path.basename(p) for p in binary_rpms(record.published_path or "")]
        self.assertEqual(len(files), 3, files)

    def test_a_lost_worker_is_replaced(self) -> None:
        components = {"w-slow": [], "w-next": ["w-slow"]}
        self.push({"lost": module_yaml("Lost", components)}, {"w-slow": "sleep 10", "w-next": ""})
        self.wait_for(
            lambda: (
                self.components("lost").get("w-slow")
                and self.components("lost")["w-slow"].state == "building"
            ),
            "w-slow to start building",
            120,
        )
        time.sleep(1)
        (running,) = [b for b in self.component_builds("lost") if not b["complete"]]
        workers = requests.get(f"{self.api}/workers", timeout=5).json()["workers"]
        name = next(w["name"] for w in workers if w["workerid"] == running["workerid"])
        folder = os.path.join(self.site, name)
        with open(os.path.join(folder, "twistd.pid")) as f:
            pid = int(f.read().strip())
        # The worker and everything it started (the buildroot, rpmbuild) die at once.
        subprocess.run(["pkill", "-KILL", "-s", str(os.getsid(pid))], check=False)
        os.kill(pid, signal.SIGKILL)

        record = self.wait_for(lambda: self.over("lost"), "the module build", 240)
        self.assertEqual(record.state, "ready", record.state_reason)
        slow = self.components("lost")["w-slow"]
        self.assertEqual(slow.state, "built")
        self.assertEqual(slow.attempts, 2)
        runs = [
            b for b in self.component_builds("lost") if b["properties"]["component"][0] == "w-slow"
        ]
        self.assertEqual(sorted(b["results"] for b in runs), [SUCCESS, RETRY], runs)
        other = next(b for b in runs if b["results"] == SUCCESS)
        self.assertNotEqual(other["workerid"], running["workerid"])  # on the other worker
