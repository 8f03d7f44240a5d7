"""`bbmod build-local`, run as a packager runs it: the contrib modules built from their
folders through the in-process master and two local worker processes, then installed
with dnf from the printed repository configuration."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from twisted.trial import unittest

from buildbot_modules.registry import Registry

from .helpers import CONTRIB, bbmod, tempdir, write

RPMS = os.path.join(CONTRIB, "rpms")
MODULES = os.path.join(CONTRIB, "modules")


def needs_tools() -> None:
    for tool in ("rpmbuild", "createrepo_c", "dnf"):
        if shutil.which(tool) is None:
            raise unittest.SkipTest(f"needs {tool} (run make setup)")


def rpms_under(folder: str) -> list[str]:
    found = []
    for _base, _dirs, files in os.walk(folder):
        found += [f for f in files if f.endswith(".rpm")]
    return sorted(found)


def registry_of(output: str) -> Registry:
    return Registry(f"sqlite:///{output}/.work/master/registry.sqlite")


class BuildLocal(unittest.TestCase):
    timeout = 300

    def setUp(self) -> None:
        needs_tools()
        self.root = tempdir(self)

    def build(self, module: str, output: str, *extra: str) -> subprocess.CompletedProcess[str]:
        # contrib's modules are stream main; the default would be this checkout's branch.
        stream = () if "--stream" in extra else ("--stream", "main")
        return bbmod("build-local", module, "--sources", RPMS, "--output", output, *stream, *extra)

    def dnf_install(self, output: str, target: str) -> str:
        installroot = tempdir(self)
        proc = subprocess.run(
            [
                "dnf",
                f"--installroot={installroot}",
                f"--setopt=reposdir={output}/repos.d",
                "--disableplugin=local",
                f"--setopt=cachedir={installroot}/.cache",
                "--releasever=39",
                "--setopt=module_platform_id=platform:f39",
                "--nogpgcheck",
                "-y",
                "module",
                "install",
                target,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        return installroot

    def test_stack_second_module_from_the_first_output(self) -> None:
        first = os.path.join(self.root, "mathlib-out")
        proc = self.build(os.path.join(MODULES, "mathlib", "mathlib.yaml"), first)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        repo = proc.stdout.splitlines()[-1]
        self.assertTrue(repo.startswith(os.path.join(first, "stage", "mathlib", "main")), repo)
        self.assertTrue(os.path.isfile(os.path.join(repo, "repodata", "repomd.xml")))
        self.assertIn("libmathx-devel", " ".join(rpms_under(repo)))

        second = os.path.join(self.root, "mathstack-out")
        proc = self.build(
            os.path.join(MODULES, "mathstack", "mathstack.yaml"), second, "--catalogue", first
        )
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        repo = proc.stdout.splitlines()[-1]
        self.assertTrue(repo.startswith(os.path.join(second, "stage", "mathstack", "main")), repo)
        # Built against the first output's mathlib: its %build ran mathx-calc from there.
        build = registry_of(second).module_builds(name="mathstack")[0]
        self.assertEqual(build.buildrequires, {"mathlib": "main", "platform": "f39"})
        log = os.path.join(
            second, "logs", f"mathstack-main-{build.version}.{build.context}", "mathx-report.log"
        )
        with open(log, encoding="utf-8") as f:
            self.assertIn("mathx-calc", f.read())

        # The printed repository configuration installs the stack on this host.
        self.assertIn(f"--setopt=reposdir={second}/repos.d", proc.stdout)
        with open(os.path.join(second, "repos.d", "build-local.repo"), encoding="utf-8") as f:
            self.assertIn(f"file://{first}/stage/repo/", f.read())
        root = self.dnf_install(second, "mathstack:main/default")
        self.assertTrue(
            os.path.isfile(os.path.join(root, "usr/share/mathx-report/mathx-report.txt"))
        )

    def test_automatic_order_from_the_specs(self) -> None:
        output = os.path.join(self.root, "out")
        proc = self.build(os.path.join(MODULES, "autoorder", "autoorder.yaml"), output)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        # Progress names every component as it is built.
        for name in ("auto-core", "auto-mid", "auto-app"):
            self.assertIn(f"{name}: built {name}-1.0-1.module+f39", proc.stdout)
        # The checks ran after publish and are reported, without changing the exit code.
        self.assertIn("checks (docs/quality.md):", proc.stdout)
        self.assertRegex(proc.stdout, r"autoorder:main:\d+:auto01  modules.repoclosure: PASSED")
        self.assertIn("modules.rpmlint: FAILED", proc.stdout)  # auto-app has no %doc
        self.assertTrue(os.path.isfile(os.path.join(output, "logs", "autoorder-module-build.log")))
        registry = registry_of(output)
        build = registry.module_builds(name="autoorder")[0]
        components = {c.name: c for c in registry.components(build.id)}
        self.assertEqual(components["auto-mid"].after, ["auto-core"])
        self.assertEqual(components["auto-app"].after, ["auto-mid"])
        for c in components.values():
            for dep in c.after:
                self.assertGreaterEqual(c.started_at, components[dep].finished_at, c.name)
        root = self.dnf_install(output, "autoorder:main/default")
        self.assertTrue(os.path.isdir(os.path.join(root, "usr/share/auto-app")))

    def test_strict_makes_failed_checks_fail_the_command(self) -> None:
        output = os.path.join(self.root, "out")
        proc = self.build(os.path.join(MODULES, "hello", "hello.yaml"), output, "--strict")
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("check(s) failed or need inspection (--strict)", proc.stderr)
        self.assertIn("modules.rpmlint: FAILED", proc.stdout)

    def test_wrong_explicit_order_fails_by_name_and_builds_nothing_downstream(self) -> None:
        with open(os.path.join(MODULES, "autoorder", "autoorder.yaml"), encoding="utf-8") as f:
            text = f.read()
        # auto-mid declared first, though it BuildRequires auto-core-devel.
        text = text.replace(
            "      auto-core:\n", "      auto-core:\n        buildafter: [auto-mid]\n"
        ).replace(
            "        rationale: Application layer",
            "        buildafter: [auto-core]\n        rationale: Application layer",
        )
        module = write(self.root, "wrong/autoorder.yaml", text)
        output = os.path.join(self.root, "out")
        proc = self.build(module, output)
        self.assertNotEqual(proc.returncode, 0, proc.stdout)
        self.assertIn("component auto-mid of autoorder:main:", proc.stderr)
        self.assertIn("not built because a dependency failed: auto-app, auto-core", proc.stderr)
        log = next(
            line.split("log: ", 1)[1] for line in proc.stderr.splitlines() if "log: " in line
        )
        with open(log, encoding="utf-8") as f:
            self.assertIn("auto-core-devel", f.read())  # the missing BuildRequires
        self.assertEqual(
            [r for r in rpms_under(output) if r.startswith(("auto-core", "auto-app"))], []
        )
        self.assertFalse(os.path.exists(os.path.join(output, "stage", "autoorder")))

    def test_every_other_example_module_builds(self) -> None:
        """contrib's examples not built above (mathlib, mathstack and autoorder are)."""
        cases = [
            (os.path.join(MODULES, m, f"{m}.yaml"), m, "main", ())
            for m in ("base-runtime", "hello", "batches", "dagdemo")
        ] + [
            (
                os.path.join(MODULES, "greeter", "streams", f"{s}.yaml"),
                "greeter",
                s,
                ("--name", "greeter", "--stream", s),
            )
            for s in ("1.0", "2.0")
        ]
        for module, name, stream, extra in cases:
            output = os.path.join(self.root, f"{name}-{stream}")
            proc = self.build(module, output, *extra)
            self.assertEqual(proc.returncode, 0, f"{module}:\n{proc.stdout}{proc.stderr}")
            repo = proc.stdout.splitlines()[-1]
            self.assertTrue(repo.startswith(os.path.join(output, "stage", name, stream)), repo)
            self.assertTrue(rpms_under(repo), f"{module}: no RPMs in {repo}")
        # The two streams built their own branch of the one package.
        for stream in ("1.0", "2.0"):
            found = rpms_under(os.path.join(self.root, f"greeter-{stream}", "stage"))
            self.assertTrue(any(f.startswith(f"greeter-{stream}-") for f in found), found)


class BuildLocalCleanup(unittest.TestCase):
    timeout = 120

    def test_an_unexpected_error_stops_the_workers_and_says_so(self) -> None:
        needs_tools()
        output = os.path.join(tempdir(self), "out")
        script = (
            "import sys\n"
            "from buildbot_modules import local\n"
            "async def boom(self):\n"
            "    raise RuntimeError('injected failure')\n"
            "local.LocalSite.build = boom\n"
            "sys.exit(local.build_local(local.Options(module=sys.argv[1], sources=sys.argv[2],"
            " output=sys.argv[3], stream='main')))\n"
        )
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                script,
                os.path.join(MODULES, "hello", "hello.yaml"),
                RPMS,
                output,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=100,
        )
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("build-local stopped: RuntimeError: injected failure", proc.stderr)
        left = subprocess.run(
            ["pgrep", "-f", f"buildbot-worker start --nodaemon {output}"],
            capture_output=True,
            text=True,
            check=False,
        )
        self.assertEqual(left.stdout.strip(), "", "worker processes outlived build-local")


class BuildLocalInput(unittest.TestCase):
    """Bad input: a clear message before anything runs, and nothing written."""

    def setUp(self) -> None:
        self.root = tempdir(self)

    def test_missing_component_folder_is_named(self) -> None:
        sources = os.path.join(self.root, "sources")
        shutil.copytree(os.path.join(RPMS, "auto-core"), os.path.join(sources, "auto-core"))
        output = os.path.join(self.root, "out")
        proc = bbmod(
            "build-local",
            os.path.join(MODULES, "autoorder", "autoorder.yaml"),
            "--sources",
            sources,
            "--output",
            output,
        )
        self.assertEqual(proc.returncode, 1)
        self.assertIn(f"auto-mid: no folder {sources}/auto-mid", proc.stderr)
        self.assertIn(f"auto-app: no folder {sources}/auto-app", proc.stderr)
        self.assertFalse(os.path.exists(output))

    def test_a_foreign_output_folder_is_left_alone(self) -> None:
        output = os.path.join(self.root, "out")
        mine = write(output, "thesis.txt", "do not lose me\n")
        proc = bbmod(
            "build-local",
            os.path.join(MODULES, "hello", "hello.yaml"),
            "--sources",
            RPMS,
            "--output",
            output,
        )
        self.assertEqual(proc.returncode, 1)
        self.assertIn("is not a build-local output; nothing was written", proc.stderr)
        self.assertEqual(os.listdir(output), ["thesis.txt"])
        with open(mine, encoding="utf-8") as f:
            self.assertEqual(f.read(), "do not lose me\n")

    def test_invalid_definition_names_file_and_line(self) -> None:
        module = write(
            self.root,
            "bad.yaml",
            "document: modulemd-packager\nversion: 3\ndata:\n  summary: x\n  description: y\n"
            "  license: [MIT]\n  components:\n    rpms:\n      a:\n        rationale: r\n"
            "        buildorder: nope\n",
        )
        proc = bbmod("build-local", module, "--sources", RPMS, "--output", self.root + "/o")
        self.assertEqual(proc.returncode, 1)
        self.assertRegex(proc.stderr, rf"{module}:\d+: error: ")
        self.assertFalse(os.path.exists(self.root + "/o"))

    def test_a_missing_catalogue_is_reported_before_building(self) -> None:
        proc = bbmod(
            "build-local",
            os.path.join(MODULES, "mathstack", "mathstack.yaml"),
            "--sources",
            RPMS,
            "--output",
            self.root + "/o",
            "--catalogue",
            self.root + "/nothing-here",
        )
        self.assertEqual(proc.returncode, 1)
        self.assertIn(f"{self.root}/nothing-here: error: no such file or directory", proc.stderr)
