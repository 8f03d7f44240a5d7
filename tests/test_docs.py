"""The documentation stays true (docs/contributing-docs.md).

- The site builds with `mkdocs build --strict`: every page in the nav, no broken link or
  anchor, every diagram rendered by dot; and a broken link really does fail it.
- docs/base-runtime-api.md is exactly what `bbmod docs api` prints from contrib's
  base-runtime today.
- The runnable shell blocks of "Defining a module" and "Building a module", run in order
  in one fresh shell as a reader would, with only the guide's own variables (SITE,
  WEB_PORT, WORKER_PORT) set: they write a new module, build it locally, start a real
  master and worker, push it to a fresh dist-git, wait for it to be ready, install it
  with dnf, and push a change whose build fails. The test then checks each outcome
  itself: the registry, the published tree, the installed command.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile

from twisted.trial import unittest

from buildbot_modules.registry import Registry

from .helpers import ROOT, bbmod, tempdir
from .test_pipeline import free_port

DOCS = os.path.join(ROOT, "docs")
GUIDES = ("defining-a-module.md", "building.md")
API_PAGE = os.path.join(DOCS, "base-runtime-api.md")
API_COMMAND = (
    "docs",
    "api",
    "contrib/modules/base-runtime/base-runtime.yaml",
    "--sources",
    "contrib/rpms",
    "--stream",
    "main",
)

MARKER = "<!-- runnable -->"
_RUNNABLE = re.compile(r"^<!-- runnable -->\n```sh\n(.*?)\n```$", re.MULTILINE | re.DOTALL)


def runnable_blocks(page: str) -> list[tuple[int, str]]:
    """(line, code) of each block marked runnable, in order; a marker not followed by a
    ```sh fence is an error, so a typo cannot silently drop a block from the test."""
    with open(os.path.join(DOCS, page), encoding="utf-8") as f:
        text = f.read()
    blocks = [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _RUNNABLE.finditer(text)]
    if len(blocks) != text.count(MARKER):
        raise AssertionError(f"docs/{page}: a `{MARKER}` line not followed by a ```sh block")
    return blocks


def guide_script() -> str:
    """The runnable blocks of both guides as one bash script, each announced with its
    page and line so a failure names the block."""
    parts = ["set -euo pipefail"]
    for page in GUIDES:
        for line, code in runnable_blocks(page):
            parts.append(f"echo '== docs/{page}:{line}'")
            parts.append(code)
    return "\n".join(parts) + "\n"


def mkdocs(*args: str, cwd: str = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=120,
    )


class Site(unittest.TestCase):
    def setUp(self) -> None:
        if importlib.util.find_spec("mkdocs") is None:
            raise unittest.SkipTest("needs mkdocs (make setup installs it: the dev extra)")
        if shutil.which("dot") is None:
            raise unittest.SkipTest("needs Graphviz dot (make setup)")

    def test_the_site_builds_strict_with_every_diagram(self) -> None:
        site = os.path.join(tempdir(self), "site")
        proc = mkdocs("build", "--strict", "--site-dir", site)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for page in ("index", "what-is-a-module", "defining-a-module", "building", "workers"):
            self.assertTrue(os.path.isfile(os.path.join(site, f"{page}.html")), page)
        sources = glob.glob(os.path.join(DOCS, "diagrams", "*.dot"))
        self.assertTrue(sources)
        for source in sources:
            name = os.path.splitext(os.path.basename(source))[0]
            with open(os.path.join(site, "diagrams", f"{name}.svg"), encoding="utf-8") as f:
                self.assertIn("<svg", f.read())
        # A link from docs/ to workers/README.md leads to its page in the site.
        with open(os.path.join(site, "running.html"), encoding="utf-8") as f:
            self.assertIn('href="workers.html"', f.read())

    def test_a_broken_link_fails_the_build(self) -> None:
        copy = tempdir(self)
        for path in ("mkdocs.yml", "README.md", "workers/README.md", "contrib/README.md"):
            os.makedirs(os.path.dirname(os.path.join(copy, path)), exist_ok=True)
            shutil.copy(os.path.join(ROOT, path), os.path.join(copy, path))
        shutil.copytree(DOCS, os.path.join(copy, "docs"))
        shutil.copytree(os.path.join(ROOT, "tools"), os.path.join(copy, "tools"))
        with open(os.path.join(copy, "docs", "building.md"), "a", encoding="utf-8") as f:
            f.write("\nSee [the old page](no-such-page.md).\n")
        proc = mkdocs("build", "--strict", "--site-dir", os.path.join(copy, "out"), cwd=copy)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("no-such-page.md", proc.stderr)


class ApiPage(unittest.TestCase):
    def test_the_committed_page_is_current(self) -> None:
        proc = bbmod(*API_COMMAND, "--check", API_PAGE)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

    def test_it_comes_from_the_module_and_its_specs(self) -> None:
        proc = bbmod(*API_COMMAND)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("| `base-tools` | `base-tools` | 1.0-1 |", proc.stdout)
        self.assertIn("- `base-files = 1.0-1`", proc.stdout)  # rpmspec's Provides

    def test_a_stale_page_is_refused(self) -> None:
        with open(API_PAGE, encoding="utf-8") as f:
            text = f.read()
        stale = os.path.join(tempdir(self), "api.md")
        with open(stale, "w", encoding="utf-8") as f:
            f.write(text.replace("base-files = 1.0-1", "base-files = 0.9-1"))
        proc = bbmod(*API_COMMAND, "--check", stale)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("run `make docs`", proc.stdout)


class RunnableBlocks(unittest.TestCase):
    def test_each_guide_has_runnable_blocks(self) -> None:
        for page in GUIDES:
            self.assertGreater(len(runnable_blocks(page)), 3, page)


class GuideEndToEnd(unittest.TestCase):
    """A reader follows "Defining a module" and "Building a module" with only the docs."""

    timeout = 300

    def setUp(self) -> None:
        for tool in ("rpmbuild", "rpmspec", "createrepo_c", "dnf", "git", "unshare", "bash"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest(f"needs {tool} (run make setup)")
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root: the guide's builds run in buildroots")
        # Outside any git checkout: the guide's stream comes from the folder's branch.
        self.site = os.path.join(tempfile.mkdtemp(prefix="bbmod-guide-"), "tutorial")
        self.addCleanup(shutil.rmtree, os.path.dirname(self.site), True)
        self.addCleanup(self.stop)
        self.venv_bin = os.path.dirname(sys.executable)

    def stop(self) -> None:
        """Stop what the guide started if it stopped half-way (its last block does)."""
        for tool, folder in (("buildbot-worker", "worker1"), ("buildbot", "master")):
            path = os.path.join(self.site, "site", folder)
            if os.path.exists(os.path.join(path, "twistd.pid")):
                subprocess.run(
                    [os.path.join(self.venv_bin, tool), "stop", path],
                    capture_output=True,
                    check=False,
                    timeout=60,
                )

    def test_a_reader_defines_builds_publishes_and_installs_a_new_module(self) -> None:
        env = {
            **os.environ,
            "SITE": self.site,
            "WEB_PORT": str(free_port()),
            "WORKER_PORT": str(free_port()),
            "PATH": self.venv_bin + os.pathsep + os.environ.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join([ROOT, *filter(None, [os.environ.get("PYTHONPATH")])]),
        }
        proc = subprocess.run(
            ["bash", "-c", guide_script()],
            capture_output=True,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),
            check=False,
            timeout=270,
        )
        output = proc.stdout[-6000:] + "\n--- stderr\n" + proc.stderr[-4000:]
        self.assertEqual(proc.returncode, 0, output)
        # The guide's own blocks ran to the end (the last one stops the site).
        self.assertIn("== docs/building.md:", proc.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.site, "site", "master", "twistd.pid")))

        # The first push: built, ready, published, installed, and the command works.
        registry = Registry(
            "sqlite:///" + os.path.join(self.site, "site", "master", "registry.sqlite")
        )
        builds = sorted(
            (b for b in registry.module_builds() if b.name == "wisdom"), key=lambda b: b.id
        )
        self.assertEqual([b.state for b in builds], ["ready", "failed"], output)
        first, second = builds
        self.assertEqual((first.stream, first.context), ("main", "wisdom01"))
        published = os.path.join(
            self.site, "publish", "stage", "wisdom", "main", f"{first.version}.wisdom01"
        )
        self.assertTrue(glob.glob(os.path.join(published, "*", "wisdom-1.0-1.module+f39+*.rpm")))
        wisdom = os.path.join(self.site, "root", "usr", "bin", "wisdom")
        quotes = os.path.join(self.site, "root", "usr", "share", "wisdom", "quotes.txt")
        said = subprocess.run(
            [wisdom, "2"], env={**env, "WISDOM_QUOTES": quotes}, capture_output=True, text=True
        )
        self.assertEqual(said.stdout, "Make it work, make it right, make it fast.\n")
        self.assertIn("Make it work, make it right, make it fast.", proc.stdout)

        # The changed quote: a new version, whose wisdom component failed in %check.
        self.assertNotEqual(second.version, first.version)
        states = {c.name: c.state for c in registry.components(second.id)}
        self.assertEqual(states.get("wisdom"), "failed", states)
        self.assertIn("the build failed (exit 1)", proc.stdout)
        # The local build came first, into its own output.
        self.assertTrue(
            glob.glob(os.path.join(self.site, "local", "stage", "wisdom", "main", "*", "*"))
        )
