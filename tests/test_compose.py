"""Compose and publish with the real tools: rpmbuild makes tiny noarch RPMs, createrepo_c
and modifyrepo_c make the repositories, libmodulemd reads them back and dnf installs the
published modules into a private installroot."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
import xml.etree.ElementTree as ET
from typing import Any
from unittest import mock

from twisted.trial import unittest

from buildbot_modules.compose import (
    ComponentResult,
    ComposeResult,
    compose,
    final_modulemd,
    read_modules_metadata,
    rpm_header,
    rpm_headers,
    rpm_nevra,
)
from buildbot_modules.core.deps import ExpandedBuild, expand
from buildbot_modules.core.documents import modulemd
from buildbot_modules.core.module import ModuleStream, load_modules
from buildbot_modules.core.problems import ModuleError
from buildbot_modules.publish import publish as publish_compose
from buildbot_modules.publish import published, repo_file, update_aggregate
from buildbot_modules.signing import Signer

from .helpers import tempdir, throwaway_gpg_key, write

ARCH = os.uname().machine
VERSION = 3920241125120000
COMMIT = "c0ffee" * 6 + "0000"

SPEC = """\
Name:           {name}
{epoch}Version:        1.{n}
Release:        1
Summary:        Test package {name}
License:        MIT
BuildArch:      noarch

%description
Test package {name}.
{sub_header}
%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo {name} > %{{buildroot}}/usr/share/{name}/{name}.txt
{sub_install}
%files
/usr/share/{name}/{name}.txt
{sub_files}
%changelog
* Mon Nov 25 2024 T <t@example.org> - 1.{n}-1
- test
"""

SUB_HEADER = """
%package extra
Summary: Extra files of {name}

%description extra
Extra files of {name}.
"""

# alpha (and its subpackage alpha-extra, filtered), tool (buildonly), gamma (epoch 1).
PACKAGES = {"alpha": {"sub": True}, "tool": {}, "gamma": {"epoch": 1}}

DEMO = """\
document: modulemd-packager
version: 3
data:
  summary: Demo module
  description: A module with a filtered subpackage and a buildonly component.
  license: [MIT]
  configurations:
    - context: demo01
      platform: f39
  profiles:
    default:
      description: The alpha files.
      rpms: [alpha]
      default: {default_is_default}
    docs:
      description: Also the alpha files.
      rpms: [alpha]
      default: {docs_is_default}
  api:
    rpms: [alpha]
  filter:
    rpms: [alpha-extra]
  components:
    rpms:
      alpha:
        rationale: The content of the module.
        ref: main
      tool:
        rationale: Only needed to build alpha.
        ref: main
        buildonly: true
"""

OTHER = """\
document: modulemd-packager
version: 3
data:
  summary: Another module
  description: The second module of the stage area.
  license: [MIT]
  configurations:
    - context: other01
      platform: f39
  profiles:
    default:
      rpms: [gamma]
      default: true
  api:
    rpms: [gamma]
  components:
    rpms:
      gamma:
        rationale: The content of the module.
        ref: main
"""

EXTRA = """\
---
document: modulemd-defaults
version: 1
data:
  module: demo
  stream: main
  profiles:
    main: [docs]
...
---
document: modulemd-obsoletes
version: 1
data:
  modified: 2024-11-25T00:00Z
  module: demo
  stream: old
  message: demo:old is replaced by demo:main
  obsoleted_by:
    module: demo
    stream: main
...
"""


def needs(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            raise unittest.SkipTest(f"needs {tool} (run make setup)")


def host_state() -> tuple[list[str], float | None]:
    """What dnf could leak onto the host: the local plugin's copies and the completion cache."""
    local = "/var/lib/dnf/plugins/local"
    files = sorted(os.listdir(local)) if os.path.isdir(local) else []
    cache = "/var/cache/dnf/packages.db"
    return files, os.stat(cache).st_mtime if os.path.exists(cache) else None


_BUILT: dict[str, list[str]] = {}


def build_rpms() -> dict[str, list[str]]:
    """The test RPMs by component, built once per test run with rpmbuild in a private
    _topdir (removed at exit); nothing goes to ~/rpmbuild or the rpm database."""
    if _BUILT:
        return _BUILT
    topdir = tempfile.mkdtemp(prefix="bbmod-rpmbuild-")
    atexit.register(shutil.rmtree, topdir, True)
    tmp = os.path.join(topdir, "tmp")
    os.makedirs(tmp)
    for n, (name, opts) in enumerate(sorted(PACKAGES.items())):
        sub = bool(opts.get("sub"))
        spec = write(
            topdir,
            f"specs/{name}.spec",
            SPEC.format(
                name=name,
                n=n,
                epoch=f"Epoch:          {opts['epoch']}\n" if "epoch" in opts else "",
                sub_header=SUB_HEADER.format(name=name) if sub else "",
                sub_install=(
                    f"echo extra > %{{buildroot}}/usr/share/{name}/extra.txt" if sub else ""
                ),
                sub_files=f"%files extra\n/usr/share/{name}/extra.txt\n" if sub else "",
            ),
        )
        for mode in ("-bb", "-bs"):
            # --nodeps: no BuildRequires check, so rpmbuild never opens the rpm database.
            subprocess.run(
                [
                    *("rpmbuild", mode, "--nodeps", "--quiet"),
                    *("--define", f"_topdir {topdir}", "--define", f"_tmppath {tmp}", spec),
                ],
                check=True,
                capture_output=True,
                env={**os.environ, "TMPDIR": tmp, "LC_ALL": "C"},
                timeout=60,
            )
    built: dict[str, list[str]] = {}
    for folder, _dirs, files in os.walk(topdir):
        for f in sorted(files):
            if f.endswith(".rpm"):
                info = rpm_header(os.path.join(folder, f))
                source = info.source_file_name if info.is_source else info.sourcerpm
                assert source is not None
                built.setdefault(source.rsplit("-", 2)[0], []).append(os.path.join(folder, f))
    _BUILT.update(built)
    return _BUILT


class ComposeTestBase(unittest.TestCase):
    """Real RPMs, real tools, everything in temporary directories."""

    def setUp(self) -> None:
        needs("rpmbuild", "rpm", "createrepo_c", "modifyrepo_c")
        self.tmp = tempdir(self)
        self.rpms = build_rpms()

    def module(self, text: str, name: str, stream: str) -> tuple[ModuleStream, ExpandedBuild]:
        path = write(tempdir(self), f"{name}.yaml", text)
        module = load_modules(path, name, stream)[0]
        return module, expand(module)[0]

    def demo(self, default: str = "default") -> tuple[ModuleStream, ExpandedBuild]:
        text = DEMO.format(
            default_is_default=str(default == "default").lower(),
            docs_is_default=str(default == "docs").lower(),
        )
        return self.module(text, "demo", "main")

    def demo_components(self) -> list[ComponentResult]:
        return [
            ComponentResult("alpha", self.rpms["alpha"], "a" * 40),
            ComponentResult("tool", self.rpms["tool"], "b" * 40),
        ]

    def compose_demo(self, version: int = VERSION, **kw: Any) -> ComposeResult:
        module, build = self.demo(**kw)
        out = os.path.join(self.tmp, f"compose-demo-{version}")
        return compose(module, build, version, ARCH, self.demo_components(), COMMIT, out)

    def compose_other(self) -> ComposeResult:
        module, build = self.module(OTHER, "other", "1.0")
        out = os.path.join(self.tmp, "compose-other")
        components = [ComponentResult("gamma", self.rpms["gamma"], "d" * 40)]
        return compose(module, build, VERSION, ARCH, components, COMMIT, out)


def index_of(text: str) -> Any:
    index = modulemd().ModuleIndex.new()
    _ok, failures = index.update_from_string(text, True)
    assert not failures, [f.get_gerror().message for f in failures]
    return index


class RpmHeaderTest(ComposeTestBase):
    def test_binary_source_and_epoch(self) -> None:
        alpha = {os.path.basename(p): p for p in self.rpms["alpha"]}
        binary = rpm_header(alpha["alpha-1.0-1.noarch.rpm"])
        self.assertEqual(
            (binary.name, binary.epoch, binary.version, binary.release, binary.arch),
            ("alpha", 0, "1.0", "1", "noarch"),
        )
        self.assertEqual(binary.sourcerpm, "alpha-1.0-1.src.rpm")
        self.assertFalse(binary.is_source)
        self.assertEqual(binary.nevra, "alpha-0:1.0-1.noarch")
        source = rpm_header(alpha["alpha-1.0-1.src.rpm"])
        self.assertTrue(source.is_source)
        self.assertIsNone(source.sourcerpm)
        self.assertEqual(rpm_nevra(source.path), "alpha-0:1.0-1.src")
        gamma = sorted(rpm_nevra(p) for p in self.rpms["gamma"])
        self.assertEqual(gamma, ["gamma-1:1.1-1.noarch", "gamma-1:1.1-1.src"])
        # One rpm run for many files gives the same answers, in order.
        paths = [p for ps in self.rpms.values() for p in ps]
        self.assertEqual([i.path for i in rpm_headers(paths)], paths)

    def test_not_an_rpm(self) -> None:
        bogus = write(self.tmp, "bogus.rpm", "not an rpm\n")
        with self.assertRaises(ModuleError) as caught:
            rpm_headers([self.rpms["alpha"][0], bogus])
        self.assertEqual(caught.exception.source, bogus)
        with self.assertRaises(ModuleError):
            rpm_header(os.path.join(self.tmp, "missing.rpm"))


class FinalModulemdTest(ComposeTestBase):
    def test_final_document(self) -> None:
        module, build = self.demo()
        text = final_modulemd(module, build, VERSION, ARCH, self.demo_components(), COMMIT)
        index = index_of(text)
        self.assertEqual(index.get_module_names(), ["demo"])
        found = index.get_module("demo")
        [stream] = found.get_all_streams()
        self.assertEqual(stream.get_NSVCA(), f"demo:main:{VERSION}:demo01:{ARCH}")
        # Filtered alpha-extra and buildonly tool are left out; the source RPM is in.
        self.assertEqual(
            sorted(stream.get_rpm_artifacts()), ["alpha-0:1.0-1.noarch", "alpha-0:1.0-1.src"]
        )
        self.assertEqual(stream.get_rpm_component("alpha").get_ref(), "a" * 40)
        self.assertEqual(stream.get_rpm_component("tool").get_ref(), "b" * 40)
        self.assertTrue(stream.get_rpm_component("tool").get_buildonly())
        self.assertEqual(
            stream.get_xmd().unpack(),
            {
                "bbmod": {
                    "commit": COMMIT,
                    "buildrequires": {"platform": "f39"},
                    "components": {"alpha": "a" * 40, "tool": "b" * 40},
                }
            },
        )
        [deps] = stream.get_dependencies()
        self.assertEqual(deps.get_buildtime_modules(), ["platform"])
        self.assertEqual(deps.get_buildtime_streams("platform"), ["f39"])
        self.assertEqual(deps.get_runtime_streams("platform"), ["f39"])
        self.assertEqual(sorted(stream.get_profile_names()), ["default", "docs"])
        self.assertEqual(stream.get_rpm_api(), ["alpha"])
        self.assertEqual(stream.get_rpm_filters(), ["alpha-extra"])
        # The packager's `default: true` profile becomes a defaults document.
        defaults = found.get_defaults()
        self.assertEqual(defaults.get_default_profiles_for_stream("main", None), ["default"])
        self.assertIsNone(defaults.get_default_stream(None))

    def test_extra_documents(self) -> None:
        # The repository's defaults name the default stream; for its own stream the
        # module document's `default: true` profile wins over the defaults document's.
        module, build = self.demo(default="default")
        text = final_modulemd(module, build, VERSION, ARCH, self.demo_components(), COMMIT, EXTRA)
        found = index_of(text).get_module("demo")
        defaults = found.get_defaults()
        self.assertEqual(defaults.get_default_stream(None), "main")
        self.assertEqual(defaults.get_default_profiles_for_stream("main", None), ["default"])
        [obsoletes] = found.get_obsoletes()
        self.assertEqual(obsoletes.props.module_stream, "old")
        self.assertEqual(obsoletes.props.obsoleted_by_module_stream, "main")

    def test_extra_documents_of_another_module_are_refused(self) -> None:
        module, build = self.demo()
        with self.assertRaises(ModuleError) as caught:
            final_modulemd(
                module,
                build,
                VERSION,
                ARCH,
                self.demo_components(),
                COMMIT,
                EXTRA.replace("module: demo\n  stream: main", "module: else\n  stream: main"),
            )
        self.assertIn("'else'", str(caught.exception))

    def test_missing_and_unknown_components(self) -> None:
        module, build = self.demo()
        with self.assertRaises(ModuleError) as caught:
            final_modulemd(module, build, VERSION, ARCH, self.demo_components()[:1], COMMIT)
        self.assertIn("no build result for component(s) tool", str(caught.exception))
        stray = [*self.demo_components(), ComponentResult("gamma", self.rpms["gamma"], "d" * 40)]
        with self.assertRaises(ModuleError) as caught:
            final_modulemd(module, build, VERSION, ARCH, stray, COMMIT)
        self.assertIn("'gamma'", str(caught.exception))


class ComposeTest(ComposeTestBase):
    def test_compose(self) -> None:
        result = self.compose_demo()
        self.assertEqual(result.nsvca, f"demo:main:{VERSION}:demo01:{ARCH}")
        self.assertEqual(result.repo, os.path.join(self.tmp, f"compose-demo-{VERSION}", ARCH))
        self.assertEqual(result.artifacts, ["alpha-0:1.0-1.noarch", "alpha-0:1.0-1.src"])
        rpms = sorted(f for f in os.listdir(result.repo) if f.endswith(".rpm"))
        self.assertEqual(rpms, ["alpha-1.0-1.noarch.rpm"])  # not filtered, not buildonly
        sources = sorted(f for f in os.listdir(result.source_repo) if f.endswith(".rpm"))
        self.assertEqual(sources, ["alpha-1.0-1.src.rpm"])
        for repo in (result.repo, result.source_repo):
            self.assertTrue(os.path.isfile(os.path.join(repo, "repodata", "repomd.xml")))
        # The modules record is the final document, as libmodulemd reads it from repodata.
        index = read_modules_metadata(result.repo)
        self.assertEqual(index.dump_to_string(), index_of(result.modulemd).dump_to_string())
        self.assertIsNone(read_modules_metadata(result.source_repo))
        with open(os.path.join(result.repo, "modules.yaml"), encoding="utf-8") as f:
            self.assertEqual(f.read(), result.modulemd)

    def test_refuses_a_used_directory(self) -> None:
        self.compose_demo()
        with self.assertRaises(ModuleError) as caught:
            self.compose_demo()
        self.assertIn("not empty", str(caught.exception))

    def test_missing_tool(self) -> None:
        empty = tempdir(self)
        with mock.patch.dict(os.environ, {"PATH": empty}), self.assertRaises(ModuleError) as e:
            self.compose_demo()
        self.assertIn("is not installed", str(e.exception))
        self.assertIn("make setup", str(e.exception))


class PublishTest(ComposeTestBase):
    def setUp(self) -> None:
        super().setUp()
        self.root = os.path.join(self.tmp, "publish")

    def publish(self, result: ComposeResult) -> str:
        name, stream, version, context, arch = result.nsvca.split(":")
        return publish_compose(result, self.root, name, stream, int(version), context, arch)

    def stage(self, *parts: str) -> str:
        return os.path.join(self.root, "stage", *parts)

    def aggregate_modules(self) -> list[str]:
        index = read_modules_metadata(self.stage("repo"))
        return sorted(
            s.get_NSVCA()
            for name in index.get_module_names()
            for s in index.get_module(name).get_all_streams()
        )

    def test_publish_and_aggregate(self) -> None:
        target = self.publish(self.compose_demo())
        self.assertEqual(target, self.stage("demo", "main", f"{VERSION}.demo01", ARCH))
        self.assertTrue(os.path.isfile(os.path.join(target, "repodata", "repomd.xml")))
        self.assertTrue(os.path.isfile(os.path.join(target, "alpha-1.0-1.noarch.rpm")))
        src = self.stage("demo", "main", f"{VERSION}.demo01", "src", "alpha-1.0-1.src.rpm")
        self.assertTrue(os.path.isfile(src))
        entries = os.listdir(self.stage())
        self.assertEqual([e for e in entries if e.startswith(".tmp-")], [])
        link = self.stage("repo")
        self.assertTrue(os.path.islink(link))
        first = os.readlink(link)
        self.assertTrue(first.startswith(".repo-"), first)
        self.assertTrue(os.path.isfile(os.path.join(link, "repodata", "repomd.xml")))
        self.assertEqual(self.aggregate_modules(), [f"demo:main:{VERSION}:demo01:{ARCH}"])
        with open(self.stage("stage.repo"), encoding="utf-8") as f:
            text = f.read()
        self.assertEqual(text, repo_file(self.root, "stage"))
        self.assertIn("[bbmod-stage]\n", text)
        self.assertIn(f"baseurl=file://{os.path.abspath(link)}/\n", text)
        self.assertNotIn("module_hotfixes", text)
        old_files = [
            loc.get("href")
            for loc in ET.parse(os.path.join(link, "repodata", "repomd.xml")).iter(
                "{http://linux.duke.edu/metadata/repo}location"
            )
        ]

        # A second module: the aggregate is rebuilt aside and carries both.
        self.publish(self.compose_other())
        second = os.readlink(link)
        self.assertNotEqual(second, first)
        self.assertEqual(
            self.aggregate_modules(),
            [f"demo:main:{VERSION}:demo01:{ARCH}", f"other:1.0:{VERSION}:other01:{ARCH}"],
        )
        self.assertEqual(
            sorted(f for f in os.listdir(link) if f.endswith(".rpm")),
            ["alpha-1.0-1.noarch.rpm", "gamma-1.1-1.noarch.rpm"],
        )
        # Only the current aggregate is left, and it still holds every file the previous
        # repomd.xml named (for a client that read it just before the swap).
        self.assertEqual([e for e in os.listdir(self.stage()) if e.startswith(".repo-")], [second])
        for href in old_files:
            self.assertTrue(os.path.isfile(os.path.join(link, str(href))), href)
        self.assertEqual(
            [p.nsvca for p in published(self.root)],
            [f"demo:main:{VERSION}:demo01:{ARCH}", f"other:1.0:{VERSION}:other01:{ARCH}"],
        )

    def test_republishing_is_refused(self) -> None:
        result = self.compose_demo()
        target = self.publish(result)
        before = sorted(os.listdir(target))
        # The same N:S:V:C:A with another modules.yaml (tests/test_publish_faults.py: the
        # very same build again is accepted).
        shutil.rmtree(os.path.join(self.tmp, f"compose-demo-{VERSION}"))
        with self.assertRaises(ModuleError) as caught:
            self.publish(self.compose_demo(default="docs"))
        self.assertIn("already published", str(caught.exception))
        self.assertIn("another modules.yaml", str(caught.exception))
        self.assertIn("immutable", str(caught.exception))
        self.assertEqual(sorted(os.listdir(target)), before)
        self.assertEqual([e for e in os.listdir(self.stage()) if e.startswith(".tmp-")], [])

    def test_refuses_a_mismatch_and_reserved_names(self) -> None:
        result = self.compose_demo()
        with self.assertRaises(ModuleError):
            publish_compose(result, self.root, "demo", "main", VERSION + 1, "demo01", ARCH)
        for name, stream in (("repo", "main"), ("..", "main"), ("demo", ".hidden")):
            with self.assertRaises(ModuleError):
                publish_compose(result, self.root, name, stream, VERSION, "demo01", ARCH)
        self.assertFalse(os.path.exists(self.stage("demo")))

    def test_newest_defaults_win(self) -> None:
        # Two versions of demo:main disagree on the default profile: libmodulemd's merger
        # would refuse them; the aggregate takes the newest.
        self.publish(self.compose_demo(VERSION, default="default"))
        self.publish(self.compose_demo(VERSION + 1, default="docs"))
        index = read_modules_metadata(self.stage("repo"))
        defaults = index.get_module("demo").get_defaults()
        self.assertEqual(defaults.get_default_profiles_for_stream("main", None), ["docs"])
        self.assertEqual(len(index.get_module("demo").get_all_streams()), 2)
        # The RPM both versions ship is in the aggregate once.
        rpms = [f for f in os.listdir(self.stage("repo")) if f.endswith(".rpm")]
        self.assertEqual(rpms, ["alpha-1.0-1.noarch.rpm"])

    def test_concurrent_publishes(self) -> None:
        results = [self.compose_demo(), self.compose_other()]
        errors: list[BaseException] = []

        def run(result: ComposeResult) -> None:
            try:
                self.publish(result)
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=run, args=(r,)) for r in results]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(len(self.aggregate_modules()), 2)
        self.assertEqual(len([e for e in os.listdir(self.stage()) if e.startswith(".repo-")]), 1)

    def test_update_aggregate_of_an_empty_area(self) -> None:
        link = update_aggregate(self.root, "prod")
        self.assertTrue(os.path.isfile(os.path.join(link, "repodata", "repomd.xml")))
        self.assertIsNone(read_modules_metadata(link))
        self.assertTrue(os.path.isfile(os.path.join(self.root, "prod", "prod.repo")))

    def test_dnf_installs_the_published_modules(self) -> None:
        """The real client (DESIGN.md §3) lists and installs from the stage aggregate."""
        if shutil.which("dnf") is None:
            raise unittest.SkipTest("needs dnf (Debian package dnf; run make setup)")
        self.publish(self.compose_demo())
        self.publish(self.compose_other())
        installroot = os.path.join(self.tmp, "installroot")
        os.makedirs(installroot)
        before = host_state()

        def dnf(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [
                    "dnf",
                    f"--installroot={installroot}",
                    "--releasever=39",
                    "--setopt=reposdir=/dev/null",
                    # Debian enables these plugins; both write to the host even with
                    # --installroot (local copies RPMs, the other a completion cache).
                    "--disableplugin=local",
                    "--disableplugin=generate_completion_cache",
                    "--setopt=module_platform_id=platform:f39",
                    f"--setopt=cachedir={self.tmp}/cache",
                    f"--repofrompath=stage,file://{self.stage('repo')}",
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

        listed = dnf("module", "list")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertRegex(listed.stdout, r"(?m)^demo\s+main\s")
        self.assertRegex(listed.stdout, r"(?m)^other\s+1\.0\s")
        installed = dnf("module", "install", "demo:main/default")
        self.assertEqual(installed.returncode, 0, installed.stdout + installed.stderr)
        self.assertTrue(os.path.isfile(os.path.join(installroot, "usr/share/alpha/alpha.txt")))
        installed = dnf("module", "install", "other:1.0/default")
        self.assertEqual(installed.returncode, 0, installed.stdout + installed.stderr)
        self.assertTrue(os.path.isfile(os.path.join(installroot, "usr/share/gamma/gamma.txt")))
        # Filtered and buildonly RPMs are nowhere to be found.
        for package in ("alpha-extra", "tool"):
            self.assertNotEqual(dnf("install", package).returncode, 0, package)
        self.assertFalse(os.path.exists(os.path.join(installroot, "usr/share/tool")))
        self.assertEqual(host_state(), before)


class SigningTest(ComposeTestBase):
    """Signing with a throw-away key: the RPMs carry a signature, every repomd.xml of the
    compose and of the aggregate has a detached signature that gpg verifies."""

    def setUp(self) -> None:
        super().setUp()
        self.home = throwaway_gpg_key(self, "bbmod-test@example.org")
        self.signer = Signer("bbmod-test@example.org", self.home)

    def verify(self, repo: str) -> None:
        repomd = os.path.join(repo, "repodata", "repomd.xml")
        proc = subprocess.run(
            ["gpg", "--homedir", self.home, "--verify", repomd + ".asc", repomd],
            capture_output=True,
            text=True,
            check=False,
        )
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("Good signature", proc.stderr)

    def test_signed_compose_and_aggregate(self) -> None:
        module, build = self.demo()
        out = os.path.join(self.tmp, "signed")
        result = compose(
            module,
            build,
            VERSION,
            ARCH,
            self.demo_components(),
            COMMIT,
            out,
            signer=self.signer,
        )
        for repo in (result.repo, result.source_repo):
            self.verify(repo)
            for rpm in (f for f in os.listdir(repo) if f.endswith(".rpm")):
                sig = subprocess.run(
                    [
                        "rpm",
                        "-qp",
                        "--nosignature",
                        "--nodigest",
                        "--qf",
                        "%{RSAHEADER:pgpsig}",
                        os.path.join(repo, rpm),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                self.assertRegex(sig, r"^RSA/SHA\d+, .*Key ID [0-9a-f]{16}$", rpm)
        root = os.path.join(self.tmp, "publish")
        publish_compose(result, root, "demo", "main", VERSION, "demo01", ARCH, signer=self.signer)
        self.verify(os.path.join(root, "stage", "repo"))
        # A changed repomd.xml no longer verifies: the signature covers it.
        repomd = os.path.join(root, "stage", "repo", "repodata", "repomd.xml")
        with open(repomd, "a", encoding="utf-8") as f:
            f.write("<!-- tampered -->\n")
        proc = subprocess.run(
            ["gpg", "--homedir", self.home, "--verify", repomd + ".asc", repomd],
            capture_output=True,
            check=False,
        )
        self.assertNotEqual(proc.returncode, 0)

    def test_unsigned_by_default(self) -> None:
        result = self.compose_demo()
        self.assertFalse(os.path.exists(os.path.join(result.repo, "repodata", "repomd.xml.asc")))
