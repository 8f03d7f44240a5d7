"""A module build inside one process: the real master, its dist-git poller, the module
and component builders, and one worker. Quicker to read than the full pipeline test
(tests/test_pipeline.py), which runs separate master and worker processes."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from typing import Any

from buildbot.process.results import SUCCESS
from buildbot.test.util.integration import RunMasterBase
from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from buildbot_modules.distgit import DistGit
from buildbot_modules.master.configurator import ModulesConfigurator, Settings
from buildbot_modules.registry import Registry

from .helpers import CONTRIB, tempdir, throwaway_gpg_key, write
from .test_pipeline import SPEC, module_yaml


@defer.inlineCallbacks
def start_site(case: RunMasterBase, **overrides: Any) -> defer.Deferred:
    """A master on this site's defaults, all state in a temporary folder; no web UI."""
    for tool in ("rpmbuild", "createrepo_c"):
        if shutil.which(tool) is None:
            raise unittest.SkipTest(f"needs {tool} (run make setup)")
    root = tempdir(case)
    values: dict[str, Any] = {
        "db_url": "sqlite://",
        "registry_url": f"sqlite:///{root}/registry.sqlite",
        "www_port": None,
        "distgit": os.path.join(root, "distgit"),
        "publish_root": os.path.join(root, "publish"),
        "artifacts": os.path.join(root, "artifacts"),
        "poll_interval": 1,
    }
    settings = Settings(**{**values, **overrides})
    DistGit.init(settings.distgit)
    yield case.setup_master({"configurators": [ModulesConfigurator(settings)]})
    # Runs before the master stops: a module build still in its last steps (the gates)
    # when the test has seen what it wanted ends first, rather than being interrupted as
    # it finishes (Buildbot then raises BuildStepCancelled from the interrupt).
    case.addCleanup(wait_idle, case)
    return settings


@defer.inlineCallbacks
def wait_idle(case: RunMasterBase, seconds: float = 30) -> Any:
    """Until no build of ``case``'s master runs (at most ``seconds``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        builds = yield case.master.data.get(("builds",))
        if all(b["complete"] for b in builds):
            return
        yield task.deferLater(reactor, 0.2, lambda: None)


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

        # "Build module" on unchanged sources: already built, a green no-op, no new record.
        bsid, _brids = yield self.master.data.control(
            "force", {"module": "dag", "stream": "main"}, ("forceschedulers", "bbmod-rebuild")
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            buildset = yield self.master.data.get(("buildsets", bsid))
            if buildset["complete"]:
                break
            yield task.deferLater(reactor, 0.3, lambda: None)
        self.assertEqual(buildset["results"], SUCCESS)
        self.assertEqual(len(registry.module_builds(name="dag")), 2)

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


class NoopBackendInProcess(RunMasterBase):
    """``backend = "noop"`` (bench/scale.py measures the orchestration with it): every
    step of a component build but rpmbuild runs, and the components are recorded built
    with no RPMs; any other backend still refuses a build that made none."""

    proto = "pb"
    timeout = 120

    @defer.inlineCallbacks
    def test_components_recorded_built_without_rpms(self) -> None:
        settings = yield start_site(self, backend="noop", checks=[])
        source = tempdir(self)
        write(source, "modules/dag/dag.yaml", module_yaml("Noop", {"n-a": [], "n-b": ["n-a"]}))
        for name in ("n-a", "n-b"):
            write(source, f"rpms/{name}/{name}.spec", SPEC.format(name=name, build=""))
        DistGit(settings.distgit).import_dir(source)
        registry = Registry(settings.registry_url)
        deadline = time.monotonic() + 90
        while not (builds := registry.module_builds(name="dag")) or builds[0].state not in (
            "ready",
            "failed",
        ):
            if time.monotonic() > deadline:
                self.fail("the module build did not finish in 90 s")
            yield task.deferLater(reactor, 0.5, lambda: None)
        self.assertEqual(builds[0].state, "ready", builds[0].state_reason)
        components = registry.components(builds[0].id)
        self.assertEqual({c.name: c.state for c in components}, {"n-a": "built", "n-b": "built"})
        self.assertEqual([c.nvr for c in components], [None, None])
        self.assertFalse(any(registry.artifacts(builds[0].id).values()))

    def test_unknown_backend_names_the_choices(self) -> None:
        with self.assertRaisesRegex(ValueError, "backend 'mock'.*'koji'.*'noop' for benchmarks"):
            Settings(backend="mock").check()


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


class CompiledStackInProcess(RunMasterBase):
    """contrib's mathlib (a C library, a program linked against it, a noarch package
    whose %build runs that program) and mathstack (a module on top of it), built in
    buildroots, published, installed with dnf on this host and run."""

    proto = "pb"
    timeout = 300

    @defer.inlineCallbacks
    def test_library_program_plugin_and_a_stack(self) -> None:
        if shutil.which("dnf") is None:
            raise unittest.SkipTest("needs dnf (Debian package dnf)")
        if os.geteuid() != 0:
            raise unittest.SkipTest("buildroots need root (mount namespaces)")
        settings = yield start_site(self)
        registry = Registry(settings.registry_url)
        distgit = DistGit(settings.distgit)
        done = {}
        # In dependency order, as a packager would: the stack resolves against what the
        # registry has published.
        for module, packages in (
            ("mathlib", ("libmathx", "mathx-calc", "mathx-tables")),
            ("mathstack", ("mathx-report",)),
        ):
            source = tempdir(self)
            shutil.copytree(
                os.path.join(CONTRIB, "modules", module), os.path.join(source, "modules", module)
            )
            for package in packages:
                shutil.copytree(
                    os.path.join(CONTRIB, "rpms", package), os.path.join(source, "rpms", package)
                )
            distgit.import_dir(source)
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                builds = registry.module_builds(name=module)
                if builds and builds[0].state in ("ready", "failed"):
                    done[module] = builds[0]
                    break
                yield task.deferLater(reactor, 1, lambda: None)
            else:
                self.fail(f"{module} did not finish in 180 s")
            self.assertEqual(done[module].state, "ready", done[module].state_reason)
        # The stack resolved mathlib through the registry.
        self.assertEqual(done["mathstack"].buildrequires["mathlib"], "main")

        # dnf installs the stack (pulling mathlib's module in) from the stage repository
        # with the platform repository, into an installroot; the program runs.
        root = tempdir(self)
        publish = settings.publish_root
        result = subprocess.run(
            [
                "dnf",
                f"--installroot={root}",
                "--releasever=39",
                "--setopt=reposdir=/dev/null",
                "--disableplugin=local",
                "--disableplugin=generate_completion_cache",
                f"--setopt=cachedir={root}/.cache",
                "--setopt=module_platform_id=platform:f39",
                f"--repofrompath=stage,file://{publish}/stage/repo",
                f"--repofrompath=platform,file://{publish}/platform/f39",
                "--repo=stage",
                "--repo=platform",
                "--nogpgcheck",
                "-y",
                "module",
                "install",
                "mathlib:main/default",
                "mathstack:main/default",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        # One .repo file gives dnf the stage modules and the platform beside them.
        with open(os.path.join(publish, "stage", "stage.repo"), encoding="utf-8") as f:
            repo_text = f.read()
        self.assertIn("[bbmod-stage]", repo_text)
        self.assertIn(f"baseurl=file://{publish}/platform/f39/", repo_text)
        calc = os.path.join(root, "usr", "bin", "mathx-calc")
        run = subprocess.run(
            [calc, "fact", "10"],
            capture_output=True,
            text=True,
            check=False,
            env={"LD_LIBRARY_PATH": os.path.join(root, "usr", "lib64")},
        )
        self.assertEqual((run.returncode, run.stdout.strip()), (0, "3628800"), run.stderr)
        # mathx-report's %build ran mathx-calc (from the mathlib module) in its buildroot.
        reports = [
            os.path.join(base, f)
            for base, _d, files in os.walk(os.path.join(root, "usr", "share"))
            for f in files
            if "report" in f
        ]
        self.assertTrue(reports, "mathx-report installed no report")


OTHER_ARCH = "ppc64le" if os.uname().machine != "ppc64le" else "x86_64"

INPUTS_SPEC = """\
Name:           m-one
Version:        1.0
Release:        1
Summary:        Shows what the build got
License:        MIT
BuildArch:      noarch

%description
Records the module macros it was built with in a file name.

%install
mkdir -p %{buildroot}/usr/share/m-one
touch "%{buildroot}/usr/share/m-one/value=%{bbmod_test_value}"
touch "%{buildroot}/usr/share/m-one/module=%{_module_name}:%{_module_stream}"
touch "%{buildroot}/usr/share/m-one/epoch=$SOURCE_DATE_EPOCH"

%files
/usr/share/m-one

%changelog
* Wed Nov 25 2026 Test <test@example.org> - 1.0-1
- test
"""


class BuildInputsInProcess(RunMasterBase):
    proto = "pb"
    timeout = 180

    @defer.inlineCallbacks
    def test_macros_epoch_label_and_a_wrong_order(self) -> None:
        if os.geteuid() != 0:
            raise unittest.SkipTest("buildroots need root (mount namespaces)")
        # The site signs with a throw-away key.
        home = throwaway_gpg_key(self, "site@example.org")
        settings = yield start_site(self, gpg_key="site@example.org", gpg_home=home)
        registry = Registry(settings.registry_url)
        source = tempdir(self)
        # packager v3 sets buildopts per configuration
        macros = (
            "      buildopts:\n        rpms:\n          macros: |\n"
            "            %bbmod_test_value 42\n"
        )
        text = (
            module_yaml("Build inputs", {"m-one": [], "m-arm": []})
            .replace("      platform: f39\n", "      platform: f39\n" + macros)
            .replace(
                "      m-arm:\n        rationale: Part of the test.\n",
                "      m-arm:\n        rationale: Part of the test.\n"
                f"        arches: [{OTHER_ARCH}]\n",
            )
        )
        write(source, "modules/inputs/inputs.yaml", text)
        write(source, "rpms/m-one/m-one.spec", INPUTS_SPEC)
        write(source, "rpms/m-arm/m-arm.spec", SPEC.format(name="m-arm", build="exit 1"))
        # i-app BuildRequires i-lib, but the module orders i-lib after i-app.
        write(
            source,
            "modules/wrongorder/wrongorder.yaml",
            module_yaml("Wrong order", {"i-app": [], "i-lib": ["i-app"]}),
        )
        write(source, "rpms/i-lib/i-lib.spec", SPEC.format(name="i-lib", build=""))
        app = SPEC.format(name="i-app", build="").replace(
            "BuildArch:      noarch\n", "BuildArch:      noarch\nBuildRequires:  i-lib\n"
        )
        write(source, "rpms/i-app/i-app.spec", app)
        distgit = DistGit(settings.distgit)
        pushed = {(r.namespace, r.name): r.commit for r in distgit.import_dir(source)}

        builds: dict[str, Any] = {}
        deadline = time.monotonic() + 150
        while len(builds) < 2 and time.monotonic() < deadline:
            for name in ("inputs", "wrongorder"):
                found = registry.module_builds(name=name)
                if found and found[0].state in ("ready", "failed"):
                    builds[name] = found[0]
            yield task.deferLater(reactor, 0.5, lambda: None)
        self.assertEqual(set(builds), {"inputs", "wrongorder"}, "module builds did not finish")

        # The unmet requirement fails the component, named as mock names it.
        wrong = builds["wrongorder"]
        self.assertEqual(wrong.state, "failed")
        states = {c.name: c.state for c in registry.components(wrong.id)}
        self.assertEqual(states, {"i-app": "failed", "i-lib": "dependency-failed"})
        log = yield self.step_log("components wrongorder:main", "build in buildroot")
        self.assertIn("unmet BuildRequires: i-lib", log)

        # Macros, module macros, SOURCE_DATE_EPOCH and the ModularityLabel reach the RPM.
        inputs = builds["inputs"]
        self.assertEqual(inputs.state, "ready", inputs.state_reason)
        (rpm,) = [
            os.path.join(base, f)
            for base, _d, files in os.walk(inputs.published_path)
            for f in files
            if f.startswith("m-one-") and f.endswith(".noarch.rpm")
        ]
        query = subprocess.run(
            [
                "rpm",
                "-qp",
                "--nosignature",
                "--nodigest",
                "--qf",
                "%{MODULARITYLABEL}\n%{RSAHEADER:pgpsig}\n[%{FILENAMES}\n]",
                rpm,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        self.assertEqual(query[0], f"inputs:main:{inputs.version}:{inputs.context}")
        # Signed by the site's key, and so is the published metadata.
        self.assertIn("Key ID", query[1])
        stage = os.path.join(settings.publish_root, "stage", "repo")
        for repo in (inputs.published_path, stage):
            self.assertTrue(os.path.isfile(os.path.join(repo, "repodata", "repomd.xml.asc")))
        epoch = distgit.commit_info("rpms", "m-one", pushed[("rpms", "m-one")]).timestamp
        for expected in ("value=42", "module=inputs:main", f"epoch={epoch}"):
            self.assertIn(f"/usr/share/m-one/{expected}", query)
        # The record step keeps the buildroot's package list and the RPMs' checksums.
        packages = yield self.step_log("components inputs:main", "record", "installed_pkgs")
        self.assertIn("bbmod-platform", packages)
        sums = yield self.step_log("components inputs:main", "record", "sha256")
        # (of the RPMs as built: the published copies are signed afterwards)
        built = os.path.join(
            settings.artifacts, str(inputs.id), "m-one", "results", os.path.basename(rpm)
        )
        with open(built, "rb") as f:
            self.assertIn(hashlib.sha256(f.read()).hexdigest(), sums)
        # A component for other arches only is not built here, and the plan says so.
        self.assertEqual([c.name for c in registry.components(inputs.id)], ["m-one"])
        plan = yield self.step_summary("module inputs:main", "plan")
        arch = os.uname().machine
        self.assertIn(f"not built for {arch}: m-arm (arches: {OTHER_ARCH})", plan)
        # A Release without %{?dist} is reported (the build still succeeds).
        record = yield self.step_summary("components inputs:main", "record")
        self.assertIn("Release lacks %{?dist}", record)

    @defer.inlineCallbacks
    def find_step(self, builder: str, step: str) -> defer.Deferred:
        builders = yield self.master.data.get(("builders",))
        (builderid,) = [b["builderid"] for b in builders if b["name"] == builder]
        builds = yield self.master.data.get(("builders", builderid, "builds"))
        for build in builds:
            steps = yield self.master.data.get(("builds", build["buildid"], "steps"))
            for s in steps:
                if s["name"] == step:
                    return s
        self.fail(f"no step {step!r} in builder {builder!r}")

    @defer.inlineCallbacks
    def step_summary(self, builder: str, step: str) -> defer.Deferred:
        found = yield self.find_step(builder, step)
        return found["state_string"]

    @defer.inlineCallbacks
    def step_log(self, builder: str, step: str, slug: str = "stdio") -> defer.Deferred:
        found = yield self.find_step(builder, step)
        logs = yield self.master.data.get(("steps", found["stepid"], "logs"))
        (stdio,) = [log for log in logs if log["slug"] == slug]
        contents = yield self.master.data.get(("logs", stdio["logid"], "contents"))
        return contents["content"]
