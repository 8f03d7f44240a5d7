"""The module registry: migrations, MBS states, components, artifacts, catalogue, threads.

Every test uses its own SQLite file in trial's temporary directory. One test runs the same
scenario on PostgreSQL when ``BBMOD_TEST_POSTGRESQL_URL`` names an empty scratch database
(and its driver is installed); otherwise it is skipped, saying why.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from twisted.trial import unittest

from buildbot_modules.core.catalogue import CatalogueEntry, ModuleCatalogue
from buildbot_modules.core.deps import expand
from buildbot_modules.core.module import Dependencies, ModuleStream
from buildbot_modules.core.problems import ModuleError
from buildbot_modules.registry import (
    COMPONENT_STATES,
    MAX_VERSION,
    MODULE_STATES,
    ComponentRecord,
    DuplicateBuild,
    InvalidState,
    ModuleBuildRecord,
    NotFound,
    Registry,
    RegistryError,
    default_db_url,
    migrations_config,
)
from buildbot_modules.registry.schema import VERSION_TABLE, metadata
from buildbot_modules.registry.store import MIGRATIONS, public_url

from .helpers import ROOT
from .postgresql import start_postgresql

POSTGRESQL_URL_VARIABLE = "BBMOD_TEST_POSTGRESQL_URL"
TABLES = {
    "module_builds",
    "component_builds",
    "module_artifacts",
    "results",
    "waivers",
    "stream_eol",
    "stream_owners",
    VERSION_TABLE,
}
T0 = datetime(2025, 11, 25, 20, 20, 37, tzinfo=UTC)
MBS_VERSION = 3920261125202037  # f39 prefix + %Y%m%d%H%M%S: more than 2**53


class Clock:
    """A settable clock for the registry (aware datetimes); thread-safe enough for tests."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def new_registry(case: unittest.TestCase, clock: Clock | None = None) -> Registry:
    """A migrated registry on a fresh SQLite file in the test's temporary directory."""
    folder = case.mktemp()
    os.makedirs(folder)
    registry = Registry(default_db_url(folder), clock=clock)
    case.addCleanup(registry.dispose)
    registry.upgrade()
    return registry


def create(registry: Registry, name: str = "hello", stream: str = "1", **kw: Any) -> int:
    """A module build with sensible defaults; keywords override them."""
    values: dict[str, Any] = {
        "version": 1,
        "context": "c0ffee42",
        "scmurl": f"https://src.example/modules/{name}?#{stream}",
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "owner": "packager",
        "buildrequires": {"platform": "f39"},
        "requires": {"platform": ["f39"]},
    }
    values.update(kw)
    return registry.create_module_build(name=name, stream=stream, **values)


def advance(registry: Registry, build_id: int, *states: str) -> None:
    for state in states:
        registry.set_module_state(build_id, state)


def make_ready(registry: Registry, build_id: int) -> None:
    advance(registry, build_id, "wait", "build", "done", "ready")


def component(name: str, **kw: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": name,
        "package": name,
        "ref": "main",
        "commit": f"{name}-commit",
        "after": [],
        "level": 0,
    }
    values.update(kw)
    return values


def table_names(registry: Registry) -> set[str]:
    return set(sa.inspect(registry._engine).get_table_names())


class Migrations(unittest.TestCase):
    def test_upgrade_creates_the_schema_from_empty(self) -> None:
        folder = self.mktemp()
        os.makedirs(folder)
        registry = Registry(default_db_url(folder))
        self.addCleanup(registry.dispose)
        self.assertFalse(os.path.exists(os.path.join(folder, "modules-registry.sqlite")))
        registry.upgrade()
        self.assertEqual(table_names(registry), TABLES)
        with registry._engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            self.assertEqual(context.get_current_revision(), "0004")
            self.assertEqual(conn.exec_driver_sql("PRAGMA journal_mode").scalar(), "wal")
        # Buildbot's own alembic_version table is left alone: both can share a database.
        self.assertNotIn("alembic_version", table_names(registry))

    def test_upgrade_twice_is_a_no_op_and_keeps_data(self) -> None:
        registry = new_registry(self)
        build = create(registry)
        registry.upgrade()
        registry.upgrade()
        self.assertEqual(table_names(registry), TABLES)
        self.assertEqual(registry.module_build(build).nsvc, "hello:1:1:c0ffee42")

    def test_a_second_registry_on_the_same_file_sees_it_current(self) -> None:
        registry = new_registry(self)
        build = create(registry)
        again = Registry(str(registry._engine.url))
        self.addCleanup(again.dispose)
        again.upgrade()
        self.assertEqual(again.module_build(build).name, "hello")

    def test_schema_py_matches_the_migrations(self) -> None:
        registry = new_registry(self)
        with registry._engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            self.assertEqual(compare_metadata(context, metadata), [])

    def test_downgrade_to_base_removes_everything(self) -> None:
        registry = new_registry(self)
        create(registry)
        with registry._write() as conn:
            config = registry.alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        self.assertEqual(table_names(registry), {VERSION_TABLE})

    def test_postgresql_sql_has_nothing_sqlite_specific(self) -> None:
        # Offline (--sql) migration for PostgreSQL: needs neither a server nor a driver.
        config = migrations_config("postgresql://bbmod@localhost/registry")
        out = io.StringIO()
        config.output_buffer = out
        command.upgrade(config, "head", sql=True)
        sql = out.getvalue()
        self.assertIn("version BIGINT NOT NULL", sql)
        self.assertIn("buildrequires JSON NOT NULL", sql)
        self.assertIn("submitted_at TIMESTAMP WITH TIME ZONE NOT NULL", sql)
        self.assertIn("scratch BOOLEAN NOT NULL", sql)
        self.assertIn(
            "CREATE UNIQUE INDEX uq_module_builds_nsvc_live ON module_builds "
            "(name, stream, version, context) WHERE state <> 4",
            sql,
        )
        self.assertIn(f"CREATE TABLE {VERSION_TABLE}", sql)
        for sqlite_only in ("AUTOINCREMENT", "DATETIME", "PRAGMA", "sqlite"):
            self.assertNotIn(sqlite_only, sql)

    def test_migrations_ship_as_package_data(self) -> None:
        for folder in (MIGRATIONS, os.path.join(MIGRATIONS, "versions")):
            self.assertTrue(os.path.isfile(os.path.join(folder, "__init__.py")), folder)
        # What pyproject's [tool.setuptools.packages.find] include = ["buildbot_modules*"]
        # finds (in a child process: importing setuptools here could warn).
        found = subprocess.run(
            [
                sys.executable,
                "-c",
                "import setuptools, sys; "
                "print('\\n'.join(setuptools.find_packages(sys.argv[1], "
                "include=['buildbot_modules*'])))",
                ROOT,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        self.assertIn("buildbot_modules.registry.migrations", found)
        self.assertIn("buildbot_modules.registry.migrations.versions", found)


class ModuleBuilds(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.registry = new_registry(self, self.clock)

    def test_a_new_build_is_init_and_round_trips(self) -> None:
        build = create(
            self.registry,
            "nodejs",
            "20",
            version=MBS_VERSION,
            context="6c81f848",
            buildrequires={"platform": "f39", "python": "3.11"},
            requires={"platform": ["f39"], "python": []},
            scratch=True,
        )
        record = self.registry.module_build(build)
        self.assertIsInstance(record, ModuleBuildRecord)
        self.assertEqual(record.id, build)
        self.assertEqual(record.nsvc, f"nodejs:20:{MBS_VERSION}:6c81f848")
        self.assertEqual(record.version, MBS_VERSION)
        self.assertEqual((record.state, record.state_code, record.state_reason), ("init", 0, None))
        self.assertEqual(record.scmurl, "https://src.example/modules/nodejs?#20")
        self.assertEqual(record.commit, "0123456789abcdef0123456789abcdef01234567")
        self.assertEqual(record.owner, "packager")
        self.assertEqual(record.buildrequires, {"platform": "f39", "python": "3.11"})
        self.assertEqual(record.requires, {"platform": ["f39"], "python": []})
        self.assertEqual((record.modulemd, record.published_path), (None, None))
        self.assertEqual(record.submitted_at, T0)
        self.assertEqual(record.submitted_at.tzinfo, UTC)
        self.assertEqual((record.started_at, record.finished_at), (None, None))
        self.assertTrue(record.scratch)
        hash(record)  # records can go in sets

    def test_the_whole_life_of_a_build(self) -> None:
        build = create(self.registry)
        self.registry.set_module_state(build, "wait")
        self.clock.advance(10)
        self.registry.set_module_state(build, "build", "components started")
        record = self.registry.module_build(build)
        self.assertEqual((record.state, record.state_code), ("build", 2))
        self.assertEqual(record.state_reason, "components started")
        self.assertEqual(record.started_at, T0 + timedelta(seconds=10))
        self.assertIsNone(record.finished_at)
        self.clock.advance(50)
        self.registry.set_module_state(build, "done")
        record = self.registry.module_build(build)
        self.assertEqual(record.finished_at, T0 + timedelta(seconds=60))
        self.assertIsNone(record.state_reason)
        self.clock.advance(5)
        self.registry.set_module_state(build, "ready", "no gate")
        self.registry.set_module_state(build, "garbage")
        record = self.registry.module_build(build)
        self.assertEqual((record.state, record.state_code), ("garbage", 6))
        self.assertEqual(record.finished_at, T0 + timedelta(seconds=60))

    def test_failed_from_every_running_state(self) -> None:
        for steps in ([], ["wait"], ["wait", "build"], ["wait", "build", "done"]):
            build = create(self.registry, stream=f"s{len(steps)}")
            advance(self.registry, build, *steps)
            self.clock.advance(1)
            self.registry.set_module_state(build, "failed", "component foo failed")
            record = self.registry.module_build(build)
            self.assertEqual((record.state, record.state_code), ("failed", 4))
            self.assertEqual(record.state_reason, "component foo failed")
            self.assertEqual(record.finished_at, self.clock.now)

    def test_invalid_transitions_are_clear_errors(self) -> None:
        build = create(self.registry)
        cases = [
            ([], "build", "cannot go from init to build", "from init it can go to wait or failed"),
            (["wait", "build"], "ready", "cannot go from build to ready", "done or failed"),
            (["done", "ready"], "failed", "cannot go from ready to failed", "garbage"),
            (["garbage"], "ready", "cannot go from garbage to ready", "garbage is final"),
        ]
        for steps, state, message, hint in cases:
            advance(self.registry, build, *steps)
            e = self.assertRaises(InvalidState, self.registry.set_module_state, build, state)
            self.assertIn(f"module build {build} (hello:1:1:c0ffee42): {message}", str(e))
            self.assertIn(hint, e.hint)
        e = self.assertRaises(InvalidState, self.registry.set_module_state, build, "garbage")
        self.assertIn("is already in state garbage", str(e))
        self.assertEqual(self.registry.module_build(build).state, "garbage")

    def test_failed_to_init_is_resubmission_not_a_state_change(self) -> None:
        build = create(self.registry)
        self.registry.set_module_state(build, "failed")
        e = self.assertRaises(InvalidState, self.registry.set_module_state, build, "init")
        self.assertIn("cannot go from failed to init", str(e))
        self.assertIn("resubmission", e.hint)

    def test_unknown_state_names(self) -> None:
        build = create(self.registry)
        e = self.assertRaises(InvalidState, self.registry.set_module_state, build, "building")
        self.assertIn("unknown module build state 'building'", str(e))
        self.assertIn("init, wait, build, done, failed, ready, garbage", str(e))
        self.assertRaises(InvalidState, self.registry.module_builds, state="complete")
        self.assertIsInstance(e, ModuleError)
        self.assertTrue(str(e).startswith("module registry: error: "))

    def test_unknown_build(self) -> None:
        for call in (
            lambda: self.registry.module_build(99),
            lambda: self.registry.set_module_state(99, "wait"),
            lambda: self.registry.set_module_result(99, modulemd="", published_path="/"),
            lambda: self.registry.components(99),
            lambda: self.registry.artifacts(99),
            lambda: self.registry.add_components(99, [component("a")]),
        ):
            e = self.assertRaises(NotFound, call)
            self.assertIn("no module build with id 99", str(e))

    def test_module_result(self) -> None:
        build = create(self.registry)
        advance(self.registry, build, "wait", "build")
        yaml = "---\ndocument: modulemd\nversion: 2\ndata:\n  name: hello\n...\n"
        self.registry.set_module_result(build, modulemd=yaml, published_path="/srv/stage/hello")
        record = self.registry.module_build(build)
        self.assertEqual(record.modulemd, yaml)
        self.assertEqual(record.published_path, "/srv/stage/hello")

    def test_listing_is_newest_first_and_filters(self) -> None:
        a = create(self.registry, version=2)
        b = create(self.registry, version=3)
        c = create(self.registry, version=2, context="deadbeef")
        d = create(self.registry, "other", version=9)
        e = create(self.registry, stream="2", version=1)
        make_ready(self.registry, b)
        ids = [r.id for r in self.registry.module_builds()]
        self.assertEqual(ids, [d, b, c, a, e])
        self.assertEqual([r.id for r in self.registry.module_builds(name="hello")], [b, c, a, e])
        self.assertEqual(
            [r.id for r in self.registry.module_builds(name="hello", stream="1")], [b, c, a]
        )
        self.assertEqual([r.id for r in self.registry.module_builds(state="ready")], [b])
        self.assertEqual([r.id for r in self.registry.module_builds(state="init")], [d, c, a, e])
        self.assertEqual([r.id for r in self.registry.module_builds(limit=2)], [d, b])
        self.assertEqual(self.registry.module_builds(name="nothing"), [])

    def test_versions_are_exact_up_to_the_signed_64_bit_limit(self) -> None:
        big = create(self.registry, version=MBS_VERSION)
        biggest = create(self.registry, version=MAX_VERSION)
        el9 = create(self.registry, version=9040020250101120000)  # EL 9.4 prefix: 19 digits
        self.assertEqual(self.registry.module_build(big).version, MBS_VERSION)
        self.assertEqual(self.registry.module_build(biggest).version, 2**63 - 1)
        self.assertEqual(
            [r.id for r in self.registry.module_builds()], [biggest, el9, big]
        )  # ordered by the database, exactly
        for version in (2**63, 2**64 - 1, -1):
            e = self.assertRaises(RegistryError, create, self.registry, version=version)
            self.assertIn(f"version {version} is outside 0..{MAX_VERSION}", str(e))
        self.assertRaises(RegistryError, create, self.registry, version="1")
        self.assertRaises(RegistryError, create, self.registry, context="")


class DuplicateNSVC(unittest.TestCase):
    def setUp(self) -> None:
        self.registry = new_registry(self)

    def test_a_live_build_with_the_same_nsvc_is_refused(self) -> None:
        first = create(self.registry)
        e = self.assertRaises(DuplicateBuild, create, self.registry)
        self.assertIsInstance(e, ModuleError)
        self.assertIn(f"hello:1:1:c0ffee42 already exists (build {first}, state init)", str(e))
        self.assertIn("resubmission of a failed build", e.hint)
        # Another context, version or stream is another build.
        create(self.registry, context="deadbeef")
        create(self.registry, version=2)
        create(self.registry, stream="2")

    def test_refused_in_every_state_but_failed(self) -> None:
        build = create(self.registry)
        for state in ("wait", "build", "done", "ready", "garbage"):
            self.registry.set_module_state(build, state)
            e = self.assertRaises(DuplicateBuild, create, self.registry)
            self.assertIn(f"state {state})", str(e))

    def test_allowed_again_after_failure(self) -> None:
        first = create(self.registry)
        self.registry.set_module_state(first, "failed", "boom")
        second = create(self.registry)
        self.assertNotEqual(first, second)
        self.assertRaises(DuplicateBuild, create, self.registry)
        self.registry.set_module_state(second, "failed")
        third = create(self.registry)
        states = [(r.id, r.state) for r in self.registry.module_builds()]
        self.assertEqual(states, [(third, "init"), (second, "failed"), (first, "failed")])

    def test_the_database_enforces_it_too(self) -> None:
        create(self.registry)
        row = {
            "name": "hello",
            "stream": "1",
            "version": 1,
            "context": "c0ffee42",
            "state": MODULE_STATES["wait"],
            "scmurl": "u",
            "commit_hash": "c",
            "owner": "o",
            "buildrequires": {},
            "requires": {},
            "scratch": False,
            "submitted_at": T0,
        }
        from buildbot_modules.registry.schema import module_builds

        def insert() -> None:
            with self.registry._write() as conn:
                conn.execute(module_builds.insert().values(**row))

        self.assertRaises(sa.exc.IntegrityError, insert)
        row["state"] = MODULE_STATES["failed"]
        insert()  # failed builds may repeat

    def test_concurrent_creation_of_one_nsvc_lets_exactly_one_through(self) -> None:
        outcomes: list[str] = []
        start = threading.Barrier(8)

        def attempt() -> None:
            start.wait()
            try:
                create(self.registry)
                outcomes.append("created")
            except DuplicateBuild:
                outcomes.append("duplicate")
            except Exception as e:  # anything else is a failure of the test
                outcomes.append(repr(e))

        threads = [threading.Thread(target=attempt) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(sorted(outcomes), ["created"] + ["duplicate"] * 7)


class Components(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.registry = new_registry(self, self.clock)
        self.build = create(self.registry)
        self.registry.add_components(
            self.build,
            [
                component("app", level=1, after=["lib", "tool"], package="app-pkg"),
                component("lib", ref="stream-1"),
                component("tool"),
            ],
        )

    def test_round_trip(self) -> None:
        records = self.registry.components(self.build)
        self.assertEqual([c.name for c in records], ["lib", "tool", "app"])  # level, then added
        app = records[2]
        self.assertIsInstance(app, ComponentRecord)
        self.assertEqual(
            app,
            ComponentRecord(
                module_build_id=self.build,
                name="app",
                package="app-pkg",
                ref="main",
                commit="app-commit",
                state="waiting",
                nvr=None,
                after=["lib", "tool"],
                level=1,
                buildbot_build_id=None,
                log_url=None,
                started_at=None,
                finished_at=None,
                reason=None,
            ),
        )
        self.assertEqual(records[0].ref, "stream-1")
        self.assertIsNone(app.duration)
        self.assertEqual(COMPONENT_STATES[0], "waiting")

    def test_states_and_timing(self) -> None:
        self.registry.set_component_state(
            self.build, "lib", "building", buildbot_build_id=17, log_url="http://bb/#/builds/17"
        )
        self.clock.advance(90)
        self.registry.set_component_state(self.build, "lib", "built", nvr="lib-1.0-1.module_f39")
        lib = self.registry.components(self.build)[0]
        self.assertEqual(lib.state, "built")
        self.assertEqual(lib.nvr, "lib-1.0-1.module_f39")
        self.assertEqual(lib.buildbot_build_id, 17)  # kept from "building"
        self.assertEqual(lib.log_url, "http://bb/#/builds/17")
        self.assertEqual((lib.started_at, lib.finished_at), (T0, T0 + timedelta(seconds=90)))
        self.assertEqual(lib.duration, 90.0)

        self.registry.set_component_state(self.build, "tool", "building")
        self.clock.advance(5)
        self.registry.set_component_state(self.build, "tool", "failed", reason="rpmbuild exit 1")
        self.registry.set_component_state(
            self.build, "app", "dependency-failed", reason="tool failed"
        )
        states = {c.name: (c.state, c.reason) for c in self.registry.components(self.build)}
        self.assertEqual(
            states,
            {
                "lib": ("built", None),
                "tool": ("failed", "rpmbuild exit 1"),
                "app": ("dependency-failed", "tool failed"),
            },
        )
        # A retry: building again restarts the clock and clears the finish.
        self.clock.advance(100)
        self.registry.set_component_state(self.build, "tool", "building")
        tool = self.registry.components(self.build)[1]
        self.assertEqual(
            (tool.started_at, tool.finished_at, tool.reason), (self.clock.now, None, None)
        )
        # Requeued (e.g. after a restart): no times at all.
        self.registry.set_component_state(self.build, "tool", "waiting")
        tool = self.registry.components(self.build)[1]
        self.assertEqual((tool.state, tool.started_at, tool.finished_at), ("waiting", None, None))
        self.registry.set_component_state(self.build, "tool", "cancelled")
        self.assertEqual(self.registry.components(self.build)[1].finished_at, self.clock.now)

    def test_state_survives_a_restart(self) -> None:
        self.registry.set_component_state(self.build, "lib", "building", buildbot_build_id=3)
        self.registry.set_component_state(self.build, "lib", "built", nvr="lib-1-1")
        self.registry.set_component_state(self.build, "tool", "building", buildbot_build_id=4)
        self.registry.dispose()
        after_restart = Registry(str(self.registry._engine.url))
        self.addCleanup(after_restart.dispose)
        after_restart.upgrade()
        states = {
            c.name: (c.state, c.nvr, c.buildbot_build_id)
            for c in after_restart.components(self.build)
        }
        self.assertEqual(
            states,
            {
                "lib": ("built", "lib-1-1", 3),
                "tool": ("building", None, 4),
                "app": ("waiting", None, None),
            },
        )

    def test_errors(self) -> None:
        e = self.assertRaises(
            InvalidState, self.registry.set_component_state, self.build, "lib", "done"
        )
        self.assertIn("unknown component state 'done'", str(e))
        self.assertIn("waiting, building, built", e.hint)
        e = self.assertRaises(
            NotFound, self.registry.set_component_state, self.build, "nope", "built"
        )
        self.assertIn(f"module build {self.build} has no component 'nope'", str(e))
        self.assertIn("app, lib, tool", e.hint)
        e = self.assertRaises(
            RegistryError, self.registry.add_components, self.build, [{"name": "x", "ref": "m"}]
        )
        self.assertIn("component x lacks package, commit", str(e))
        e = self.assertRaises(
            RegistryError, self.registry.add_components, self.build, [component("y", rationale="")]
        )
        self.assertIn("unknown keys rationale", str(e))
        e = self.assertRaises(
            RegistryError, self.registry.add_components, self.build, [component("z")] * 2
        )
        self.assertIn("component z given twice", str(e))
        e = self.assertRaises(
            RegistryError, self.registry.add_components, self.build, [component("lib")]
        )
        self.assertIn("already has component(s) lib", str(e))
        self.assertEqual(len(self.registry.components(self.build)), 3)

    def test_components_belong_to_their_build(self) -> None:
        other = create(self.registry, "other")
        self.registry.add_components(other, [component("lib")])
        self.registry.set_component_state(other, "lib", "building")
        self.assertEqual(self.registry.components(self.build)[0].state, "waiting")
        self.assertEqual(self.registry.components(other)[0].state, "building")
        self.assertEqual(self.registry.components(create(self.registry, "empty")), [])

    def test_artifacts_round_trip(self) -> None:
        self.assertEqual(self.registry.artifacts(self.build), {})
        self.registry.add_artifacts(
            self.build, "lib", ["lib-0:1.0-1.module_f39.x86_64", "lib-0:1.0-1.module_f39.src"]
        )
        self.registry.add_artifacts(self.build, "app", ["app-0:2-1.module_f39.noarch"])
        self.registry.add_artifacts(  # again after a restart: nothing twice
            self.build,
            "lib",
            ["lib-0:1.0-1.module_f39.x86_64", "lib-devel-0:1.0-1.module_f39.x86_64"],
        )
        self.assertEqual(
            self.registry.artifacts(self.build),
            {
                "lib": [
                    "lib-0:1.0-1.module_f39.x86_64",
                    "lib-0:1.0-1.module_f39.src",
                    "lib-devel-0:1.0-1.module_f39.x86_64",
                ],
                "app": ["app-0:2-1.module_f39.noarch"],
            },
        )
        self.assertRaises(NotFound, self.registry.add_artifacts, self.build, "nope", ["x"])
        self.assertRaises(TypeError, self.registry.add_artifacts, self.build, "lib", "x-1-1.src")


class Questions(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.registry = new_registry(self, self.clock)

    def built(
        self, package: str, seconds: float, state: str = "built", name: str | None = None
    ) -> None:
        """One module build with one component of ``package`` that took ``seconds``."""
        build = create(self.registry, f"m{len(self.registry.module_builds(limit=None))}")
        self.registry.add_components(build, [component(name or package, package=package)])
        self.registry.set_component_state(build, name or package, "building")
        self.clock.advance(seconds)
        self.registry.set_component_state(build, name or package, state)
        self.clock.advance(1)

    def test_duration_estimate_without_history(self) -> None:
        self.assertIsNone(self.registry.duration_estimate("gcc"))
        build = create(self.registry)
        self.registry.add_components(build, [component("gcc")])
        self.registry.set_component_state(build, "gcc", "building")
        self.assertIsNone(self.registry.duration_estimate("gcc"))  # not finished yet
        self.registry.set_component_state(build, "gcc", "reused", nvr="gcc-13-1")
        self.assertIsNone(self.registry.duration_estimate("gcc"))  # reused: no real build

    def test_duration_estimate_is_the_mean_of_the_last_five_built(self) -> None:
        for seconds in (1000, 2000, 10, 20, 30, 40, 50):
            self.built("gcc", seconds)
        self.built("gcc", 99999, state="failed")
        self.built("gcc", 77777, state="cancelled")
        self.built("other", 5)
        self.built("gcc", 60, name="gcc-compat")  # same package, another component name
        self.assertEqual(self.registry.duration_estimate("gcc"), (20 + 30 + 40 + 50 + 60) / 5)
        self.assertEqual(self.registry.duration_estimate("other"), 5.0)

    def test_modules_tracking(self) -> None:
        def module(name: str, stream: str, version: int, ref: str | None, **kw: Any) -> int:
            build = create(self.registry, name, stream, version=version, **kw)
            if ref is not None:
                self.registry.add_components(build, [component("glib2", ref=ref)])
            return build

        # Tracks: latest ready build of web:1 builds glib2 from main (two contexts).
        make_ready(self.registry, module("web", "1", 1, "f38"))
        make_ready(self.registry, module("web", "1", 2, "main"))
        make_ready(self.registry, module("web", "1", 2, "main", context="deadbeef"))
        make_ready(self.registry, module("web", "2", 5, "main"))
        # A newer build that is not ready yet does not change what is tracked.
        advance(self.registry, module("web", "2", 6, "other"), "wait", "build", "done")
        # Its latest ready build moved off main.
        make_ready(self.registry, module("db", "1", 1, "main"))
        make_ready(self.registry, module("db", "1", 2, "f39"))
        # Newest ready build has no glib2 at all.
        make_ready(self.registry, module("cli", "1", 1, "main"))
        make_ready(self.registry, module("cli", "1", 2, None))
        # Never ready, failed, or scratch.
        module("new", "1", 1, "main")
        self.registry.set_module_state(module("broken", "1", 1, "main"), "failed")
        make_ready(self.registry, module("scratchy", "1", 1, "main", scratch=True))

        self.assertEqual(
            self.registry.modules_tracking("glib2", "main"), [("web", "1"), ("web", "2")]
        )
        self.assertEqual(self.registry.modules_tracking("glib2", "f39"), [("db", "1")])
        self.assertEqual(self.registry.modules_tracking("glib2", "f38"), [])
        self.assertEqual(self.registry.modules_tracking("gtk3", "main"), [])


class Catalogue(unittest.TestCase):
    def setUp(self) -> None:
        self.registry = new_registry(self)

    def test_only_ready_builds_newest_first(self) -> None:
        old = create(self.registry, version=1, requires={"platform": ["f39"], "glib": []})
        new = create(self.registry, version=3)
        other_context = create(self.registry, version=3, context="deadbeef")
        create(self.registry, version=4)  # init
        done = create(self.registry, version=5)
        advance(self.registry, done, "wait", "build", "done")
        failed = create(self.registry, version=6)
        self.registry.set_module_state(failed, "failed")
        gone = create(self.registry, stream="0", version=1)
        make_ready(self.registry, gone)
        self.registry.set_module_state(gone, "garbage")
        make_ready(self.registry, create(self.registry, stream="1.scratch", scratch=True))
        make_ready(self.registry, create(self.registry, stream="2", version=2))
        for build in (old, new, other_context):
            make_ready(self.registry, build)

        catalogue = self.registry.catalogue()
        self.assertIsInstance(catalogue, ModuleCatalogue)
        self.assertEqual(catalogue.streams("hello"), ["1", "2"])
        self.assertEqual(catalogue.streams("nothing"), [])
        entries = catalogue.builds("hello", "1")
        self.assertEqual(
            [e.nsvc for e in entries],
            ["hello:1:3:deadbeef", "hello:1:3:c0ffee42", "hello:1:1:c0ffee42"],
        )
        self.assertEqual(
            entries[2],
            CatalogueEntry(
                "hello",
                "1",
                1,
                "c0ffee42",
                requires={"glib": (), "platform": ("f39",)},
                buildrequires={"platform": ("f39",)},
            ),
        )
        self.assertEqual(catalogue.builds("hello", "0"), [])
        self.assertEqual(catalogue.builds("nothing", "1"), [])

    def test_is_live(self) -> None:
        catalogue = self.registry.catalogue()
        build = create(self.registry)
        self.assertEqual(catalogue.streams("hello"), [])
        make_ready(self.registry, build)
        self.assertEqual(catalogue.streams("hello"), ["1"])

    def test_describe_hides_the_password(self) -> None:
        url = str(self.registry._engine.url)
        self.assertTrue(url.startswith("sqlite:///"))
        self.assertEqual(self.registry.catalogue().describe(), f"module registry at {url}")
        self.assertEqual(
            public_url("postgresql+psycopg2://bb:s3cret@db.example:5432/buildbot"),
            "postgresql+psycopg2://bb@db.example:5432/buildbot",
        )

    def test_dependency_expansion_resolves_against_the_registry(self) -> None:
        app = ModuleStream(
            name="app",
            stream="1",
            source="app.yaml",
            dependencies=[Dependencies({"hello": ()}, {"hello": ()})],
        )
        catalogue = self.registry.catalogue()
        e = self.assertRaises(ModuleError, expand, app, catalogue)
        self.assertIn("buildrequires hello: [] (every stream): no stream left", str(e))
        self.assertIn(f"available in module registry at {self.registry.url}: none", str(e))

        make_ready(self.registry, create(self.registry, stream="1"))
        advance(self.registry, create(self.registry, stream="2"), "wait", "build", "done")
        builds = expand(app, catalogue)
        self.assertEqual([b.buildrequires for b in builds], [{"hello": "1"}])
        self.assertEqual(builds[0].requires, {"hello": ("1",)})

        self.registry.set_module_state(self.registry.module_builds(stream="2")[0].id, "ready")
        builds = expand(app, catalogue)
        self.assertEqual([b.buildrequires for b in builds], [{"hello": "1"}, {"hello": "2"}])
        self.assertEqual(len({b.context for b in builds}), 2)


class Threads(unittest.TestCase):
    def run_threads(self, registry: Registry, count: int, per_thread: int) -> list[str]:
        errors: list[str] = []
        start = threading.Barrier(count)

        def work(number: int) -> None:
            try:
                start.wait()
                for i in range(per_thread):
                    build = create(registry, f"t{number}", version=i + 1)
                    registry.add_components(build, [component("a"), component("b", level=1)])
                    advance(registry, build, "wait", "build")
                    registry.set_component_state(build, "a", "building")
                    registry.set_component_state(build, "a", "built", nvr=f"a-{i}-1")
                    registry.add_artifacts(build, "a", [f"a-0:{i}-1.x86_64"])
                    registry.catalogue().streams(f"t{number}")
                    registry.duration_estimate("a")
                    advance(registry, build, "done", "ready")
            except Exception as e:
                errors.append(f"thread {number}: {e!r}")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        return errors

    def test_many_threads_on_one_sqlite_file(self) -> None:
        registry = new_registry(self)
        self.assertEqual(self.run_threads(registry, 8, 10), [])
        builds = registry.module_builds(limit=None)
        self.assertEqual(len(builds), 80)
        self.assertEqual({b.state for b in builds}, {"ready"})
        self.assertEqual(len({b.id for b in builds}), 80)
        self.assertEqual(registry.catalogue().builds("t3", "1")[0].version, 10)
        self.assertEqual(
            registry.artifacts(builds[0].id), {"a": [f"a-0:{builds[0].version - 1}-1.x86_64"]}
        )

    def test_in_memory_database_from_threads(self) -> None:
        registry = Registry("sqlite://")
        self.addCleanup(registry.dispose)
        registry.upgrade()
        self.assertEqual(self.run_threads(registry, 4, 5), [])
        self.assertEqual(len(registry.module_builds(limit=None)), 20)


class PostgreSQL(unittest.TestCase):
    def test_the_registry_on_postgresql(self) -> None:
        # A site's server when named, else a private cluster started for this test.
        url = os.environ.get(POSTGRESQL_URL_VARIABLE) or start_postgresql(self)
        registry = Registry(url)
        self.addCleanup(registry.dispose)
        if table_names(registry) & (TABLES - {VERSION_TABLE}):
            self.fail(f"PostgreSQL database {registry.url} is not empty: give a scratch database")
        registry.upgrade()

        def drop() -> None:
            with registry._write() as conn:
                config = registry.alembic_config()
                config.attributes["connection"] = conn
                command.downgrade(config, "base")
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {VERSION_TABLE}")

        self.addCleanup(drop)
        registry.upgrade()  # idempotent there too
        build = create(registry, version=MAX_VERSION, requires={"platform": ["f39"]})
        self.assertRaises(DuplicateBuild, create, registry, version=MAX_VERSION)
        registry.add_components(build, [component("lib"), component("app", after=["lib"])])
        registry.set_component_state(build, "lib", "building")
        registry.set_component_state(build, "lib", "built", nvr="lib-1-1")
        registry.add_artifacts(build, "lib", ["lib-0:1-1.x86_64"])
        make_ready(registry, build)
        record = registry.module_build(build)
        self.assertEqual(record.version, MAX_VERSION)
        self.assertEqual(record.started_at.tzinfo if record.started_at else None, UTC)
        self.assertEqual(registry.artifacts(build), {"lib": ["lib-0:1-1.x86_64"]})
        self.assertIsNotNone(registry.duration_estimate("lib"))
        self.assertEqual(registry.modules_tracking("lib", "main"), [("hello", "1")])
        self.assertEqual(registry.catalogue().builds("hello", "1")[0].version, MAX_VERSION)
        with registry._engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            self.assertEqual(compare_metadata(context, metadata), [])
