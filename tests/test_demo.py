"""`make demo` (buildbot_modules.demo): a real master and two workers build contrib's
hello in a temporary folder; the printed dnf command installs it; running the demo again
builds nothing; `stop` ends the master.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import subprocess

from twisted.trial import unittest

from buildbot_modules import demo
from buildbot_modules.registry import Registry

from .helpers import CONTRIB, tempdir, write
from .test_pipeline import free_port


class DependencyOrder(unittest.TestCase):
    def test_stacks_come_after_what_they_buildrequire(self) -> None:
        names = [m.name for m in demo.discover(CONTRIB, None)]
        self.assertLess(names.index("mathlib"), names.index("mathstack"))
        self.assertEqual(sorted(names), sorted(os.listdir(os.path.join(CONTRIB, "modules"))))

    def test_a_module_brings_what_it_buildrequires(self) -> None:
        names = [m.name for m in demo.discover(CONTRIB, ["mathstack"])]
        self.assertEqual(names, ["mathlib", "mathstack"])

    def test_unknown_module(self) -> None:
        with self.assertRaisesRegex(demo.DemoError, "no module nosuch"):
            demo.discover(CONTRIB, ["nosuch"])


def run_demo(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = demo.main(list(args))
    return code, out.getvalue()


class Demo(unittest.TestCase):
    timeout = 300

    def setUp(self) -> None:
        for tool in ("rpmbuild", "createrepo_c", "dnf", "git", "unshare"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest(f"needs {tool} (run make setup)")
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root: the demo's workers build in buildroots")
        self.folder = os.path.join(tempdir(self), "demo")
        self.master = os.path.join(self.folder, "site", "master")
        self.options = [
            "--folder",
            self.folder,
            "--port",
            str(free_port()),
            "--worker-port",
            str(free_port()),
            "--timeout",
            "240",
        ]
        self.addCleanup(run_demo, "stop", "--folder", self.folder)

    def dnf_command(self, output: str) -> list[str]:
        lines = [line.strip() for line in output.splitlines() if line.strip().startswith("dnf --")]
        self.assertEqual(len(lines), 1, output)
        return shlex.split(lines[0])

    def test_demo_builds_installs_reruns_and_stops(self) -> None:
        code, output = run_demo(*self.options, "--modules", "hello")
        self.assertEqual(code, 0, output)
        self.assertIn("hello:main ready", output)
        self.assertIn("#/waterfall", output)
        self.assertIn(os.path.join(self.folder, "publish", "stage", "stage.repo"), output)

        command = self.dnf_command(output)
        self.assertIn("hello:main/default", command)
        proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        root = os.path.join(self.folder, "root")
        self.assertTrue(os.path.isfile(os.path.join(root, "usr/bin/bbmod-hello")))
        self.assertTrue(os.path.isfile(os.path.join(root, "usr/share/doc/hello-script/README")))

        # Again: the same master, nothing pushed, nothing built.
        master = self.master
        pid = demo.running(master)
        self.assertIsNotNone(pid)
        code, again = run_demo(*self.options, "--modules", "hello")
        self.assertEqual(code, 0, again)
        self.assertIn("master already running", again)
        self.assertIn("hello:main already ready", again)
        self.assertEqual(command, self.dnf_command(again))
        self.assertEqual(demo.running(master), pid)
        registry = Registry(f"sqlite:///{master}/registry.sqlite")
        self.addCleanup(registry.dispose)
        self.assertEqual(len(registry.module_builds(name="hello")), 1)

        code, stopped = run_demo("stop", "--folder", self.folder)
        self.assertEqual(code, 0)
        self.assertIn(f"stopped master (pid {pid})", stopped)
        self.assertIsNone(demo.running(master))
        self.assertFalse(os.path.exists(f"/proc/{pid}"))
        code, nothing = run_demo("stop", "--folder", self.folder)
        self.assertIn("nothing was running", nothing)

    def test_a_failed_component_is_named_with_its_log(self) -> None:
        contrib = tempdir(self)
        for folder in ("modules/hello", "rpms/hello-script"):
            shutil.copytree(os.path.join(CONTRIB, folder), os.path.join(contrib, folder))
        spec = os.path.join(contrib, "rpms/hello-script/hello-script.spec")
        with open(spec, encoding="utf-8") as f:
            text = f.read().replace("# Nothing to build.", "exit 1")
        write(contrib, "rpms/hello-script/hello-script.spec", text)
        stack = os.path.join(CONTRIB, "modules/mathstack/mathstack.yaml")
        with open(stack, encoding="utf-8") as f:
            text = f.read().replace("mathlib: [main]", "hello: [main]")
        write(contrib, "modules/hellostack/hellostack.yaml", text)

        code, output = run_demo(*self.options, "--contrib", contrib)
        self.assertEqual(code, 1, output)
        self.assertIn("hello:main FAILED", output)
        self.assertIn("component hello-script failed, log: http://localhost:", output)
        self.assertIn(
            "build in buildroot: rpmbuild hello-script in its buildroot (failure)", output
        )
        self.assertIn("hellostack: not pushed, it needs hello", output)
        self.assertNotIn("dnf --", output)
        registry = Registry(f"sqlite:///{self.master}/registry.sqlite")
        self.addCleanup(registry.dispose)
        self.assertEqual(registry.module_builds(name="hellostack"), [])
