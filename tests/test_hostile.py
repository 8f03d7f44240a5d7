"""Hostile input at every entry point we own here: module documents, the dist-git
import, refs, SCM URLs, spec files, component sources and CLI arguments.

For each case: a clear error naming the problem (no Python traceback), nothing written
outside the build's own area, and the host left as it was. The web API, webhook and
message-bus cases live with their entry points (tests/test_service_api.py,
tests/test_webhooks.py, tests/test_bus.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess

from twisted.trial import unittest

from buildbot_modules.core.problems import ModuleError
from buildbot_modules.core.specs import read_spec, sandbox
from buildbot_modules.distgit import DistGit

from .helpers import CONTRIB, bbmod, tempdir, write

HEADER = "document: modulemd-packager\nversion: 3\ndata:\n"
GOOD_BODY = (
    "  summary: Hostile\n  description: Hostile input.\n  license: [MIT]\n"
    "  configurations:\n    - context: ctx1\n      platform: f39\n"
    "  components:\n    rpms:\n      a:\n        rationale: A component.\n"
)


def module(extra: str = "", body: str = GOOD_BODY) -> str:
    return HEADER + body + extra


# name -> (document text or bytes, a fragment the error must contain)
DOCUMENTS: dict[str, tuple[str | bytes, str]] = {
    "alias bomb": (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, "
            f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
            f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
            for i in range(8)
        ),
        "alias",
    ),
    "deep nesting": ("x: " + "[" * 20000 + "]" * 20000 + "\n", "deep"),
    "oversized": (module("  # " + "x" * (6 * 1024 * 1024) + "\n"), "MiB"),
    "NUL byte": (module().replace("Hostile input.", "Hostile\0input."), "error"),
    "not UTF-8": (module().encode() + b"  summary2: \xff\xfe\n", "UTF-8"),
    "wrong type": (
        module(
            body=GOOD_BODY.replace(
                "    rpms:\n      a:\n        rationale: A component.\n",
                "    rpms: just a string\n",
            )
        ),
        "error",
    ),
    "unknown field": (module("  favourite_colour: blue\n"), "favourite_colour"),
    "path traversal in name": (module().replace("data:\n", "data:\n  name: ../../etc\n"), "name"),
    "shell metacharacters in ref": (
        module().replace(
            "rationale: A component.",
            'rationale: A component.\n        ref: "main; touch /tmp/bbmod-pwned"',
        ),
        "ref",
    ),
    "ext:: SCM URL": (
        module().replace(
            "rationale: A component.",
            'rationale: A component.\n        repository: "ext::sh -c touch% /tmp/bbmod-pwned"',
        ),
        "repository",
    ),
    "--upload-pack SCM URL": (
        module().replace(
            "rationale: A component.",
            'rationale: A component.\n        repository: "--upload-pack=touch /tmp/bbmod-pwned"',
        ),
        "repository",
    ),
    "file:// outside the dist-git": (
        module().replace(
            "rationale: A component.", 'rationale: A component.\n        repository: "file:///etc"'
        ),
        "repository",
    ),
    "huge buildorder": (
        module().replace(
            "rationale: A component.",
            "rationale: A component.\n        buildorder: 99999999999999999999999",
        ),
        "buildorder",
    ),
    "empty document": ("", "document"),
    "not a mapping": ("- just\n- a list\n", "error"),
}


class HostileDocuments(unittest.TestCase):
    """`bbmod lint` (the same loader the pipeline and build-local use)."""

    def test_every_hostile_document_is_refused_clearly(self) -> None:
        folder = tempdir(self)
        self.assertGreaterEqual(len(DOCUMENTS), 15)
        for label, (text, fragment) in DOCUMENTS.items():
            path = os.path.join(folder, "hostile.yaml")
            with open(path, "wb") as f:
                f.write(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
            proc = bbmod("lint", path)
            with self.subTest(label):
                self.assertEqual(proc.returncode, 1, f"{label}: {proc.stdout}{proc.stderr}")
                self.assertNotIn("Traceback", proc.stdout + proc.stderr, label)
                self.assertIn("error", proc.stdout, label)
                self.assertIn(fragment.lower(), proc.stdout.lower(), f"{label}: {proc.stdout}")
        self.assertFalse(os.path.exists("/tmp/bbmod-pwned"))


class HostileDistGit(unittest.TestCase):
    def setUp(self) -> None:
        self.root = tempdir(self)
        self.distgit = DistGit.init(os.path.join(self.root, "distgit"))

    def test_names_and_branches_that_leave_the_dist_git(self) -> None:
        source = tempdir(self)
        write(source, "rpms/ok/ok.spec", "Name: ok\n")
        for branch in ("../escape", "--force", "a b", "refs/heads/x/../../y", ""):
            proc = bbmod("distgit", "import", self.distgit.root, source, "--branch", branch)
            with self.subTest(branch=branch):
                self.assertNotEqual(proc.returncode, 0, branch)
                self.assertNotIn("Traceback", proc.stdout + proc.stderr)
        self.assertEqual(os.listdir(os.path.join(self.distgit.root, "rpms")), [])

    def test_refs_that_are_revision_syntax_or_options(self) -> None:
        source = tempdir(self)
        write(source, "rpms/ok/ok.spec", "Name: ok\n")
        self.distgit.import_dir(source)
        for ref in ("main~1", "main^", "HEAD", "--all", "main..main", "@{-1}", "../main"):
            with self.subTest(ref=ref), self.assertRaises(ModuleError):
                self.distgit.resolve("rpms", "ok", ref)

    def test_a_link_out_of_the_repository_is_found(self) -> None:
        source = tempdir(self)
        write(source, "rpms/leak/leak.spec", "Name: leak\n")
        os.symlink("/etc/passwd", os.path.join(source, "rpms/leak/passwd"))
        os.symlink("../../../../etc/shadow", os.path.join(source, "rpms/leak/shadow"))
        os.symlink("leak.spec", os.path.join(source, "rpms/leak/fine"))
        self.distgit.import_dir(source)
        commit = self.distgit.resolve("rpms", "leak", "main")
        self.assertEqual(
            sorted(self.distgit.unsafe_links("rpms", "leak", commit)),
            [("passwd", "/etc/passwd"), ("shadow", "../../../../etc/shadow")],
        )


EVIL_SPEC = """\
Name:           evil
Version:        %(touch {marker}; echo 1.0)
Release:        1
Summary:        A spec whose parsing runs a command
License:        MIT
BuildArch:      noarch
%description
Evil.
%install
mkdir -p %{{buildroot}}/usr/share/evil
echo x > %{{buildroot}}/usr/share/evil/x
echo pwned > /etc/bbmod-hostile-install || :
echo pwned > /bbmod-hostile-install || :
%files
/usr/share/evil
"""


class HostileSpecs(unittest.TestCase):
    def test_parsing_a_spec_runs_its_shell_in_a_read_only_sandbox(self) -> None:
        if not sandbox():
            raise unittest.SkipTest("needs bubblewrap (bwrap) running as root (make setup)")
        folder = tempdir(self)
        marker = os.path.join(folder, "parsed-with-side-effect")
        spec = write(folder, "evil.spec", EVIL_SPEC.format(marker=marker))
        read_spec(spec)  # parses (the expansion fails quietly inside the sandbox)
        self.assertFalse(os.path.exists(marker), "a spec's %(...) wrote on the master")


class HostileSources(unittest.TestCase):
    """build-local, end to end: hostile component sources and specs."""

    timeout = 240

    def setUp(self) -> None:
        for tool in ("rpmbuild", "createrepo_c"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest(f"needs {tool} (run make setup)")
        self.root = tempdir(self)
        self.sources = os.path.join(self.root, "sources")
        shutil.copytree(
            os.path.join(CONTRIB, "rpms", "hello-script"),
            os.path.join(self.sources, "hello-script"),
        )
        self.module = os.path.join(CONTRIB, "modules", "hello", "hello.yaml")

    def build(self) -> subprocess.CompletedProcess[str]:
        return bbmod(
            "build-local",
            self.module,
            "--sources",
            self.sources,
            "--output",
            os.path.join(self.root, "out"),
            "--stream",
            "main",
        )

    def test_a_source_link_to_a_host_file_is_refused_before_building(self) -> None:
        os.symlink("/etc/shadow", os.path.join(self.sources, "hello-script", "shadow"))
        proc = self.build()
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("symbolic link shadow -> /etc/shadow", proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.root, "out", "stage", "hello")))

    def test_a_spec_writing_outside_its_buildroot_changes_nothing_on_the_host(self) -> None:
        spec = os.path.join(self.sources, "hello-script", "hello-script.spec")
        with open(spec, encoding="utf-8") as f:
            text = f.read()
        with open(spec, "w", encoding="utf-8") as f:
            f.write(
                text.replace(
                    "%install\n",
                    "%install\necho pwned > /etc/bbmod-hostile-install || :\n"
                    "echo pwned > /bbmod-hostile-install || :\n",
                    1,
                )
            )
        proc = self.build()
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertFalse(os.path.exists("/etc/bbmod-hostile-install"))
        self.assertFalse(os.path.exists("/bbmod-hostile-install"))


class HostileArguments(unittest.TestCase):
    def test_cli_arguments(self) -> None:
        root = tempdir(self)
        hello = os.path.join(CONTRIB, "modules", "hello", "hello.yaml")
        cases = [
            (("lint", os.path.join(root, "missing.yaml")), "no such file"),
            (("lint", root), "error"),
            (
                (
                    "build-local",
                    hello,
                    "--sources",
                    root,
                    "--output",
                    root + "/o",
                    "--workers",
                    "0",
                ),
                "--workers",
            ),
            (
                ("build-local", hello, "--sources", root + "/none", "--output", root + "/o"),
                "no such sources folder",
            ),
            (("plan", hello, "--catalogue", "ext::sh -c id"), "scheme"),
            (("plan", hello, "--catalogue", "ftp://example.org/repo"), "scheme"),
            (
                (
                    "build-local",
                    hello,
                    "--sources",
                    os.path.join(CONTRIB, "rpms"),
                    "--output",
                    "/etc/passwd",
                ),
                "not a folder",
            ),
            (("distgit", "import", root + "/nothing", root), "error"),
        ]
        for args, fragment in cases:
            proc = bbmod(*args)
            with self.subTest(args=args):
                self.assertNotEqual(proc.returncode, 0, args)
                out = proc.stdout + proc.stderr
                self.assertNotIn("Traceback", out)
                self.assertIn(fragment.lower(), out.lower(), f"{args}: {out}")
