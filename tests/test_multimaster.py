"""Two masters of one site (docs/scaling.md "Several masters"): one PostgreSQL server
holding Buildbot's database and the registry, a Crossbar WAMP router carrying their
events, a shared dist-git, artifact store and publish root, and one worker attached to
each master — all processes on 127.0.0.1, started by the test.

One scenario (about two minutes): a pushed module is requested once (the poller and the
schedulers run on one master at a time) and built with components on both masters'
workers, while the master not driving it serves the UI, Buildbot's API and the module
service; then the master driving a second build is killed with SIGKILL: the other serves
at once, takes a new submission through its module service, and — after
``master_timeout`` (20 s here) — takes over the killed master's build, which resumes
(issue #9) without rebuilding what was built.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from typing import Any

import requests
from twisted.trial import unittest

from buildbot_modules.registry import Registry

from .crossbar import start_crossbar
from .helpers import tempdir, write
from .postgresql import add_database, start_postgresql
from .test_pipeline import BIN, SPEC, free_port, module_yaml, run

MASTER_TIMEOUT = 20  # seconds; docs/scaling.md (Buildbot's own: 10 minutes)


class TwoMasters(unittest.TestCase):
    timeout = 400

    def setUp(self) -> None:
        for tool in ("rpmbuild", "createrepo_c", "git"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest(f"needs {tool} (run make setup)")
        registry_url = start_postgresql(self)
        db_url = add_database(registry_url, "buildbot")
        router = start_crossbar(self)
        root = tempdir(self)
        self.distgit = os.path.join(root, "distgit")
        self.publish = os.path.join(root, "publish")
        site = os.path.join(root, "site")
        run(f"{BIN}/bbmod", "distgit", "init", self.distgit)
        ports = [free_port() for _ in range(4)]
        run(
            f"{BIN}/bbmod",
            "quickstart",
            site,
            "--distgit",
            self.distgit,
            "--publish",
            self.publish,
            "--platform",
            "f39",
            "--port",
            str(ports[0]),
            "--workers",
            "2",
            "--worker-port",
            str(ports[1]),
            "--poll-interval",
            "2",
        )
        first = os.path.join(site, "master")
        with open(os.path.join(first, "settings.toml"), encoding="utf-8") as f:
            common = f.read()
        # What makes them one site: the same database, registry, files and router.
        common += (
            f'db_url = "{db_url}"\nregistry_url = "{registry_url}"\n'
            f'mq = "wamp"\nmq_router_url = "{router}"\nmaster_timeout = {MASTER_TIMEOUT}\n'
            f'artifacts = "{os.path.join(root, "artifacts")}"\n'
            'backend = "rpmbuild"\nchecks = []\n'
        )
        second = os.path.join(site, "master2")
        run(f"{BIN}/buildbot", "create-master", "--relocatable", "--quiet", second)
        shutil.copy(os.path.join(first, "master.cfg"), second)
        self.masters = {first: ports[0], second: ports[2]}
        for folder, (www, pb) in ((first, ports[:2]), (second, ports[2:])):
            text = re.sub(
                r"(?m)^www_port = .*$", f'www_port = "tcp:{www}:interface=127.0.0.1"', common
            )
            text = re.sub(r"(?m)^url = .*$", f'url = "http://127.0.0.1:{www}/"', text)
            text = re.sub(
                r"(?m)^worker_port = .*$", f'worker_port = "tcp:{pb}:interface=127.0.0.1"', text
            )
            write(folder, "settings.toml", text)
        # worker2 belongs to the second master.
        tac = os.path.join(site, "worker2", "buildbot.tac")
        with open(tac, encoding="utf-8") as f:
            text = f.read()
        write(
            os.path.dirname(tac),
            "buildbot.tac",
            re.sub(r"(?m)^port = .*$", f"port = {ports[3]}", text),
        )

        run(f"{BIN}/buildbot", "upgrade-master", first)  # Buildbot's tables in PostgreSQL
        for folder, worker in ((first, "worker1"), (second, "worker2")):
            run(f"{BIN}/buildbot", "start", folder)
            self.addCleanup(self.stop, [f"{BIN}/buildbot", "stop", folder], folder)
            worker_dir = os.path.join(site, worker)
            run(f"{BIN}/buildbot-worker", "start", worker_dir)
            self.addCleanup(self.stop, [f"{BIN}/buildbot-worker", "stop", worker_dir], worker_dir)
            self.wait_for(lambda f=folder: self.serves(f), f"{folder} to serve its UI", 90)
        self.registry = Registry(registry_url)
        self.wait_for(lambda: self.attached() == 2, "a worker attached to each master", 90)

    # -- helpers ----------------------------------------------------------------------

    def stop(self, command: list[str], folder: str) -> None:
        subprocess.run(command, capture_output=True, check=False, timeout=60)
        log = os.path.join(folder, "twistd.log")
        keep = os.environ.get("BBMOD_KEEP_LOGS")  # a folder: every process's log is copied there
        if keep and os.path.exists(log):
            os.makedirs(keep, exist_ok=True)
            shutil.copy(log, os.path.join(keep, os.path.basename(folder) + ".log"))
        if not self._passed and os.path.exists(log):  # the story of a failure
            with open(log, encoding="utf-8", errors="replace") as f:
                print(f"==== {log} (tail)\n" + "".join(f.readlines()[-60:]))

    def api(self, folder: str) -> str:
        return f"http://127.0.0.1:{self.masters[folder]}/api/v2"

    def get(self, folder: str, path: str, **params: Any) -> Any:
        reply = requests.get(f"{self.api(folder)}/{path}", params=params, timeout=10)
        reply.raise_for_status()
        return reply.json()

    def serves(self, folder: str) -> bool:
        """The master answers its UI, Buildbot's API and the module service."""
        base = f"http://127.0.0.1:{self.masters[folder]}"
        try:
            for path in ("/", "/api/v2/builders", "/module-build-service/1/module-builds/"):
                if requests.get(base + path, timeout=5).status_code != 200:
                    return False
        except requests.RequestException:
            return False
        return True

    def attached(self) -> int:
        """Workers attached to some master (as any master's API tells)."""
        folder = next(iter(self.masters))
        try:
            workers = self.get(folder, "workers")["workers"]
        except requests.RequestException:
            return 0
        return sum(1 for w in workers if w["connected_to"] and w["name"].startswith("worker"))

    def master_ids(self, folder: str) -> dict[str, int]:
        """Master folder -> Buildbot masterid (a master's name ends with its folder)."""
        masters = self.get(folder, "masters")["masters"]
        return {f: m["masterid"] for m in masters for f in self.masters if m["name"].endswith(f)}

    def wait_for(self, check: Any, what: str, seconds: float = 150) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.5)
        raise AssertionError(f"timed out after {seconds} s waiting for {what}")

    def push(self, name: str, components: dict[str, list[str]], builds: dict[str, str]) -> None:
        source = tempdir(self)
        write(source, f"modules/{name}/{name}.yaml", module_yaml(f"Module {name}", components))
        for component in components:
            write(
                source,
                f"rpms/{component}/{component}.spec",
                SPEC.format(name=component, build=builds.get(component, "")),
            )
        run(f"{BIN}/bbmod", "distgit", "import", self.distgit, source)

    def over(self, name: str, scratch: bool = False) -> Any:
        builds = self.registry.module_builds(name=name, scratch=scratch)
        final = ("ready", "failed", "done") if scratch else ("ready", "failed")
        return builds[0] if builds and builds[0].state in final else None

    def builds_of(self, folder: str, module: str) -> list[dict[str, Any]]:
        """Buildbot builds of a module: its module builds and its component builds."""
        builds = self.get(folder, "builds", property="*")["builds"]
        return [b for b in builds if b["properties"].get("module", [None])[0] == module]

    # -- the scenario ---------------------------------------------------------------

    def test_two_masters_share_the_work_and_survive_one_killed(self) -> None:
        first, second = self.masters
        ids = self.master_ids(first)
        self.assertEqual(len(ids), 2, ids)

        # 1. A push is requested once, built on both masters' workers, and the master
        #    that does not drive it serves the UI and both APIs meanwhile.
        components = {"m-a": [], "m-b": [], "m-c": [], "m-top": ["m-a", "m-b", "m-c"]}
        self.push("mm-one", components, {c: "sleep 3" for c in components})
        self.wait_for(lambda: self.registry.module_builds(name="mm-one"), "mm-one to start")
        drivers = self.wait_for(
            lambda: [b for b in self.builds_of(first, "mm-one") if "nsvcs" in b["properties"]],
            "mm-one's module build in Buildbot",
        )
        other = first if drivers[0]["masterid"] == ids[second] else second
        self.assertTrue(self.serves(other))
        mbs = requests.get(
            f"http://127.0.0.1:{self.masters[other]}/module-build-service/1/module-builds/",
            params={"name": "mm-one"},
            timeout=10,
        ).json()
        self.assertEqual([b["name"] for b in mbs["items"]], ["mm-one"])
        record = self.wait_for(lambda: self.over("mm-one"), "mm-one to finish")
        self.assertEqual(record.state, "ready", record.state_reason)
        builds = self.builds_of(other, "mm-one")
        module_builds = [b for b in builds if "nsvcs" in b["properties"]]
        self.assertEqual(len(module_builds), 1, "a push must be requested exactly once")
        component_masters = {b["masterid"] for b in builds if "component" in b["properties"]}
        self.assertEqual(component_masters, set(ids.values()), "both masters' workers build")

        # 2. The master driving a second build is killed mid-build.
        components = {"k-first": [], "k-slow": ["k-first"], "k-last": ["k-slow"]}
        self.push("mm-kill", components, {"k-slow": "sleep 8"})

        def slow_building() -> bool:
            builds = self.registry.module_builds(name="mm-kill")
            if not builds:
                return False
            states = {c.name: c.state for c in self.registry.components(builds[0].id)}
            return states.get("k-slow") == "building"

        self.wait_for(slow_building, "k-slow to start building")
        (killed_record,) = self.registry.module_builds(name="mm-kill")
        k_first = {c.name: c for c in self.registry.components(killed_record.id)}["k-first"]
        (driver,) = [b for b in self.builds_of(first, "mm-kill") if "nsvcs" in b["properties"]]
        victim = first if driver["masterid"] == ids[first] else second
        survivor = second if victim == first else first
        with open(os.path.join(victim, "twistd.pid")) as f:
            os.kill(int(f.read().strip()), signal.SIGKILL)
        killed_at = time.monotonic()

        # The survivor serves at once and starts a new build through its module service.
        self.assertTrue(self.serves(survivor))
        one = self.registry.module_builds(name="mm-one")[0]
        reply = requests.post(
            f"http://127.0.0.1:{self.masters[survivor]}/module-build-service/1/module-builds/",
            json={
                "scmurl": f"file://{self.distgit}/modules/mm-one?#{one.commit}",
                "branch": "main",
                "scratch": True,
                "rebuild_strategy": "all",  # built again, on the survivor's worker
            },
            timeout=60,
        )
        self.assertEqual(reply.status_code, 201, reply.text)

        # The killed master's build is taken over after master_timeout and resumes.
        try:
            resumed = self.wait_for(lambda: self.over("mm-kill"), "mm-kill to be resumed", 150)
        except AssertionError:
            pending = self.get(survivor, "buildrequests", complete="false")["buildrequests"]
            print("incomplete build requests:", pending)
            raise
        took = time.monotonic() - killed_at
        self.assertEqual(resumed.state, "ready", resumed.state_reason)
        self.assertEqual(resumed.id, killed_record.id)
        self.assertEqual(len(self.registry.module_builds(name="mm-kill")), 1)
        after = {c.name: c for c in self.registry.components(resumed.id)}
        self.assertEqual(sorted(after), sorted(components))  # one record per component
        self.assertEqual({c.state for c in after.values()}, {"built"})
        self.assertEqual(after["k-first"].buildbot_build_id, k_first.buildbot_build_id)
        self.assertGreaterEqual(took, MASTER_TIMEOUT * 0.9, "taken over before the timeout?")
        masters = {m["masterid"]: m["active"] for m in self.get(survivor, "masters")["masters"]}
        self.assertEqual(masters, {ids[victim]: False, ids[survivor]: True})
        drivers = sorted(
            (b for b in self.builds_of(survivor, "mm-kill") if "nsvcs" in b["properties"]),
            key=lambda b: b["buildid"],
        )
        self.assertEqual([b["masterid"] for b in drivers], [ids[victim], ids[survivor]])
        steps = self.get(survivor, f"builds/{drivers[-1]['buildid']}/steps")["steps"]
        resolve = next(s for s in steps if s["name"] == "resolve dependencies")
        self.assertIn("(resumed", resolve["state_string"])

        scratch = self.wait_for(lambda: self.over("mm-one", scratch=True), "the scratch build")
        self.assertEqual(scratch.state, "done", scratch.state_reason)
        self.assertTrue(scratch.context.endswith("_1"), scratch.context)
        built = {c.state for c in self.registry.components(scratch.id)}
        self.assertEqual(built, {"built"})
        print(f"\nmm-kill ready {took:.0f} s after its master was killed")
