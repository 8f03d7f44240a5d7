"""The component plan: buildorder batches, buildafter DAGs, automatic ordering from
real spec files through rpmspec, and the scheduler-facing API."""

from __future__ import annotations

import os
import shutil
import textwrap

from twisted.trial import unittest

from buildbot_modules.core.module import Component, ModuleStream, load_modules
from buildbot_modules.core.plan import ComponentPlan, find_cycles, plan_module
from buildbot_modules.core.problems import ModuleError
from buildbot_modules.core.specs import capability_name, is_plain_name, read_spec, read_specs

from .helpers import CONTRIB, tempdir, write


def module(**components: Component) -> ModuleStream:
    return ModuleStream(name="m", stream="s", components=dict(components))


def contrib(name: str) -> ModuleStream:
    return load_modules(os.path.join(CONTRIB, "modules", name, f"{name}.yaml"))[0]


def needs_rpmspec() -> None:
    if shutil.which("rpmspec") is None:
        raise unittest.SkipTest("needs rpmspec (Debian package rpm; run make setup)")


SPEC = """\
Name:           {name}
Version:        1
Release:        1
Summary:        Test package {name}
License:        MIT
BuildArch:      noarch
{extra}

%description
Test.

{sections}
%files

%changelog
* Mon Nov 25 2024 T <t@example.org> - 1-1
- test
"""


def spec(folder: str, name: str, extra: str = "", sections: str = "") -> str:
    return write(
        folder,
        f"{name}/{name}.spec",
        SPEC.format(name=name, extra=textwrap.dedent(extra), sections=sections),
    )


class Ordering(unittest.TestCase):
    def test_buildorder_batches(self) -> None:
        m = contrib("batches")
        plan = plan_module(m)
        self.assertEqual(plan.source, "buildorder")
        self.assertEqual(
            plan.after,
            {
                "batch-a": (),
                "batch-b": (),
                "batch-c": ("batch-a", "batch-b"),  # the whole previous batch
                "batch-d": ("batch-c",),  # only the previous batch, not all lower ones
            },
        )
        self.assertEqual(plan.batches(), [["batch-a", "batch-b"], ["batch-c"], ["batch-d"]])

    def test_buildorder_negative_and_sparse_values(self) -> None:
        plan = plan_module(
            module(
                a=Component("a", buildorder=-5),
                b=Component("b", buildorder=10),
                c=Component("c", buildorder=10),
                d=Component("d", buildorder=99),
            )
        )
        self.assertEqual(plan.after, {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")})
        self.assertEqual(plan.levels(), {"a": 0, "b": 1, "c": 1, "d": 2})

    def test_buildafter_dag(self) -> None:
        plan = plan_module(contrib("dagdemo"))
        self.assertEqual(plan.source, "buildafter")
        self.assertEqual(
            plan.levels(),
            {
                "dag-base": 0,
                "dag-solo": 0,
                "dag-left": 1,
                "dag-right": 1,
                "dag-top": 2,
            },
        )
        self.assertEqual(plan.after["dag-top"], ("dag-left", "dag-right"))
        order = plan.components
        self.assertLess(order.index("dag-base"), order.index("dag-left"))
        self.assertLess(order.index("dag-right"), order.index("dag-top"))

    def test_critical_path_uses_durations(self) -> None:
        plan = plan_module(contrib("dagdemo"))
        self.assertEqual(len(plan.critical_path()), 3)
        self.assertEqual(
            plan.critical_path({"dag-left": 5, "dag-right": 1}),
            ["dag-base", "dag-left", "dag-top"],
        )
        self.assertEqual(plan.critical_path({"dag-solo": 100}), ["dag-solo"])

    def test_ready_and_downstream(self) -> None:
        plan = plan_module(contrib("dagdemo"))
        self.assertEqual(plan.ready(set()), ["dag-base", "dag-solo"])
        self.assertEqual(plan.ready({"dag-base"}), ["dag-left", "dag-right", "dag-solo"])
        self.assertEqual(plan.ready({"dag-base"}, running={"dag-left"}), ["dag-right", "dag-solo"])
        self.assertEqual(plan.ready({"dag-base", "dag-left"}), ["dag-right", "dag-solo"])
        self.assertEqual(plan.ready({"dag-base", "dag-left", "dag-right"}), ["dag-solo", "dag-top"])
        self.assertEqual(plan.downstream(["dag-base"]), {"dag-left", "dag-right", "dag-top"})
        self.assertEqual(plan.downstream(["dag-solo"]), set())

    def test_no_order_no_specs_is_one_level_with_warning(self) -> None:
        plan = plan_module(contrib("autoorder"))
        self.assertEqual(set(plan.levels().values()), {0})
        self.assertTrue(any("--sources" in w for w in plan.warnings))

    def test_cycle_error_names_every_component(self) -> None:
        with self.assertRaises(ModuleError) as caught:
            ComponentPlan({"a": ("c",), "b": ("a",), "c": ("b",), "d": ()})
        self.assertIn("a -> c -> b -> a", caught.exception.message)
        self.assertEqual(
            find_cycles({"a": ["b"], "b": ["a"], "c": ["c"], "d": []}),
            [["a", "b", "a"], ["c", "c"]],
        )


class FromSpecs(unittest.TestCase):
    def setUp(self) -> None:
        needs_rpmspec()

    def test_capability_names(self) -> None:
        self.assertEqual(capability_name("foo >= 1.2"), "foo")
        self.assertEqual(capability_name("pkgconfig(glib-2.0) >= 2.0"), "pkgconfig(glib-2.0)")
        self.assertIsNone(capability_name("(a or b)"))
        self.assertTrue(is_plain_name("auto-core-devel"))
        for cap in ("pkgconfig(zlib)", "/usr/bin/sh", "libz.so.1()(64bit)", "perl(Foo::Bar)"):
            self.assertFalse(is_plain_name(cap), cap)

    def test_contrib_autoorder(self) -> None:
        m = contrib("autoorder")
        plan = plan_module(m, read_specs(os.path.join(CONTRIB, "rpms"), m.components))
        self.assertEqual(plan.source, "specs")
        # auto-mid BuildRequires auto-core-devel, a subpackage of auto-core.
        self.assertEqual(
            plan.after, {"auto-core": (), "auto-mid": ("auto-core",), "auto-app": ("auto-mid",)}
        )
        self.assertEqual(plan.warnings, [])

    def test_read_spec_reports_subpackages_and_buildrequires(self) -> None:
        info = read_spec(os.path.join(CONTRIB, "rpms", "auto-core", "auto-core.spec"))
        self.assertIn("auto-core", info.provides)
        self.assertIn("auto-core-devel", info.provides)
        self.assertFalse(info.generates_buildrequires)

    def test_unmatched_requirements_listed_not_guessed(self) -> None:
        folder = tempdir(self)
        spec(folder, "lib", "Provides: libthing\n")
        spec(
            folder,
            "app",
            """\
            BuildRequires: libthing
            BuildRequires: pkgconfig(zlib)
            BuildRequires: /usr/bin/thing
            BuildRequires: libthing.so.1()(64bit)
            BuildRequires: (lib or other)
            BuildRequires: gcc
            """,
            sections="%generate_buildrequires\necho foo\n",
        )
        m = module(lib=Component("lib"), app=Component("app"))
        plan = plan_module(m, read_specs(folder, m.components))
        self.assertEqual(plan.after["app"], ("lib",))
        unmatched = plan.unmatched["app"]
        self.assertIn("pkgconfig(zlib)", unmatched)
        self.assertIn("/usr/bin/thing", unmatched)
        self.assertIn("libthing.so.1()(64bit)", unmatched)
        self.assertIn("(lib or other)", unmatched)
        self.assertTrue(any("%generate_buildrequires" in u for u in unmatched))
        # A plain name no component builds comes from the platform: not listed.
        self.assertNotIn("gcc", unmatched)

    def test_explicit_order_contradicting_specs_warns(self) -> None:
        folder = tempdir(self)
        spec(folder, "a")
        spec(folder, "b", "BuildRequires: a\n")
        spec(folder, "c", "BuildRequires: b\n")
        # c BuildRequires b, but buildafter puts it after a only.
        m = module(
            a=Component("a"),
            b=Component("b", buildafter=("a",)),
            c=Component("c", buildafter=("a",)),
        )
        plan = plan_module(m, read_specs(folder, m.components))
        self.assertEqual(len(plan.warnings), 1, plan.warnings)
        self.assertIn(
            "c BuildRequires b, which b builds, but c is not ordered after b", plan.warnings[0]
        )
        # Transitive order is enough: no warning when c is after b which is after a.
        ok = module(
            a=Component("a"),
            b=Component("b", buildafter=("a",)),
            c=Component("c", buildafter=("b",)),
        )
        self.assertEqual(plan_module(ok, read_specs(folder, ok.components)).warnings, [])

    def test_spec_cycle_is_an_error(self) -> None:
        folder = tempdir(self)
        spec(folder, "a", "BuildRequires: b\n")
        spec(folder, "b", "BuildRequires: a\n")
        m = module(a=Component("a"), b=Component("b"))
        m.source = "m.yaml"
        with self.assertRaises(ModuleError) as caught:
            plan_module(m, read_specs(folder, m.components))
        self.assertIn("a -> b -> a", caught.exception.message)
        self.assertEqual(caught.exception.source, "m.yaml")

    def test_missing_and_broken_specs(self) -> None:
        folder = tempdir(self)
        with self.assertRaises(ModuleError) as caught:
            read_specs(folder, ["nothere"])
        self.assertIn("nothere/nothere.spec", caught.exception.source)
        write(folder, "bad/bad.spec", "Name: bad\n%description\n")
        with self.assertRaises(ModuleError) as caught:
            read_specs(folder, ["bad"])
        self.assertIn("rpmspec cannot parse this spec", caught.exception.message)


class Progress(unittest.TestCase):
    def test_progress_releases_dependents_as_builds_finish(self) -> None:
        progress = plan_module(contrib("dagdemo")).progress()
        self.assertEqual(progress.start(), ["dag-base", "dag-solo"])
        self.assertEqual(progress.finish("dag-solo"), [])
        self.assertEqual(progress.finish("dag-base"), ["dag-left", "dag-right"])
        self.assertEqual(progress.finish("dag-left"), [])
        self.assertEqual(progress.finish("dag-left"), [])  # told twice: nothing new
        self.assertFalse(progress.done)
        self.assertEqual(progress.finish("dag-right"), ["dag-top"])
        self.assertEqual(progress.finish("dag-top"), [])
        self.assertTrue(progress.done)

    def test_progress_agrees_with_ready_on_batches(self) -> None:
        plan = plan_module(contrib("batches"))
        progress = plan.progress()
        finished: set[str] = set()
        started = progress.start()
        self.assertEqual(started, plan.ready(finished))
        for name in plan.components:
            newly = progress.finish(name)
            finished.add(name)
            for c in newly:
                self.assertIn(c, plan.ready(finished))
        self.assertTrue(progress.done)
