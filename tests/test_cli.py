"""`bbmod lint` and `bbmod plan` as a user runs them: real processes, real git."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess

from twisted.trial import unittest

from .helpers import CONTRIB, bbmod, corpus, tempdir, write

MODULES = sorted(
    glob.glob(os.path.join(CONTRIB, "modules", "*", "*.yaml"))
    + glob.glob(os.path.join(CONTRIB, "modules", "*", "streams", "*.yaml"))
)
SOURCES = os.path.join(CONTRIB, "rpms")

NAMELESS = """\
document: modulemd-packager
version: 3
data:
  summary: A nameless module
  description: >-
    Named by its dist-git repository and branch.
  configurations:
    - context: c1
      platform: f39
  components:
    rpms:
      a:
        rationale: Needed.
"""


def snapshot(folder: str) -> dict[str, float]:
    out = {}
    for base, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(base, name)
            out[path] = os.lstat(path).st_mtime
    return out


def git(folder: str, *args: str, date: str = "2026-11-20T10:11:12Z") -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    subprocess.run(["git", "-C", folder, *args], check=True, capture_output=True, env=env)


class Lint(unittest.TestCase):
    def test_contrib_modules_are_clean(self) -> None:
        self.assertGreaterEqual(len(MODULES), 8)
        proc = bbmod("lint", *MODULES)
        self.assertEqual((proc.returncode, proc.stdout), (0, ""), proc.stderr)

    def test_exit_codes_and_format(self) -> None:
        folder = tempdir(self)
        bad = write(
            folder,
            "bad.yaml",
            NAMELESS.replace("        rationale: Needed.\n", "        ref: main\n"),
        )
        good = write(folder, "good.yaml", NAMELESS)
        proc = bbmod("lint", good, bad, os.path.join(folder, "missing.yaml"))
        self.assertEqual(proc.returncode, 1)
        lines = proc.stdout.splitlines()
        self.assertEqual(
            lines,
            [
                f"{bad}:12: error: component a has no rationale (say in `rationale:` why the module"
                " needs it; the spec makes it mandatory)",
                f"{folder}/missing.yaml: error: no such file"
                " (check the path, or create the module file)",
            ],
        )
        self.assertEqual(bbmod("lint", good).returncode, 0)
        usage = bbmod("lint")
        self.assertEqual(usage.returncode, 2)
        self.assertIn("usage:", usage.stderr)
        self.assertEqual(bbmod("frobnicate").returncode, 2)

    def test_lint_writes_nothing(self) -> None:
        folder = tempdir(self)
        for path in MODULES[:3]:
            shutil.copy(path, folder)
        write(folder, "bad.yaml", "document: modulemd\ndata: [\n")
        before = snapshot(folder)
        proc = bbmod("lint", *sorted(glob.glob(os.path.join(folder, "*.yaml"))), cwd=folder)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(snapshot(folder), before)

    def test_corpus_f29_reports_policy_not_a_crash(self) -> None:
        proc = bbmod("lint", corpus("test_data", "f29.yaml"))
        self.assertEqual(proc.returncode, 1)
        self.assertNotIn("Traceback", proc.stderr)
        self.assertIn("uses git scheme; allowed: https", proc.stdout)
        allowed = bbmod(
            "lint",
            "--allow-scheme",
            "git",
            "--allow-scheme",
            "git+https",
            corpus("test_data", "f29.yaml"),
        )
        self.assertEqual((allowed.returncode, allowed.stdout), (0, ""))


class Plan(unittest.TestCase):
    def plan_json(self, *args: str) -> dict:
        proc = bbmod("plan", *args, "--json")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        return json.loads(proc.stdout)

    def test_every_contrib_module_plans(self) -> None:
        for path in MODULES:
            doc = self.plan_json(path, "--sources", SOURCES, "--version", "1")
            self.assertTrue(doc["builds"], path)
            for build in doc["builds"]:
                self.assertEqual(build["warnings"], [], path)

    def test_json_contract(self) -> None:
        path = os.path.join(CONTRIB, "modules", "batches", "batches.yaml")
        # --stream: the default is the checkout's branch, which a clone may have renamed.
        doc = self.plan_json(path, "--version", "3920261120101112", "--stream", "main")
        self.assertEqual(list(doc), ["builds"])
        (build,) = doc["builds"]
        self.assertEqual(
            set(build),
            {
                "nsvc",
                "context",
                "buildrequires",
                "requires",
                "components",
                "critical_path",
                "warnings",
            },
        )
        self.assertEqual(build["nsvc"], f"batches:main:3920261120101112:{build['context']}")
        self.assertRegex(build["context"], r"^[0-9a-f]{8}$")
        self.assertEqual(build["buildrequires"], {"platform": "f39"})
        self.assertEqual(build["requires"], {"platform": ["f39"]})
        self.assertEqual(
            build["components"],
            [
                {"name": "batch-a", "after": [], "level": 0},
                {"name": "batch-b", "after": [], "level": 0},
                {"name": "batch-c", "after": ["batch-a", "batch-b"], "level": 1},
                {"name": "batch-d", "after": ["batch-c"], "level": 2},
            ],
        )
        self.assertEqual(build["critical_path"][1:], ["batch-c", "batch-d"])

    def test_names_and_version_from_git(self) -> None:
        repo = tempdir(self)
        git(repo, "init", "-q", "-b", "f39")
        write(repo, "nodename.yaml", NAMELESS)
        git(repo, "add", "nodename.yaml")
        git(repo, "commit", "-q", "-m", "x")
        doc = self.plan_json(os.path.join(repo, "nodename.yaml"))
        # Name from the file, stream from the branch, version from the commit time (UTC)
        # prefixed with the platform's version (f39 -> 39).
        self.assertEqual(doc["builds"][0]["nsvc"], "nodename:f39:3920261120101112:c1")
        named = self.plan_json(os.path.join(repo, "nodename.yaml"), "--name", "x", "--stream", "y")
        self.assertEqual(named["builds"][0]["nsvc"], "x:y:3920261120101112:c1")

    def test_automatic_order_needs_sources(self) -> None:
        path = os.path.join(CONTRIB, "modules", "autoorder", "autoorder.yaml")
        flat = self.plan_json(path)
        self.assertEqual({c["level"] for c in flat["builds"][0]["components"]}, {0})
        self.assertTrue(flat["builds"][0]["warnings"])
        ordered = self.plan_json(path, "--sources", SOURCES)
        levels = {c["name"]: c["level"] for c in ordered["builds"][0]["components"]}
        self.assertEqual(levels, {"auto-core": 0, "auto-mid": 1, "auto-app": 2})

    def test_multi_stream_needs_catalogue(self) -> None:
        folder = tempdir(self)
        text = NAMELESS.replace(
            "document: modulemd-packager\nversion: 3", "document: modulemd\nversion: 2"
        ).replace(
            "  configurations:\n    - context: c1\n      platform: f39\n",
            "  license:\n    module: [MIT]\n  dependencies:\n    - buildrequires:\n"
            "        platform: [f39]\n        dwm: []\n      requires:\n        dwm: []\n",
        )
        path = write(folder, "multi.yaml", text)
        proc = bbmod("plan", path)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("buildrequires dwm: [] (every stream) needs a module catalogue", proc.stdout)
        doc = self.plan_json(path, "--catalogue", corpus("test_data", "f29.yaml"))
        self.assertEqual(
            [b["buildrequires"]["dwm"] for b in doc["builds"]], ["6.0", "6.1", "latest"]
        )
        self.assertEqual(len({b["context"] for b in doc["builds"]}), 3)

    def test_dot_renders(self) -> None:
        if shutil.which("dot") is None:
            raise unittest.SkipTest("needs Graphviz `dot` (Debian package graphviz)")
        path = os.path.join(CONTRIB, "modules", "dagdemo", "dagdemo.yaml")
        proc = bbmod("plan", path, "--dot")
        self.assertEqual(proc.returncode, 0)
        self.assertIn('"0:dag-left" -> "0:dag-top"', proc.stdout)
        svg = subprocess.run(
            ["dot", "-Tsvg"], input=proc.stdout, capture_output=True, text=True, check=False
        )
        self.assertEqual(svg.returncode, 0, svg.stderr)
        self.assertIn("dag&#45;solo", svg.stdout)  # SVG escapes the dash

    def test_invalid_module_fails_cleanly(self) -> None:
        folder = tempdir(self)
        path = write(folder, "bad.yaml", "document: modulemd-packager\nversion: 3\ndata: {}\n")
        proc = bbmod("plan", path)
        self.assertEqual(proc.returncode, 1)
        self.assertTrue(proc.stdout.startswith(f"{path}:"), proc.stdout)
        self.assertNotIn("Traceback", proc.stderr)
