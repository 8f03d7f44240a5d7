"""The plug-in's own tests: real RPMs built with rpmbuild, checked as the pipeline does."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from twisted.trial import unittest

from buildbot_modules.checks.base import FAILED, PASSED, Check, CheckContext

from . import LicenseFileCheck

SPEC = """\
Name: {name}
Version: 1.0
Release: 1
Summary: License check test
License: MIT
BuildArch: noarch
%description
Test.
%install
mkdir -p %{{buildroot}}/usr/share/{name} %{{buildroot}}/usr/share/licenses/{name}
echo data > %{{buildroot}}/usr/share/{name}/data
echo MIT > %{{buildroot}}/usr/share/licenses/{name}/LICENSE
%files
/usr/share/{name}/data
{license}
"""


class LicenseFileCheckTest(unittest.TestCase):
    def setUp(self) -> None:
        if shutil.which("rpmbuild") is None:
            raise unittest.SkipTest("needs rpmbuild (run make setup)")
        self.root = tempfile.mkdtemp(prefix="bbmod-license-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.compose = os.path.join(self.root, "compose")
        os.makedirs(self.compose)

    def rpm(self, name: str, license_line: str) -> None:
        spec = os.path.join(self.root, f"{name}.spec")
        with open(spec, "w", encoding="utf-8") as f:
            f.write(SPEC.format(name=name, license=license_line))
        subprocess.run(
            [
                "rpmbuild",
                "-bb",
                "--define",
                f"_topdir {self.root}/top",
                "--define",
                f"_rpmdir {self.compose}",
                "--define",
                "_build_name_fmt %%{NAME}.rpm",
                spec,
            ],
            check=True,
            capture_output=True,
        )

    def context(self, **config: object) -> CheckContext:
        return CheckContext(
            name="m",
            stream="s",
            version=1,
            context="c",
            arch="noarch",
            compose=self.compose,
            modulemd="",
            module=None,
            workdir=self.root,
            config=config,
        )

    def test_it_is_a_check(self) -> None:
        self.assertIsInstance(LicenseFileCheck(), Check)
        self.assertEqual(LicenseFileCheck.name, "qe.license-file")

    def test_packages_with_a_license_file_pass(self) -> None:
        self.rpm("good", "%license /usr/share/licenses/good/LICENSE")
        result = LicenseFileCheck().run(self.context())
        self.assertEqual(result.outcome, PASSED, result.note)
        self.assertIn("/usr/share/licenses/good/LICENSE", result.log)

    def test_a_package_without_one_fails_by_name(self) -> None:
        self.rpm("good", "%license /usr/share/licenses/good/LICENSE")
        self.rpm("bad", "/usr/share/licenses/bad/LICENSE")
        result = LicenseFileCheck().run(self.context())
        self.assertEqual(result.outcome, FAILED)
        self.assertIn("bad", result.note)
        self.assertNotIn("good", result.note)
        self.assertEqual(
            {d.item: d.outcome for d in result.details}, {"good": PASSED, "bad": FAILED}
        )

    def test_exempt_packages_are_not_held_to_it(self) -> None:
        self.rpm("bad-doc", "/usr/share/licenses/bad-doc/LICENSE")
        result = LicenseFileCheck().run(self.context(exempt=["*-doc"]))
        self.assertEqual(result.outcome, PASSED, result.note)
