"""Retention, retiring and registry backups (buildbot_modules/retention.py), for real: a
SQLite registry filled through the Registry API with a controllable clock, a publish root
made by publishing real tiny composes (rpmbuild, createrepo_c, libmodulemd), dnf reading
the stage repository, the ``bbmod`` command run as a child process, and the
``module-maintenance`` builder in an in-process master."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from buildbot.process.results import SUCCESS
from buildbot.test.util.integration import RunMasterBase
from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from buildbot_modules.compose import ComponentResult, ComposeResult, compose
from buildbot_modules.master.site import ModuleSite
from buildbot_modules.publish import publish, published
from buildbot_modules.registry import MODULE_TRANSITIONS, InvalidState, Registry
from buildbot_modules.retention import collect_garbage, master_site

from .helpers import ROOT, tempdir, write
from .postgresql import start_postgresql
from .test_compose import ARCH, COMMIT, DEMO, OTHER, ComposeTestBase, host_state
from .test_module_build import start_site
from .test_registry import Clock, advance, component, create

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=30)
RECENT = NOW - timedelta(days=1)
V1, V2, V3 = 3920260101000000, 3920260102000000, 3920260103000000


def bbmod(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process, importing this checkout (PYTHONPATH)."""
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "buildbot_modules.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        cwd=ROOT,
        env=env,
        check=False,
        timeout=120,
    )


def new_master(case: unittest.TestCase, registry_url: str = "sqlite:///registry.sqlite") -> str:
    """A master folder as the CLI sees it: settings.toml with the registry, artifacts and
    publish root beside it."""
    master = os.path.join(tempdir(case), "master")
    write(
        master,
        "settings.toml",
        f'registry_url = "{registry_url}"\npublish_root = "publish"\nartifacts = "artifacts"\n',
    )
    return master


def dnf(tmp: str, repo: str, *args: str) -> subprocess.CompletedProcess[str]:
    """dnf on ``repo`` only, in a private installroot and cache (as test_compose does)."""
    installroot = os.path.join(tmp, "installroot")
    os.makedirs(installroot, exist_ok=True)
    return subprocess.run(
        [
            "dnf",
            f"--installroot={installroot}",
            "--releasever=39",
            "--setopt=reposdir=/dev/null",
            "--disableplugin=local",
            "--disableplugin=generate_completion_cache",
            "--setopt=module_platform_id=platform:f39",
            f"--setopt=cachedir={tmp}/cache",
            "--setopt=metadata_expire=0",
            f"--repofrompath=stage,file://{repo}",
            "--repo=stage",
            "--nogpgcheck",
            "-y",
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "LC_ALL": "C"},
    )


class SiteTestBase(ComposeTestBase):
    """A master folder, its site and a clocked registry on the same database."""

    def setUp(self) -> None:
        super().setUp()
        self.master = new_master(self)
        self.site: ModuleSite = master_site(self.master)
        self.addCleanup(self.site.registry.dispose)
        self.clock = Clock(OLD)
        self.registry = Registry(self.site.registry.url, clock=self.clock)
        self.addCleanup(self.registry.dispose)
        self.registry.upgrade()

    def compose_module(self, name: str, version: int) -> ComposeResult:
        text, stream = (DEMO.format(default_is_default="true", docs_is_default="false"), "main")
        components = [
            ComponentResult("alpha", self.rpms["alpha"], "a" * 40),
            ComponentResult("tool", self.rpms["tool"], "b" * 40),
        ]
        if name == "other":
            text, stream = OTHER, "1.0"
            components = [ComponentResult("gamma", self.rpms["gamma"], "d" * 40)]
        module, build = self.module(text, name, stream)
        out = os.path.join(self.tmp, f"compose-{name}-{version}")
        return compose(module, build, version, ARCH, components, COMMIT, out)

    def add(
        self,
        name: str,
        version: int,
        state: str,
        *,
        at: datetime = OLD,
        scratch: bool = False,
        areas: tuple[str, ...] = (),
        reason: str | None = None,
    ) -> int:
        """A build of demo:main (context demo01) or other:1.0 (other01) in ``state``,
        finished at ``at``, with artifacts, published to ``areas``."""
        stream, context = ("main", "demo01") if name == "demo" else ("1.0", "other01")
        self.clock.now = at
        build = create(
            self.registry, name, stream, version=version, context=context, scratch=scratch
        )
        self.registry.add_components(build, [component("alpha")])
        path = self.site.artifact_dir(build)
        write(path, "alpha/results/alpha-1.0-1.noarch.rpm", "rpm " * 1000)
        write(path, ".buildroot/alpha/buildroot-repo.tar", "tar")
        if state == "failed":
            advance(self.registry, build, "wait", "build")
            self.registry.set_module_state(build, "failed", reason or "component alpha failed")
            return build
        advance(self.registry, build, "wait", "build", "done")
        if areas:
            result = self.compose_module(name, version)
            target = ""
            for area in areas:
                target = publish(
                    result, self.site.publish_root, name, stream, version, context, ARCH, area
                )
                if area == "production":
                    self.registry.set_promoted(build, target, "releng")
            stage = os.path.join(
                self.site.publish_root, "stage", name, stream, f"{version}.{context}", ARCH
            )
            self.registry.set_module_result(build, modulemd=result.modulemd, published_path=stage)
        if state == "ready":
            self.registry.set_module_state(build, "ready")
        return build

    def stage(self) -> list[str]:
        return [p.nsvca.rsplit(":", 1)[0] for p in published(self.site.publish_root, "stage")]

    def state(self, build: int) -> str:
        return self.registry.module_build(build).state

    def has_artifacts(self, build: int) -> bool:
        return os.path.isdir(self.site.artifact_dir(build))


class Transitions(unittest.TestCase):
    def test_garbage_is_reachable_from_done_failed_ready_and_final(self) -> None:
        self.assertIn("garbage", MODULE_TRANSITIONS["done"])
        self.assertIn("garbage", MODULE_TRANSITIONS["failed"])
        self.assertIn("garbage", MODULE_TRANSITIONS["ready"])
        self.assertEqual(MODULE_TRANSITIONS["garbage"], frozenset())
        for state in ("init", "wait", "build"):
            self.assertNotIn("garbage", MODULE_TRANSITIONS[state])


class RetentionPolicy(SiteTestBase):
    def test_old_failed_scratch_and_superseded_builds_go_to_garbage(self) -> None:
        failed = self.add("demo", V1, "failed")
        ready = self.add("demo", V2, "ready", areas=("stage",))
        # Failed, then built again under the same N:S:V:C: the registry keeps one live
        # build per N:S:V:C, so the failed one stays failed; its files still go.
        refailed = self.add("other", V3, "failed", reason="worker lost")
        rebuilt = self.add("other", V3, "ready")
        held = self.add("other", V1, "done", areas=("stage",))  # superseded by V2
        newer = self.add("other", V2, "ready", areas=("stage",))
        scratch = self.add("demo", V3, "ready", scratch=True)
        recent_failed = self.add("demo", V3 + 1, "failed", at=RECENT)
        # Held at stage and the newest of its stream: kept, whatever its age.
        lone_held = create(self.registry, "lone", "1", version=V1)
        advance(self.registry, lone_held, "wait", "build", "done")
        self.assertEqual(
            self.stage(),
            [f"demo:main:{V2}:demo01", f"other:1.0:{V1}:other01", f"other:1.0:{V2}:other01"],
        )

        preview = collect_garbage(self.site, 14, now=NOW, dry_run=True)
        self.assertEqual(sorted(c.build.id for c in preview.moved), sorted([failed, held, scratch]))
        self.assertEqual(self.state(failed), "failed")  # a dry run changes nothing
        self.assertTrue(self.has_artifacts(failed))

        lines: list[str] = []
        report = collect_garbage(self.site, 14, now=NOW, log=lines.append)
        self.assertEqual(sorted(c.build.id for c in report.moved), sorted([failed, held, scratch]))
        for build in (failed, held, scratch):
            self.assertEqual(self.state(build), "garbage")
            self.assertFalse(self.has_artifacts(build), build)
        for build in (ready, rebuilt, newer, recent_failed):
            self.assertTrue(self.has_artifacts(build), build)
        self.assertEqual(
            [self.state(b) for b in (ready, rebuilt, newer, recent_failed, lone_held)],
            ["ready", "ready", "ready", "failed", "done"],
        )
        self.assertEqual(self.state(refailed), "failed")
        self.assertFalse(self.has_artifacts(refailed))
        # Why, in the registry: the policy, the date, the old failure reason.
        reason = self.registry.module_build(failed).state_reason or ""
        self.assertIn("garbage-collected on 2026-03-01: failed", reason)
        self.assertIn("garbage_after_days = 14", reason)
        self.assertIn("component alpha failed", reason)
        # Superseded by the newest done or ready version of its stream.
        superseded = self.registry.module_build(held).state_reason or ""
        self.assertIn(f"superseded by other:1.0:{V3}:other01", superseded)
        self.assertIn("scratch", self.registry.module_build(scratch).state_reason)
        # The superseded build left the stage area and its aggregate repository.
        self.assertEqual(self.stage(), [f"demo:main:{V2}:demo01", f"other:1.0:{V2}:other01"])
        self.assertEqual(
            report.unpublished,
            [os.path.join(self.site.publish_root, "stage", "other", "1.0", f"{V1}.other01")],
        )
        aggregate = os.path.join(self.site.publish_root, "stage", "repo")
        with open(os.path.join(aggregate, "repodata", "repomd.xml"), encoding="utf-8") as f:
            self.assertIn("modules", f.read())
        from buildbot_modules.compose import read_modules_metadata

        index = read_modules_metadata(aggregate)
        versions = sorted(s.get_version() for s in index.get_module("other").get_all_streams())
        self.assertEqual(versions, [V2])
        # The log says what moved and what was deleted, with the paths.
        text = "\n".join(report.lines())
        self.assertIn(f"garbage: demo:main:{V1}:demo01 (build {failed}, was failed)", text)
        self.assertIn(f"deleted {self.site.artifact_dir(failed)} (2 files", text)
        self.assertIn(f"failed: other:1.0:{V3}:other01 (build {refailed}, was failed)", text)
        self.assertIn(f"stays failed: build {rebuilt}", text)
        self.assertIn("moved 3 builds to garbage, freed", report.summary())
        self.assertEqual(len(lines), 4 + 1)  # four builds, one unpublished directory

        # A second run finds nothing left to do.
        again = collect_garbage(self.site, 14, now=NOW)
        self.assertEqual((again.collected, again.unpublished), ([], []))
        self.assertIn("nothing to collect", again.lines())
        # 0 days: retention is off.
        off = collect_garbage(self.site, 0, now=NOW + timedelta(days=400))
        self.assertEqual(off.collected, [])
        self.assertIn("retention is off", off.skipped[0])

    def test_collect_garbage_from_the_command_line(self) -> None:
        self.clock.now = datetime.now(UTC) - timedelta(days=20)
        failed = self.add("demo", V1, "failed", at=self.clock.now)
        preview = bbmod("collect-garbage", "--master", self.master, "--dry-run")
        self.assertEqual(preview.returncode, 0, preview.stderr)
        self.assertIn(
            f"garbage: demo:main:{V1}:demo01 (build {failed}, was failed)", preview.stdout
        )
        self.assertIn("dry run, nothing changed", preview.stdout)
        self.assertEqual(self.state(failed), "failed")
        kept = bbmod("collect-garbage", "--master", self.master, "--days", "30")
        self.assertIn("nothing to collect", kept.stdout)
        self.assertEqual(self.state(failed), "failed")
        done = bbmod("collect-garbage", "--master", self.master)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("moved 1 builds to garbage", done.stdout)
        self.assertEqual(self.state(failed), "garbage")
        self.assertFalse(self.has_artifacts(failed))

    def test_mark_garbage_rechecks_the_state(self) -> None:
        build = self.add("demo", V1, "done")
        self.registry.set_module_state(build, "ready")
        e = self.assertRaises(InvalidState, self.registry.mark_garbage, build, "x", states=["done"])
        self.assertIn("is ready, not done", str(e))
        running = create(self.registry, "demo", "x", version=V1)
        e = self.assertRaises(
            InvalidState, self.registry.mark_garbage, running, "x", states=["init"]
        )
        self.assertIn("cannot go from init to garbage", str(e))
        self.assertEqual(self.state(build), "ready")

    def test_garbage_still_published_is_swept(self) -> None:
        # A retire interrupted after the state change: the next run unpublishes it.
        build = self.add("demo", V1, "ready", at=RECENT, areas=("stage",))
        self.site.registry.mark_garbage(build, "retired by someone")
        report = collect_garbage(self.site, 14, now=NOW)
        self.assertEqual(self.stage(), [])
        self.assertEqual(len(report.unpublished), 1)


class Retire(SiteTestBase):
    def test_retire_from_the_command_line(self) -> None:
        if shutil.which("dnf") is None:
            raise unittest.SkipTest("needs dnf (Debian package dnf; run make setup)")
        first = self.add("demo", V1, "ready", at=RECENT, areas=("stage",))
        second = self.add("demo", V2, "ready", at=RECENT, areas=("stage", "production"))
        other = self.add("other", V1, "ready", at=RECENT, areas=("stage",))
        failed = self.add("demo", V3, "failed", at=RECENT)
        repo = os.path.join(self.site.publish_root, "stage", "repo")
        before = host_state()
        listed = dnf(self.tmp, repo, "module", "list")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertRegex(listed.stdout, r"(?m)^demo\s+main\s")
        self.assertEqual(self.registry.catalogue().streams("demo"), ["main"])

        # Usage errors, an unknown stream, nothing matching, a refusal.
        for ref in ("demo", "demo:main:latest", "a:b:1:c:d"):
            result = bbmod("retire", "--master", self.master, ref, "--yes")
            self.assertEqual(result.returncode, 2, (ref, result.stderr))
            self.assertIn(
                "NAME:STREAM" if ref != "demo:main:latest" else "not a number", result.stderr
            )
        unknown = bbmod("retire", "--master", self.master, "nosuch:1", "--yes")
        self.assertEqual(unknown.returncode, 2, unknown.stderr)
        self.assertIn("no module build of nosuch:1", unknown.stderr)
        nothing = bbmod("retire", "--master", self.master, f"demo:main:{V3}", "--yes")
        self.assertEqual(nothing.returncode, 1, nothing.stderr)
        self.assertIn("nothing to retire", nothing.stderr)
        declined = bbmod("retire", "--master", self.master, "other:1.0", stdin="n\n")
        self.assertEqual(declined.returncode, 1)
        self.assertIn(f"other:1.0:{V1}:other01  build {other}  ready  stage", declined.stdout)
        self.assertIn("nothing retired", declined.stderr)
        self.assertEqual(self.state(other), "ready")
        not_a_master = bbmod("retire", "--master", self.tmp, "demo:main", "--yes")
        self.assertEqual(not_a_master.returncode, 1)
        self.assertIn("no settings.toml", not_a_master.stderr)

        started = time.monotonic()
        result = bbmod("retire", "--master", self.master, "demo:main", "--by", "alice", stdin="y\n")
        elapsed = time.monotonic() - started
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("2 module builds to retire", result.stdout)
        self.assertIn(
            f"demo:main:{V2}:demo01  build {second}  ready  stage, production", result.stdout
        )
        self.assertIn("retired 2 of 2 module builds", result.stdout)
        for build in (first, second):
            record = self.registry.module_build(build)
            self.assertEqual(record.state, "garbage")
            self.assertRegex(record.state_reason or "", r"^retired by alice on \d{4}-\d\d-\d\d ")
            self.assertFalse(self.has_artifacts(build))
        self.assertEqual((self.state(other), self.state(failed)), ("ready", "failed"))
        # Out of dependency resolution, of both areas and of their aggregates.
        self.assertEqual(self.registry.catalogue().streams("demo"), [])
        self.assertEqual(self.stage(), [f"other:1.0:{V1}:other01"])
        self.assertEqual(published(self.site.publish_root, "production"), [])
        self.assertFalse(os.path.exists(os.path.join(self.site.publish_root, "stage", "demo")))
        listed = dnf(self.tmp, repo, "module", "list")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertNotRegex(listed.stdout, r"(?m)^demo\s")
        self.assertRegex(listed.stdout, r"(?m)^other\s+1\.0\s")
        production = dnf(
            self.tmp, os.path.join(self.site.publish_root, "production", "repo"), "module", "list"
        )
        self.assertNotRegex(production.stdout, r"(?m)^demo\s")
        self.assertEqual(host_state(), before)
        print(f"\nbbmod retire of 2 builds in 2 areas: {elapsed:.2f} s")


class Backups(unittest.TestCase):
    """A registry with every kind of row → backup → restore elsewhere → the same rows."""

    def fill(self, registry: Registry) -> None:
        clock = Clock(OLD)
        registry = Registry(registry.url, clock=clock)
        self.addCleanup(registry.dispose)
        build = create(registry, "demo", "main", version=V1, context="demo01")
        registry.add_components(build, [component("alpha"), component("beta", after=["alpha"])])
        registry.set_component_state(build, "alpha", "building", buildbot_build_id=7)
        clock.now += timedelta(seconds=90)
        registry.set_component_state(build, "alpha", "built", nvr="alpha-1.0-1")
        registry.add_artifacts(build, "alpha", ["alpha-0:1.0-1.noarch", "alpha-0:1.0-1.src"])
        advance(registry, build, "wait", "build", "done")
        registry.set_module_result(build, modulemd="document: modulemd\n", published_path="/p")
        registry.record_decision(build, "stage", {"policies_satisfied": True, "summary": "ok"})
        registry.add_result(build, "modules.rpmlint", "FAILED", "2 errors", data={"arch": "x"})
        registry.add_waiver(f"demo:main:{V1}:demo01", "modules.rpmlint", "known", "qe")
        registry.set_module_state(build, "ready")
        registry.set_promoted(build, "/prod", "releng")
        failed = create(registry, "demo", "main", version=V2, context="demo01", scratch=True)
        registry.set_module_state(failed, "failed", "nope ✗")
        registry.set_eol("demo", "main", NOW.date(), "releng")
        registry.set_owners("demo", "main", ["alice", "bob"], "releng")

    def test_round_trip_through_the_command_line(self) -> None:
        source = new_master(self)
        site = master_site(source)
        self.addCleanup(site.registry.dispose)
        site.registry.upgrade()
        self.fill(site.registry)
        original = site.registry.backup()
        self.assertEqual(
            {name: len(t["rows"]) for name, t in original["tables"].items()},
            {
                "module_builds": 2,
                "component_builds": 2,
                "module_artifacts": 2,
                "results": 1,
                "waivers": 1,
                "stream_eol": 1,
                "stream_owners": 1,
            },
        )
        path = os.path.join(tempdir(self), "registry.json")
        made = bbmod("registry", "backup", "--master", source, path)
        self.assertEqual(made.returncode, 0, made.stderr)
        self.assertIn("2 module_builds", made.stdout)
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
        self.assertEqual(document["revision"], site.registry.revision())
        self.assertEqual(document["tables"], original["tables"])

        target = new_master(self)
        restored = bbmod("registry", "restore", "--master", target, path)
        self.assertEqual(restored.returncode, 0, restored.stderr)
        other = master_site(target)
        self.addCleanup(other.registry.dispose)
        self.assertEqual(other.registry.backup()["tables"], original["tables"])
        self.assertEqual(
            other.registry.module_builds(limit=None), site.registry.module_builds(limit=None)
        )
        self.assertEqual(other.registry.results(), site.registry.results())
        self.assertEqual(other.registry.artifacts(1), site.registry.artifacts(1))
        # New builds continue after the restored ids.
        self.assertEqual(create(other.registry, "new", "1"), 3)

        # Not over a registry with rows, unless --force.
        again = bbmod("registry", "restore", "--master", target, path)
        self.assertEqual(again.returncode, 1)
        self.assertIn("is not empty (3 module_builds", again.stderr)
        self.assertIn("--force", again.stderr)
        forced = bbmod("registry", "restore", "--master", target, path, "--force")
        self.assertEqual(forced.returncode, 0, forced.stderr)
        self.assertEqual(other.registry.backup()["tables"], original["tables"])

        # Not while the master runs there (twistd.pid naming a live process in it).
        sleeper = subprocess.Popen(["sleep", "60"], cwd=target)
        self.addCleanup(sleeper.wait)
        self.addCleanup(sleeper.kill)
        write(target, "twistd.pid", str(sleeper.pid))
        running = bbmod("registry", "restore", "--master", target, path, "--force")
        self.assertEqual(running.returncode, 1)
        self.assertIn(f"the master is running (pid {sleeper.pid})", running.stderr)

        # Anything else than a backup of this schema is refused, saying what is wrong.
        empty = new_master(self)
        for text, message in (
            ("{", "invalid JSON"),
            ('{"format": "x"}', "not a registry backup"),
            (json.dumps({**document, "revision": "0000"}), "revision 0000"),
            (json.dumps({**document, "tables": {}}), "tables differ"),
        ):
            bad = write(tempdir(self), "bad.json", text)
            refused = bbmod("registry", "restore", "--master", empty, bad)
            self.assertEqual(refused.returncode, 1, text)
            self.assertIn(message, refused.stderr)

    def test_a_sqlite_backup_restores_into_postgresql(self) -> None:
        url = start_postgresql(self)
        source = new_master(self)
        site = master_site(source)
        self.addCleanup(site.registry.dispose)
        site.registry.upgrade()
        self.fill(site.registry)
        path = os.path.join(tempdir(self), "registry.json")
        self.assertEqual(bbmod("registry", "backup", "--master", source, path).returncode, 0)
        target = new_master(self, url)
        restored = bbmod("registry", "restore", "--master", target, path)
        self.assertEqual(restored.returncode, 0, restored.stderr)
        postgres = Registry(url)
        self.addCleanup(postgres.dispose)
        self.assertEqual(postgres.backup()["tables"], site.registry.backup()["tables"])
        self.assertEqual(
            postgres.module_builds(limit=None), site.registry.module_builds(limit=None)
        )
        # The id sequences moved past the restored rows.
        self.assertEqual(create(postgres, "new", "1"), 3)
        # Retention's queries mean the same there.
        candidates = postgres.retention_candidates(NOW)
        self.assertEqual(candidates, site.registry.retention_candidates(NOW))
        self.assertEqual([(b.id, why) for b, why in candidates], [(2, "failed")])
        self.assertEqual(postgres.mark_garbage(2, "gone").state, "garbage")
        self.assertEqual(postgres.retention_candidates(NOW), [])


class MaintenanceBuilder(RunMasterBase):
    proto = "pb"
    timeout = 120

    @defer.inlineCallbacks
    def test_the_nightly_builder_collects_an_old_failed_build(self) -> None:
        settings = yield start_site(self, poll_interval=0, garbage_after_days=14)
        builders = yield self.master.data.get(("builders",))
        names = {b["name"] for b in builders}
        self.assertIn("module-maintenance", names)
        self.assertIn("__Janitor", names)  # Buildbot's own, for old logs
        registry = Registry(
            settings.registry_url, clock=Clock(datetime.now(UTC) - timedelta(days=20))
        )
        self.addCleanup(registry.dispose)
        failed = create(registry, "demo", "main", version=V1)
        registry.set_module_state(failed, "failed", "component alpha failed")
        ready = create(registry, "demo", "main", version=V2)
        advance(registry, ready, "wait", "build", "done", "ready")
        artifacts = settings.path(settings.artifacts)
        for build in (failed, ready):
            write(os.path.join(artifacts, str(build)), "alpha/results/a.rpm", "rpm")

        schedulers = yield self.master.data.get(("schedulers",))
        self.assertLessEqual(
            {"bbmod-maintenance-nightly", "__Janitor"}, {s["name"] for s in schedulers}
        )
        buildset = yield self.force("bbmod-maintenance")
        self.assertEqual(buildset["results"], SUCCESS)
        self.assertEqual(registry.module_build(failed).state, "garbage")
        self.assertEqual(registry.module_build(ready).state, "ready")
        self.assertFalse(os.path.exists(os.path.join(artifacts, str(failed))))
        self.assertTrue(os.path.isfile(os.path.join(artifacts, str(ready), "alpha/results/a.rpm")))
        step = yield self.find_step("module-maintenance", "collect garbage")
        self.assertIn("moved 1 builds to garbage", step["state_string"])
        logs = yield self.master.data.get(("steps", step["stepid"], "logs"))
        (log,) = [entry for entry in logs if entry["slug"] == "garbage"]
        contents = yield self.master.data.get(("logs", log["logid"], "contents"))
        self.assertIn(
            f"garbage: demo:main:{V1}:c0ffee42 (build {failed}, was failed)", contents["content"]
        )
        self.assertIn(f"deleted {os.path.join(artifacts, str(failed))}", contents["content"])

        # Buildbot's janitor runs with our settings (logs older than 30 days).
        janitor = yield self.force("__Janitor_force")
        self.assertEqual(janitor["results"], SUCCESS)
        step = yield self.find_step("__Janitor", "LogChunksJanitor")
        self.assertEqual(step["state_string"], "deleted 0 logchunks")

    @defer.inlineCallbacks
    def force(self, scheduler: str) -> Any:
        bsid, _ = yield self.master.data.control("force", {}, ("forceschedulers", scheduler))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            buildset = yield self.master.data.get(("buildsets", bsid))
            if buildset["complete"]:
                return buildset
            yield task.deferLater(reactor, 0.3, lambda: None)
        self.fail(f"the build forced by {scheduler} did not finish in 60 s")

    @defer.inlineCallbacks
    def find_step(self, builder: str, step: str) -> Any:
        builders = yield self.master.data.get(("builders",))
        (builderid,) = [b["builderid"] for b in builders if b["name"] == builder]
        builds = yield self.master.data.get(("builders", builderid, "builds"))
        for build in builds:
            steps = yield self.master.data.get(("builds", build["buildid"], "steps"))
            for s in steps:
                if s["name"] == step:
                    return s
        self.fail(f"no step {step!r} in builder {builder!r}")
