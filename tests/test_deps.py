"""Dependency expansion with MBS's semantics, against in-memory and real catalogues."""

from __future__ import annotations

from twisted.trial import unittest

from buildbot_modules.core.catalogue import InMemoryCatalogue, RepoCatalogue
from buildbot_modules.core.deps import expand
from buildbot_modules.core.identity import module_context
from buildbot_modules.core.module import Dependencies, ModuleStream
from buildbot_modules.core.problems import ModuleError

from .helpers import corpus

CATALOGUE = InMemoryCatalogue.with_streams(
    {"platform": ["f38", "f39", "f40"], "nodejs": ["18", "20"], "python": ["3.11"]}
)


def module(*entries: tuple[dict[str, list[str]], dict[str, list[str]]]) -> ModuleStream:
    return ModuleStream(
        name="m",
        stream="s",
        source="m.yaml",
        dependencies=[
            Dependencies({k: tuple(v) for k, v in br.items()}, {k: tuple(v) for k, v in r.items()})
            for br, r in entries
        ],
    )


def combos(builds: list) -> list[dict[str, str]]:
    return [b.buildrequires for b in builds]


class Expansion(unittest.TestCase):
    def test_single_streams_without_catalogue(self) -> None:
        builds = expand(module(({"platform": ["f39"]}, {"platform": ["f39"]})))
        self.assertEqual(combos(builds), [{"platform": "f39"}])
        self.assertEqual(builds[0].requires, {"platform": ("f39",)})
        self.assertEqual(
            builds[0].context, module_context({"platform": "f39"}, {"platform": ["f39"]})
        )

    def test_cross_product(self) -> None:
        builds = expand(
            module(({"platform": ["f38", "f39"], "nodejs": []}, {"platform": [], "nodejs": []})),
            CATALOGUE,
        )
        self.assertEqual(
            combos(builds),
            [
                {"nodejs": "18", "platform": "f38"},
                {"nodejs": "18", "platform": "f39"},
                {"nodejs": "20", "platform": "f38"},
                {"nodejs": "20", "platform": "f39"},
            ],
        )
        # Requires collapse to the stream each build was built against.
        self.assertEqual(builds[3].requires, {"nodejs": ("20",), "platform": ("f39",)})
        self.assertEqual(len({b.context for b in builds}), 4)

    def test_exclusions_and_empty_list(self) -> None:
        builds = expand(module(({"platform": ["-f38"]}, {})), CATALOGUE)
        self.assertEqual(combos(builds), [{"platform": "f39"}, {"platform": "f40"}])
        builds = expand(module(({"platform": []}, {})), CATALOGUE)
        self.assertEqual(len(builds), 3)

    def test_requires_not_buildrequired_kept_as_written(self) -> None:
        builds = expand(
            module(({"platform": ["f39"]}, {"platform": ["f39"], "python": []})), CATALOGUE
        )
        self.assertEqual(builds[0].requires, {"platform": ("f39",), "python": ()})

    def test_alternatives_and_duplicates(self) -> None:
        builds = expand(
            module(
                ({"platform": ["f39"]}, {"platform": ["f39"]}),
                ({"platform": ["f40"]}, {"platform": ["f40"]}),
                ({"platform": ["f39"]}, {"platform": ["f39"]}),  # same build again: one context
            ),
            CATALOGUE,
        )
        self.assertEqual(combos(builds), [{"platform": "f39"}, {"platform": "f40"}])

    def test_static_context(self) -> None:
        m = module(({"platform": ["f39"]}, {"platform": ["f39"]}))
        m.context, m.static_context = "f39a", True
        self.assertEqual([b.context for b in expand(m)], ["f39a"])

    def test_needs_catalogue(self) -> None:
        for streams in ([], ["f38", "f39"], ["-f38"]):
            with self.assertRaises(ModuleError) as caught:
                expand(module(({"platform": streams}, {})))
            self.assertIn("needs a module catalogue", caught.exception.message)
            self.assertIn("--catalogue", caught.exception.hint)

    def test_unresolvable_names_module_asked_and_available(self) -> None:
        with self.assertRaises(ModuleError) as caught:
            expand(module(({"nodejs": ["16"]}, {})), CATALOGUE)
        message = caught.exception.message
        self.assertIn("buildrequires nodejs: [16]: stream 16 not found", message)
        self.assertIn("available in in-memory catalogue", message)
        self.assertIn(": 18, 20", message)
        with self.assertRaises(ModuleError) as caught:
            expand(module(({"nodejs": ["-18", "-20"]}, {})), CATALOGUE)
        self.assertIn("no stream left", caught.exception.message)
        with self.assertRaises(ModuleError) as caught:
            expand(module(({"ghost": []}, {})), CATALOGUE)
        self.assertIn("available in in-memory catalogue (", caught.exception.message)
        self.assertIn("none", caught.exception.message)

    def test_requires_mismatch(self) -> None:
        # As the corpus' mismatched-deps.yaml: built against epel7, requires excludes it.
        with self.assertRaises(ModuleError) as caught:
            expand(module(({"platform": ["f39"]}, {"platform": ["-f39"]})), CATALOGUE)
        self.assertIn(
            "built against platform:f39, but requires platform: [-f39]", caught.exception.message
        )
        with self.assertRaises(ModuleError):
            expand(module(({"nodejs": ["18", "20"]}, {"nodejs": ["20"]})), CATALOGUE)

    def test_against_the_real_f29_index(self) -> None:
        catalogue = RepoCatalogue(corpus("test_data", "f29.yaml"))
        builds = expand(module(({"dwm": [], "platform": ["f29"]}, {"dwm": []})), catalogue)
        self.assertEqual([b.buildrequires["dwm"] for b in builds], ["6.0", "6.1", "latest"])
        self.assertEqual(builds[0].requires, {"dwm": ("6.0",)})
        # The index lists no platform stream: a named one is taken as given, but "every
        # platform stream" cannot be known.
        self.assertEqual(builds[0].platform, "f29")
        with self.assertRaises(ModuleError):
            expand(module(({"platform": []}, {})), catalogue)


class StaticContext(unittest.TestCase):
    def test_static_context_cannot_name_two_builds(self) -> None:
        m = module(({"platform": ["f39", "f40"]}, {"platform": []}))
        m.context, m.static_context = "fixed", True
        with self.assertRaises(ModuleError) as caught:
            expand(m, CATALOGUE)
        self.assertIn("static context fixed would name two different builds", str(caught.exception))
