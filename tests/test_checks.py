"""The built-in module checks against real composes: tiny RPMs built with rpmbuild,
composed with createrepo_c and modifyrepo_c, then judged by real rpmlint, dnf
repoclosure and dnf module install; and the loading of check plug-ins by entry point."""

from __future__ import annotations

import atexit
import datetime
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any
from unittest import mock

from twisted.trial import unittest

from buildbot_modules.checks import (
    BUILTIN_CHECKS,
    FAILED,
    INFO,
    NEEDS_INSPECTION,
    PASSED,
    Check,
    CheckContext,
    CheckLoadError,
    CheckResult,
    PreviousBuild,
    load_checks,
)
from buildbot_modules.checks.api_stability import ApiStabilityCheck
from buildbot_modules.checks.eol import EolCheck
from buildbot_modules.checks.installability import InstallabilityCheck
from buildbot_modules.checks.modulemd import ModulemdCheck
from buildbot_modules.checks.repoclosure import RepoclosureCheck, parse_repoclosure
from buildbot_modules.checks.rpmlint import RpmlintCheck
from buildbot_modules.compose import ComponentResult, ComposeResult, compose, rpm_header
from buildbot_modules.core.deps import expand
from buildbot_modules.core.documents import modulemd
from buildbot_modules.core.module import load_modules
from buildbot_modules.platform import PlatformDefinition, build_platform_repo

from .helpers import tempdir, write
from .test_compose import host_state, needs

ARCH = os.uname().machine
VERSION = 3920241125120000
COMMIT = "c0ffee" * 6 + "0000"

SPEC = """\
Name:           {name}
Version:        {version}
Release:        1
Summary:        Payload for the check suite
License:        MIT
{tags}BuildArch:      noarch

%description
Files of {name} for the checks of buildbot-modules.

%install
mkdir -p %{{buildroot}}/usr/share/{name} %{{buildroot}}/usr/share/doc/{name}
echo readme > %{{buildroot}}/usr/share/doc/{name}/README
{install}
%files
%doc /usr/share/doc/{name}/README
/usr/share/{name}

%changelog
* Mon Nov 25 2024 Tester <tester@example.org> - {version}-1
- test
"""

URL = "URL:            https://example.org/{name}\n"

# Two rpmlint errors (a file in /tmp, no changelog) and warnings.
LINTBAD_SPEC = """\
Name:           lintbad
Version:        1.0
Release:        1
Summary:        A package rpmlint finds errors in.
License:        MIT
BuildArch:      noarch

%description
x

%install
mkdir -p %{buildroot}/tmp
echo x > %{buildroot}/tmp/lintbad.txt

%files
/tmp/lintbad.txt
"""

# name-version → the spec's extra tags and install lines. alpha is the module's API RPM:
# 1.1 only changes versions, 1.2 loses a virtual provide, a soname and a file.
ALPHA_API = "Provides:       alpha-api = %{version}\nProvides:       libalpha.so.1()(64bit)\n"
ALPHA_REQUIRES = "Requires:       gamma-cap\nRequires:       bbmod-test-platform-cap\n"
ALPHA_FILES = "echo alpha > %{buildroot}/usr/share/alpha/alpha.txt\n"
EXTRA_FILE = "echo extra > %{buildroot}/usr/share/alpha/extra.txt\n"
PACKAGES: dict[str, tuple[str, str]] = {
    "alpha-1.0": (URL + ALPHA_API + ALPHA_REQUIRES, ALPHA_FILES + EXTRA_FILE),
    "alpha-1.1": (URL + ALPHA_API + ALPHA_REQUIRES, ALPHA_FILES + EXTRA_FILE),
    "alpha-1.2": (
        URL + "Provides:       libalpha.so.2()(64bit)\n" + ALPHA_REQUIRES,
        ALPHA_FILES,
    ),
    # beta: no URL (an rpmlint warning) and a requirement nothing provides.
    "beta-1.0": ("Requires:       missing-capability-xyz\n", ""),
    # gamma: the content of the required module base:1.
    "gamma-1.0": (URL + "Provides:       gamma-cap\n", ""),
}

PLATFORM_CAPABILITY = "bbmod-test-platform-cap"


class Fixtures:
    """RPMs, the platform repository and composes, each made once per test run in one
    temporary folder (removed at exit); rpmbuild never touches ~/rpmbuild or the rpm
    database (--nodeps, a private _topdir)."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="bbmod-checks-")
        atexit.register(shutil.rmtree, self.root, True)
        self.rpms: dict[str, list[str]] = {}
        self.composes: dict[str, tuple[ComposeResult, Any]] = {}
        self._platform: str | None = None
        self._build_rpms()

    def _build_rpms(self) -> None:
        top = os.path.join(self.root, "rpmbuild")
        tmp = os.path.join(top, "tmp")
        os.makedirs(tmp)
        specs = {
            nv: SPEC.format(
                name=nv.rsplit("-", 1)[0],
                version=nv.rsplit("-", 1)[1],
                tags=tags.replace("{name}", nv.rsplit("-", 1)[0]),
                install=install,
            )
            for nv, (tags, install) in PACKAGES.items()
        }
        specs["lintbad-1.0"] = LINTBAD_SPEC
        for nv, text in specs.items():
            spec = write(top, f"specs/{nv}.spec", text)
            for mode in ("-bb", "-bs"):
                subprocess.run(
                    [
                        *("rpmbuild", mode, "--nodeps", "--quiet"),
                        *("--define", f"_topdir {top}", "--define", f"_tmppath {tmp}", spec),
                    ],
                    check=True,
                    capture_output=True,
                    env={**os.environ, "TMPDIR": tmp, "LC_ALL": "C"},
                    timeout=60,
                )
        for folder, _dirs, files in os.walk(top):
            for f in files:
                if f.endswith(".rpm"):
                    info = rpm_header(os.path.join(folder, f))
                    key = f"{info.name}-{info.version}"
                    self.rpms.setdefault(key, []).append(os.path.join(folder, f))

    @property
    def platform(self) -> str:
        """A platform repository whose stub provides the one capability alpha needs."""
        if self._platform is None:
            defn = PlatformDefinition(
                stream="f39",
                arch=ARCH,
                host="the test suite",
                generated="2024-11-25T00:00:00Z",
                provides=[PLATFORM_CAPABILITY],
            )
            self._platform = build_platform_repo(defn, os.path.join(self.root, "platform"))
        return self._platform

    def compose(
        self,
        key: str,
        name: str,
        stream: str,
        packages: list[str],
        version: int = VERSION,
        **document: Any,
    ) -> tuple[ComposeResult, Any]:
        """The compose ``key``: module ``name:stream`` of the components ``packages``
        (name-version keys of PACKAGES), the document from ``module_yaml(**document)``."""
        if key not in self.composes:
            components = [p.rsplit("-", 1)[0] for p in packages]
            text = module_yaml(components=components, **document)
            path = write(self.root, f"modules/{key}/{name}.yaml", text)
            module = load_modules(path, name, stream)[0]
            build = expand(module)[0]
            results = [
                ComponentResult(c, self.rpms[p], "a" * 40)
                for c, p in zip(components, packages, strict=True)
            ]
            out = os.path.join(self.root, "composes", key)
            result = compose(module, build, version, ARCH, results, COMMIT, out)
            self.composes[key] = (result, module)
        return self.composes[key]

    # The composes the tests use.

    def base(self) -> ComposeResult:
        """base:1, the module demo requires at run time: gamma provides gamma-cap."""
        return self.compose(
            "base", "base", "1", ["gamma-1.0"], api=["gamma"], profiles={"default": ["gamma"]}
        )[0]

    def demo(self, key: str = "good") -> tuple[ComposeResult, Any]:
        """demo:main builds: ``good`` (alpha 1.0), ``next`` (alpha 1.1, same API),
        ``lost`` (alpha 1.2, lost part of its API), ``broken`` (with beta, which needs
        what nothing provides, in its own profile), ``lint`` (beta in the API, lintbad)
        and ``noalpha`` (only beta)."""
        requires = {"base": ["1"]}
        default = {"default": ["alpha"]}
        variants: dict[str, dict[str, Any]] = {
            "good": {"packages": ["alpha-1.0"], "api": ["alpha"], "profiles": default},
            "next": {"packages": ["alpha-1.1"], "api": ["alpha"], "profiles": default},
            "lost": {"packages": ["alpha-1.2"], "api": ["alpha"], "profiles": default},
            "broken": {
                "packages": ["alpha-1.0", "beta-1.0"],
                "api": ["alpha"],
                "profiles": {"default": ["alpha"], "beta": ["beta"]},
            },
            "lint": {
                "packages": ["alpha-1.0", "beta-1.0", "lintbad-1.0"],
                "api": ["alpha", "beta"],
                "profiles": default,
            },
            "noalpha": {"packages": ["beta-1.0"], "api": ["beta"], "profiles": {}},
        }
        versions = {"next": VERSION + 1, "lost": VERSION + 2}
        v = variants[key]
        return self.compose(
            key,
            "demo",
            "main",
            v["packages"],
            version=versions.get(key, VERSION),
            api=v["api"],
            profiles=v["profiles"],
            requires=requires,
        )


def module_yaml(
    components: list[str],
    api: list[str],
    profiles: dict[str, list[str]],
    summary: str = "Demo module",
    description: str = "A module for the checks.",
    rationale: str = "The content of the module.",
    filters: tuple[str, ...] = (),
    requires: dict[str, list[str]] | None = None,
) -> str:
    lines = [
        "document: modulemd-packager",
        "version: 3",
        "data:",
        f"  summary: {summary}",
        f"  description: {description}",
        "  license: [MIT]",
        "  configurations:",
        "    - context: ctx00001",
        "      platform: f39",
    ]
    if requires:
        lines.append("      requires:")
        lines += [f"        {m}: [{', '.join(s)}]" for m, s in requires.items()]
    if profiles:
        lines.append("  profiles:")
        for profile, rpms in profiles.items():
            lines += [f"    {profile}:", f"      rpms: [{', '.join(rpms)}]"]
    lines += ["  api:", f"    rpms: [{', '.join(api)}]"]
    if filters:
        lines += ["  filter:", f"    rpms: [{', '.join(filters)}]"]
    lines += ["  components:", "    rpms:"]
    for c in components:
        lines += [f"      {c}:", f"        rationale: {rationale}", "        ref: main"]
    return "\n".join(lines) + "\n"


_FIXTURES: list[Fixtures] = []


def fixtures() -> Fixtures:
    if not _FIXTURES:
        _FIXTURES.append(Fixtures())
    return _FIXTURES[0]


def replace(text: str, old: str, new: str) -> str:
    assert old in text, (old, text)
    return text.replace(old, new)


class ChecksTestBase(unittest.TestCase):
    tools: tuple[str, ...] = ("rpmbuild", "rpm", "createrepo_c", "modifyrepo_c")

    def setUp(self) -> None:
        needs(*self.tools)
        self.fx = fixtures()

    def context(self, result: ComposeResult, module: Any = None, **kw: Any) -> CheckContext:
        name, stream, version, context, arch = result.nsvca.split(":")
        return CheckContext(
            name=name,
            stream=stream,
            version=int(version),
            context=context,
            arch=arch,
            compose=result.repo,
            modulemd=kw.pop("modulemd", result.modulemd),
            module=module,
            workdir=tempdir(self),
            **kw,
        )

    def run_check(self, check: Check, ctx: CheckContext) -> CheckResult:
        self.assertIsInstance(check, Check)
        result = check.run(ctx)
        self.assertNotIn("\n", result.note)
        self.assertTrue(result.log.strip())
        return result

    def items(self, result: CheckResult) -> dict[str, tuple[str, str]]:
        return {i.item: (i.outcome, i.note) for i in result.details}


# --------------------------------------------------------------------------- modulemd


class ModulemdCheckTest(ChecksTestBase):
    def test_good_module_passes_every_rule(self) -> None:
        result, module = self.fx.demo("good")
        out = self.run_check(ModulemdCheck(), self.context(result, module))
        self.assertEqual(out.outcome, PASSED, out.note)
        self.assertEqual(
            sorted(self.items(out)),
            sorted(
                [
                    "valid",
                    "summary",
                    "description",
                    "rationale",
                    "api",
                    "profiles",
                    "components",
                    "artifacts",
                    "dependencies",
                ]
            ),
        )
        self.assertEqual({o for o, _ in self.items(out).values()}, {PASSED})
        self.assertIn("required at run time only: base:[1]", self.items(out)["dependencies"][1])

    def test_style_api_profiles_and_components_fail(self) -> None:
        # lintbad is a component whose only RPM is filtered: it ships nothing.
        result, module = self.fx.compose(
            "sloppy",
            "sloppy",
            "main",
            ["alpha-1.0", "lintbad-1.0"],
            api=["alpha", "ghost"],
            profiles={"default": ["alpha", "phantom"]},
            summary="A sloppy module.",
            description="No final period",
            rationale="Because",
            filters=("lintbad",),
        )
        out = self.run_check(ModulemdCheck(), self.context(result, module))
        self.assertEqual(out.outcome, FAILED)
        items = self.items(out)
        self.assertEqual(items["valid"][0], PASSED)
        self.assertEqual(items["artifacts"][0], PASSED)
        self.assertEqual(items["dependencies"][0], PASSED)
        self.assertEqual(items["summary"], (FAILED, "ends with a period: 'A sloppy module.'"))
        self.assertEqual(items["description"][0], FAILED)
        self.assertIn("No final period", items["description"][1])
        self.assertEqual(
            items["rationale"], (FAILED, "no final period in the rationale of alpha, lintbad")
        )
        self.assertEqual(items["api"], (FAILED, "api.rpms not in the compose: ghost"))
        self.assertEqual(
            items["profiles"], (FAILED, "profile default: not in the compose: phantom")
        )
        self.assertEqual(items["components"][0], FAILED)
        self.assertIn("components that ship no RPM: lintbad", items["components"][1])
        self.assertTrue(out.note.startswith("6 of 9 rules failed (summary, description"))

    def test_artifacts_and_insane_dependencies_fail(self) -> None:
        result, module = self.fx.demo("good")
        text = replace(result.modulemd, "    - alpha-0:1.0-1.noarch\n", "")
        text = replace(
            text,
            "    requires:\n      base: [1]\n      platform: [f39]",
            "    requires:\n      base: [1]\n      platform: [f40]",
        )
        out = self.run_check(ModulemdCheck(), self.context(result, module, modulemd=text))
        self.assertEqual(out.outcome, FAILED)
        items = self.items(out)
        self.assertEqual(
            items["artifacts"],
            (
                FAILED,
                "RPMs artifacts.rpms does not list (non-modular to dnf): alpha-0:1.0-1.noarch",
            ),
        )
        self.assertEqual(
            items["dependencies"],
            (FAILED, "built against platform:f39 but requires platform: [f40]"),
        )
        # Requiring every stream of a module built against one is no better.
        text = replace(
            result.modulemd, "      platform: [f39]\n  profiles", "      platform: []\n  profiles"
        )
        out = self.run_check(ModulemdCheck(), self.context(result, module, modulemd=text))
        self.assertEqual(
            self.items(out)["dependencies"],
            (FAILED, "built against platform:f39 but requires platform: [every stream]"),
        )

    def test_unreadable_document_fails_validity(self) -> None:
        result, module = self.fx.demo("good")
        broken = replace(result.modulemd, "  summary: Demo module\n", "  summary: [not, text]\n")
        out = self.run_check(ModulemdCheck(), self.context(result, module, modulemd=broken))
        self.assertEqual(out.outcome, FAILED)
        self.assertEqual([i.item for i in out.details], ["valid"])
        self.assertIn("libmodulemd", out.note)
        # A document for another build is not this build's.
        other = replace(result.modulemd, "  context: ctx00001", "  context: ctx00002")
        out = self.run_check(ModulemdCheck(), self.context(result, module, modulemd=other))
        self.assertEqual(self.items(out)["valid"][0], FAILED)
        self.assertIn("context ctx00002", self.items(out)["valid"][1])


# --------------------------------------------------------------------------- rpmlint


class RpmlintCheckTest(ChecksTestBase):
    tools = (*ChecksTestBase.tools, "rpmlint")

    def test_api_rpm_clean_and_other_rpm_warning_pass(self) -> None:
        result, module = self.fx.demo("broken")
        out = self.run_check(RpmlintCheck(), self.context(result, module))
        self.assertEqual(out.outcome, PASSED, out.note)
        items = self.items(out)
        self.assertEqual(items["alpha-0:1.0-1.noarch"], (PASSED, "clean (API RPM)"))
        self.assertEqual(items["beta-0:1.0-1.noarch"][0], PASSED)
        self.assertIn("warnings (allowed: not an API RPM)", items["beta-0:1.0-1.noarch"][1])
        self.assertIn("filtered: alpha.noarch: E: no-signature", out.log)

    def test_api_warning_and_any_error_fail(self) -> None:
        result, module = self.fx.demo("lint")
        out = self.run_check(RpmlintCheck(), self.context(result, module))
        self.assertEqual(out.outcome, FAILED)
        items = self.items(out)
        self.assertEqual(items["alpha-0:1.0-1.noarch"][0], PASSED)
        beta = items["beta-0:1.0-1.noarch"]
        self.assertEqual(beta[0], FAILED)
        self.assertIn("an API RPM passes fully", beta[1])
        self.assertIn("first: W: no-url-tag", beta[1])
        lintbad = items["lintbad-0:1.0-1.noarch"]
        self.assertEqual(lintbad[0], FAILED)
        self.assertIn("(errors fail); first: E: ", lintbad[1])
        self.assertTrue(
            out.note.startswith("2 of 3 RPMs failed: beta-0:1.0-1.noarch (W: no-url-tag)")
        )
        self.assertIn("lintbad-0:1.0-1.noarch (E: ", out.note)

    def test_filters_and_config(self) -> None:
        result, module = self.fx.demo("lint")
        # Our filters: beta's warning and every finding about lintbad.
        ctx = self.context(
            result, module, config={"filters": [r"^beta\.noarch: W: no-url-tag", r"^lintbad\."]}
        )
        out = self.run_check(RpmlintCheck(), ctx)
        self.assertEqual(out.outcome, PASSED, out.note)
        # rpmlint's own configuration (--config): it filters beta's warning itself.
        config = write(tempdir(self), "rpmlint.toml", "Filters = [' no-url-tag']\n")
        ctx = self.context(result, module, config={"config": config, "filters": [r"^lintbad\."]})
        out = self.run_check(RpmlintCheck(), ctx)
        self.assertEqual(out.outcome, PASSED, out.note)
        self.assertIn(f"--config {config}", out.log)
        self.assertNotIn("no-url-tag", out.log.split("rpmlint session starts")[-1])
        # Without the default filters the unsigned API RPM fails.
        ctx = self.context(result, module, config={"default_filters": False})
        out = self.run_check(RpmlintCheck(), ctx)
        self.assertEqual(self.items(out)["alpha-0:1.0-1.noarch"][0], FAILED)

    def test_bad_settings_need_inspection(self) -> None:
        result, module = self.fx.demo("good")
        for config in (
            {"filters": ["("]},
            {"filters": "no-url-tag"},
            {"config": "/nonexistent/rpmlint.toml"},
            {"timeout": 0},
        ):
            out = self.run_check(RpmlintCheck(), self.context(result, module, config=config))
            self.assertEqual(out.outcome, NEEDS_INSPECTION, config)

    def test_missing_tool_needs_inspection(self) -> None:
        result, module = self.fx.demo("good")
        with mock.patch.dict(os.environ, {"PATH": tempdir(self)}):
            out = self.run_check(RpmlintCheck(), self.context(result, module))
        self.assertEqual(out.outcome, NEEDS_INSPECTION)
        self.assertRegex(out.note, r"^(rpm|rpmlint) is not installed \(Debian package")


# --------------------------------------------------------------------------- dnf


class DnfChecksTestBase(ChecksTestBase):
    tools = (*ChecksTestBase.tools, "dnf")

    def setUp(self) -> None:
        super().setUp()
        self.host_before = host_state()
        self.addCleanup(lambda: self.assertEqual(host_state(), self.host_before))

    def full_context(self, key: str) -> CheckContext:
        result, module = self.fx.demo(key)
        return self.context(
            result,
            module,
            required_repos=[self.fx.base().repo],
            platform_repo=self.fx.platform,
        )


class RepoclosureCheckTest(DnfChecksTestBase):
    def test_resolves_with_required_modules_and_platform(self) -> None:
        out = self.run_check(RepoclosureCheck(), self.full_context("good"))
        self.assertEqual(out.outcome, PASSED, out.note + out.log)
        self.assertEqual(out.note, "every dependency of the 1 RPMs resolves")
        self.assertIn("module.module_hotfixes=true", out.log)
        self.assertIn("required-1.module_hotfixes=true", out.log)
        self.assertNotIn("platform.module_hotfixes", out.log)

    def test_a_missing_capability_fails(self) -> None:
        out = self.run_check(RepoclosureCheck(), self.full_context("broken"))
        self.assertEqual(out.outcome, FAILED, out.log)
        self.assertEqual(
            self.items(out), {"beta-1.0-1.noarch": (FAILED, "unresolved: missing-capability-xyz")}
        )
        self.assertIn("beta-1.0-1.noarch needs missing-capability-xyz", out.note)

    def test_without_required_repos_and_platform_fails(self) -> None:
        result, module = self.fx.demo("good")
        out = self.run_check(RepoclosureCheck(), self.context(result, module))
        self.assertEqual(out.outcome, FAILED, out.log)
        self.assertEqual(
            self.items(out),
            {
                "alpha-1.0-1.noarch": (
                    FAILED,
                    f"unresolved: gamma-cap, {PLATFORM_CAPABILITY}",
                )
            },
        )

    def test_an_unreadable_repository_needs_inspection(self) -> None:
        result, module = self.fx.demo("good")
        missing = os.path.join(tempdir(self), "no-such-repo")
        checks: list[Check] = [RepoclosureCheck()]
        if os.geteuid() == 0:
            checks.append(InstallabilityCheck())
        for check in checks:
            ctx = self.context(result, module, required_repos=[missing])
            out = self.run_check(check, ctx)
            self.assertEqual(out.outcome, NEEDS_INSPECTION, check.name)
            self.assertIn("dnf cannot read a repository: Failed to download metadata", out.note)

    def test_parse(self) -> None:
        text = (
            "package: a-1-1.x86_64 from module\n  unresolved deps (2):\n    libx.so.1()(64bit)\n"
            "    b >= 2\npackage: c-1-1.noarch from module\n  unresolved deps:\n    d\n"
            "Error: Repoclosure ended with unresolved dependencies (3) across 2 packages.\n"
        )
        self.assertEqual(
            parse_repoclosure(text),
            {"a-1-1.x86_64": ["libx.so.1()(64bit)", "b >= 2"], "c-1-1.noarch": ["d"]},
        )


class InstallabilityCheckTest(DnfChecksTestBase):
    def setUp(self) -> None:
        super().setUp()
        if os.geteuid() != 0:
            raise unittest.SkipTest("dnf installs into an installroot only as root")

    def test_every_profile_installs(self) -> None:
        ctx = self.full_context("good")
        out = self.run_check(InstallabilityCheck(), ctx)
        self.assertEqual(out.outcome, PASSED, out.note + out.log)
        self.assertEqual(self.items(out), {"default": (PASSED, "demo:main/default installs")})
        root = os.path.join(ctx.workdir, "install-0")
        # alpha, and gamma from the required module base:1 that dnf enabled for it.
        self.assertTrue(os.path.isfile(os.path.join(root, "usr/share/alpha/alpha.txt")))
        self.assertTrue(os.path.isfile(os.path.join(root, "usr/share/doc/gamma/README")))
        self.assertNotIn("module_hotfixes", out.log)

    def test_a_profile_that_cannot_install_fails(self) -> None:
        out = self.run_check(InstallabilityCheck(), self.full_context("broken"))
        self.assertEqual(out.outcome, FAILED, out.log)
        items = self.items(out)
        self.assertEqual(items["default"][0], PASSED)
        self.assertEqual(items["beta"][0], FAILED)
        self.assertEqual(
            items["beta"][1],
            "demo:main/beta: nothing provides missing-capability-xyz needed by beta-1.0-1.noarch",
        )
        self.assertIn("1 of 2 profiles do not install: demo:main/beta:", out.note)

    def test_no_profiles(self) -> None:
        out = self.run_check(InstallabilityCheck(), self.full_context("noalpha"))
        self.assertEqual(out.outcome, INFO)
        self.assertEqual(out.note, "the module has no profile to install")


# --------------------------------------------------------------------------- api-stability


class ApiStabilityCheckTest(ChecksTestBase):
    def previous(self) -> PreviousBuild:
        result, _module = self.fx.demo("good")
        return PreviousBuild(result.nsvca.rsplit(":", 1)[0], result.repo, result.modulemd)

    def test_first_build(self) -> None:
        result, module = self.fx.demo("good")
        out = self.run_check(ApiStabilityCheck(), self.context(result, module))
        self.assertEqual(
            (out.outcome, out.note), (INFO, "first build of this stream: nothing to compare")
        )

    def test_new_versions_of_the_same_api_pass(self) -> None:
        result, module = self.fx.demo("next")
        ctx = self.context(result, module, previous=self.previous())
        out = self.run_check(ApiStabilityCheck(), ctx)
        self.assertEqual(out.outcome, PASSED, out.note + out.log)
        self.assertEqual(self.items(out)["alpha"][0], PASSED)
        self.assertIn("keeps its 3 provides and 4 files", self.items(out)["alpha"][1])

    def test_lost_provides_and_files_fail(self) -> None:
        result, module = self.fx.demo("lost")
        ctx = self.context(result, module, previous=self.previous())
        out = self.run_check(ApiStabilityCheck(), ctx)
        self.assertEqual(out.outcome, FAILED, out.log)
        self.assertEqual(
            self.items(out)["alpha"],
            (
                FAILED,
                "lost provides alpha-api, libalpha.so.1()(64bit);"
                " lost files /usr/share/alpha/extra.txt",
            ),
        )
        self.assertIn("alpha lost provides alpha-api, libalpha.so.1()(64bit)", out.note)

    def test_a_vanished_api_rpm_fails(self) -> None:
        result, module = self.fx.demo("noalpha")
        ctx = self.context(result, module, previous=self.previous())
        out = self.run_check(ApiStabilityCheck(), ctx)
        self.assertEqual(out.outcome, FAILED)
        self.assertEqual(self.items(out), {"alpha": (FAILED, "is no longer in the compose")})


# --------------------------------------------------------------------------- eol


def with_servicelevels(text: str, levels: dict[str, datetime.date]) -> str:
    """``text`` (a composed modules.yaml) with these servicelevels added to its stream."""
    Modulemd = modulemd()
    index = Modulemd.ModuleIndex.new()
    index.update_from_string(text, True)
    [name] = index.get_module_names()
    [stream] = index.get_module(name).get_all_streams()
    for level, eol in levels.items():
        servicelevel = Modulemd.ServiceLevel.new(level)
        servicelevel.set_eol_ymd(eol.year, eol.month, eol.day)
        stream.add_servicelevel(servicelevel)
    out: str = index.dump_to_string()
    return out


class EolCheckTest(ChecksTestBase):
    today = datetime.date(2025, 6, 1)

    def eol(self, **kw: Any) -> CheckResult:
        result, module = self.fx.demo("good")
        check = EolCheck(today=lambda: self.today)
        return self.run_check(check, self.context(result, module, **kw))

    def test_no_end_of_life(self) -> None:
        out = self.eol()
        self.assertEqual((out.outcome, out.note), (PASSED, "no end of life set"))

    def test_registry_end_of_life(self) -> None:
        out = self.eol(eol=datetime.date(2025, 5, 31))
        self.assertEqual(out.outcome, FAILED)
        self.assertEqual(out.note, "demo:main reached its end of life on 2025-05-31 (registry)")
        self.assertEqual(self.eol(eol=self.today).outcome, FAILED)
        soon = self.eol(eol=datetime.date(2025, 6, 11))
        self.assertEqual(soon.outcome, PASSED)
        self.assertTrue(
            soon.note.startswith("warning: demo:main reaches its end of life in 10 days")
        )
        later = self.eol(eol=datetime.date(2026, 1, 1))
        self.assertEqual((later.outcome, later.note), (PASSED, "end of life 2026-01-01 (registry)"))
        self.assertEqual(
            self.eol(eol=datetime.date(2025, 6, 11), config={"warn_days": 5}).note,
            "end of life 2025-06-11 (registry)",
        )

    def test_servicelevels(self) -> None:
        result, _module = self.fx.demo("good")
        past, future = datetime.date(2025, 1, 1), datetime.date(2030, 1, 1)
        # rawhide's EOL decides when there is one.
        text = with_servicelevels(result.modulemd, {"rawhide": past, "security_fixes": future})
        out = self.eol(modulemd=text)
        self.assertEqual(out.outcome, FAILED)
        self.assertIn("on 2025-01-01 (modulemd servicelevel rawhide)", out.note)
        # Else the earliest.
        text = with_servicelevels(result.modulemd, {"bug_fixes": past, "security_fixes": future})
        out = self.eol(modulemd=text)
        self.assertEqual(out.outcome, FAILED)
        self.assertIn("servicelevel bug_fixes (the earliest)", out.note)
        # The registry's value wins over the document's.
        out = self.eol(modulemd=text, eol=future)
        self.assertEqual((out.outcome, out.note), (PASSED, "end of life 2030-01-01 (registry)"))


# --------------------------------------------------------------------------- loading

PLUGIN = """\
from buildbot_modules.checks.base import CheckResult, PASSED


class GoodCheck:
    name = "qe.good"
    summary = "always passes"

    def run(self, ctx):
        return CheckResult(PASSED, "fine")


class Other(GoodCheck):
    name = "qe.instance"


INSTANCE = Other()


class NotACheck:
    name = "qe.notacheck"


class Failing:
    def __init__(self):
        raise RuntimeError("no database")
"""

ENTRY_POINTS = """\
[buildbot_modules.checks]
qe.good = {module}:GoodCheck
qe.instance = {module}:INSTANCE
qe.notacheck = {module}:NotACheck
qe.failing = {module}:Failing
qe.missing = {module}_nowhere:Check
qe.misnamed = {module}:GoodCheck
modules.rpmlint = {module}:GoodCheck
"""


class LoadChecksTest(unittest.TestCase):
    def setUp(self) -> None:
        # A distribution on sys.path, as pip would install it.
        folder = tempdir(self)
        self.module = f"bbmod_test_plugin_{os.getpid()}_{id(self)}"
        write(folder, f"{self.module}.py", PLUGIN)
        info = os.path.join(folder, "bbmod_test_checks-1.2.dist-info")
        write(info, "METADATA", "Metadata-Version: 2.1\nName: bbmod-test-checks\nVersion: 1.2\n")
        write(info, "entry_points.txt", ENTRY_POINTS.format(module=self.module))
        sys.path.insert(0, folder)
        importlib.invalidate_caches()
        self.addCleanup(sys.path.remove, folder)
        self.addCleanup(sys.modules.pop, self.module, None)

    def test_builtin_checks(self) -> None:
        self.assertEqual(
            sorted(BUILTIN_CHECKS),
            [
                "modules.api-stability",
                "modules.eol",
                "modules.installability",
                "modules.modulemd",
                "modules.repoclosure",
                "modules.rpmlint",
            ],
        )
        for name, cls in BUILTIN_CHECKS.items():
            check = cls()
            self.assertIsInstance(check, Check)
            self.assertEqual(check.name, name)
            self.assertTrue(check.summary)
        checks = load_checks(["modules.eol", "modules.modulemd"])
        self.assertEqual(list(checks), ["modules.eol", "modules.modulemd"])
        self.assertIsInstance(checks["modules.eol"], EolCheck)

    def test_plugins(self) -> None:
        checks = load_checks(["qe.good", "qe.instance", "modules.eol"])
        self.assertEqual(list(checks), ["qe.good", "qe.instance", "modules.eol"])
        ctx = CheckContext("m", "s", 1, "c", ARCH, "/nonexistent", "", None, tempdir(self))
        self.assertEqual(checks["qe.good"].run(ctx).outcome, PASSED)
        self.assertEqual(type(checks["qe.instance"]).__name__, "Other")

    def test_broken_plugins_are_named(self) -> None:
        cases = {
            "qe.missing": ("cannot be loaded: ModuleNotFoundError", f"{self.module}_nowhere"),
            "qe.notacheck": ("is not a check: NotACheck has no summary, run", "NotACheck"),
            "qe.failing": ("Failing() failed: RuntimeError: no database", "Failing"),
            "qe.misnamed": ("is the check 'qe.good'", "GoodCheck"),
        }
        for name, (what, value) in cases.items():
            with self.assertRaises(CheckLoadError) as caught:
                load_checks([name])
            message = str(caught.exception)
            self.assertIn(f"check plug-in {name!r}", message)
            self.assertIn("of bbmod-test-checks 1.2", message)
            self.assertIn(value, message)
            self.assertIn(what, message)
        # A plug-in may not take a built-in check's name; every check (None) meets them all.
        for names in (["modules.rpmlint"], None):
            with self.assertRaises(CheckLoadError):
                load_checks(names)

    def test_unknown_name(self) -> None:
        with self.assertRaises(CheckLoadError) as caught:
            load_checks(["modules.nonsense"])
        self.assertIn("no check called 'modules.nonsense'", str(caught.exception))
        self.assertIn("modules.rpmlint", str(caught.exception))
