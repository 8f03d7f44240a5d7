"""Regression tests for what `make fuzz` (fuzz/run.py, docs/fuzzing.md) found: each input
crashed the loader or the gating parser with an exception other than ModuleError, or
crashed the process in libmodulemd. Now each is a clear problem with its line."""

from __future__ import annotations

import contextlib

from twisted.trial import unittest

from buildbot_modules.core.documents import load_text
from buildbot_modules.core.lint import lint_text
from buildbot_modules.core.module import modules_of
from buildbot_modules.core.problems import ModuleError, Problem
from buildbot_modules.gating import PolicyError, parse_policies

STREAM_V2 = (
    "document: modulemd\nversion: 2\ndata:\n  name: a\n  stream: b\n  summary: s\n"
    "  description: d\n  license: {module: [MIT]}\n"
)
STREAM_V1 = STREAM_V2.replace("version: 2\n", "version: 1\n", 1).replace(
    "  stream: b\n", "  stream: b\n  version: 1\n"
)
PACKAGER_V3 = (
    "document: modulemd-packager\nversion: 3\ndata:\n  name: a\n  stream: b\n  summary: s\n"
    "  description: d\n  license: [MIT]\n  configurations:\n  - context: c1\n    platform: f39\n"
)


def lint(text: str) -> list[Problem]:
    """`bbmod lint`'s problems; the pipeline's loader must fail with ModuleError only."""
    with contextlib.suppress(ModuleError):
        modules_of(load_text(text, "m.yaml"))
    return lint_text(text, "m.yaml")


class LoaderFindings(unittest.TestCase):
    def assertRefused(self, text: str, fragment: str, line: int | None = None) -> None:
        problems = lint(text)
        self.assertTrue(problems, text)
        found = [p for p in problems if fragment in p.message]
        self.assertTrue(found, [p.format() for p in problems])
        if line is not None:
            self.assertEqual(found[0].line, line, found[0].format())

    def test_recursive_alias(self) -> None:
        # RecursionError in yamlscan._to_data: the alias sits inside its own anchor.
        for text in ("&a [*a]\n", "a: &a {b: *a}\n", STREAM_V2 + "  xmd: &x {y: [*x]}\n"):
            with self.subTest(text=text):
                self.assertRefused(text, "recursive", None)

    def test_document_version_that_is_digits_but_not_an_int(self) -> None:
        # ValueError: "²".isdigit() is true and int("²") fails; so do 5000 digits.
        for version in ("'²'", "'٣'", "9" * 5000):
            text = STREAM_V2.replace("version: 2\n", f"version: {version}\n", 1)
            with self.subTest(version=version[:10]):
                problems = lint(text)
                self.assertTrue(any(p.is_error for p in problems))

    def test_mistakes_inside_buildopts_rpms(self) -> None:
        # libmodulemd 2.14 reports these with a freed GError: a TypeError on its None
        # message, a GLib warning, or a segmentation fault of the whole process.
        cases = {
            "    rpms:\n      zzz: 1\n": ("Unexpected key in buildopts.rpms: zzz", 11),
            "    rpms: x\n": ("buildopts.rpms must be a mapping", 10),
            "    rpms:\n": ("buildopts.rpms must be a mapping", 10),
            "    rpms: [a]\n": ("buildopts.rpms must be a mapping", 10),
            "    rpms:\n      macros: [a]\n": ("buildopts.rpms.macros must be text", 11),
            "    rpms:\n      macros: {a: b}\n": ("buildopts.rpms.macros must be text", 11),
            "    rpms:\n      whitelist: [[a]]\n": ("whitelist must be a list of package", 11),
            "    rpms:\n      whitelist: [{a: b}]\n": ("whitelist must be a list of package", 11),
        }
        for body, (fragment, line) in cases.items():
            for base in (STREAM_V2, STREAM_V1):
                text = base + "  buildopts:\n" + body
                with self.subTest(body=body, v1=base is STREAM_V1):
                    self.assertRefused(text, fragment, line + (base is STREAM_V1))
        conf = PACKAGER_V3 + "    buildopts:\n      rpms:\n        zzz: 1\n"
        self.assertRefused(conf, "Unexpected key in configurations.0.buildopts.rpms: zzz", 14)

    def test_correct_buildopts_rpms_still_load(self) -> None:
        for body in (
            "    rpms: {}\n",
            "    rpms:\n      macros:\n",
            "    rpms:\n      macros: |\n        %demo 1\n      whitelist: [a, b]\n",
            "    rpms:\n      whitelist: a\n",
        ):
            with self.subTest(body=body):
                self.assertEqual(lint(STREAM_V2 + "  buildopts:\n" + body), [])
        self.assertEqual(len(modules_of(load_text(STREAM_V2 + "  buildopts:\n" + body))), 1)

    def test_stream_v1_with_empty_artifacts(self) -> None:
        # libmodulemd fails without any GError: `raise None` was a TypeError.
        self.assertRefused(STREAM_V1 + "  artifacts: {}\n", "artifacts is an empty mapping")
        with self.assertRaises(ModuleError):
            modules_of(load_text(STREAM_V1 + "  artifacts: {}\n", "m.yaml"))


POLICY = """\
--- !Policy
id: p
product_versions: [fedora-*]
decision_context: modules_push_stable
subject_type: redhat-module
rules:
  - !PassingTestCaseRule {test_case_name: modules.rpmlint}
"""


class GatingFindings(unittest.TestCase):
    def test_values_pyyaml_cannot_construct(self) -> None:
        # KeyError, IndexError, ValueError, AttributeError out of PyYAML's SafeConstructor.
        cases = [
            "!!bool ",
            "!!bool maybe",
            "!!int ",
            "!!int abc",
            "!!float x",
            "!!timestamp x",
            "2020-13-45",
            "9" * 5000,
        ]
        for value in cases:
            for where in (f"relevance_key: {value}\n", f"id: {value}\n"):
                text = POLICY.replace("id: p\n", where if where.startswith("id") else "id: p\n")
                if where.startswith("relevance"):
                    text += where
                with self.subTest(value=value[:20], where=where[:12]):
                    with self.assertRaises(PolicyError) as caught:
                        parse_policies(text, "gating.yaml")
                    self.assertIn("invalid !!", caught.exception.message)
                    self.assertIsNotNone(caught.exception.line)
                    self.assertEqual(caught.exception.source, "gating.yaml")
        with self.assertRaises(PolicyError):
            parse_policies("!!bool ", "gating.yaml", module=True)

    def test_quoted_values_are_still_strings(self) -> None:
        text = POLICY.replace("id: p", "id: '2020-13-45'")
        self.assertEqual(parse_policies(text, "gating.yaml")[0].id, "2020-13-45")


class EndOfLifeFindings(unittest.TestCase):
    """libmodulemd 2.14 ends the process with a segmentation fault on an end-of-life date
    that looks like a date but is not one; such a date never reaches it now."""

    def test_dates_that_are_not_dates(self) -> None:
        for value in ("2077-13-01", "2077-10-32", '"2077-10-\\uFEFF23"', "2077-10-x3", "soon"):
            for base, where, line in (
                (STREAM_V2, "  servicelevels:\n    rawhide:\n      eol: {}\n", 11),
                (STREAM_V1, "  servicelevels:\n    rawhide:\n      eol: {}\n", 12),
                (STREAM_V1, "  eol: {}\n", 10),
            ):
                text = base + where.format(value)
                with self.subTest(value=value, where=where[:15], v1=base is STREAM_V1):
                    problems = lint(text)
                    self.assertEqual(len(problems), 1, [p.format() for p in problems])
                    self.assertIn("is not a date", problems[0].message)
                    self.assertEqual(problems[0].line, line)

    def test_a_real_date_loads(self) -> None:
        text = STREAM_V2 + "  servicelevels:\n    rawhide:\n      eol: 2077-10-23\n"
        self.assertEqual(lint(text), [])
        self.assertEqual(len(modules_of(load_text(text, "m.yaml"))), 1)
