"""The registry's quality records (revision 0002): results, waivers, decisions, promotion,
streams' end of life — on SQLite and on PostgreSQL, and the migration from 0001 with data.
"""

from __future__ import annotations

import io
import os
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from twisted.trial import unittest

from buildbot_modules.checks.base import OUTCOMES
from buildbot_modules.registry import (
    RESULT_OUTCOMES,
    InvalidState,
    ModuleBuildRecord,
    NotFound,
    Registry,
    RegistryError,
    ResultRecord,
    StreamEOL,
    WaiverRecord,
    default_db_url,
    migrations_config,
)
from buildbot_modules.registry.schema import VERSION_TABLE, metadata

from .postgresql import start_postgresql
from .test_registry import T0, Clock, advance, component, create, make_ready, new_registry

QUALITY_TABLES = {"results", "waivers", "stream_eol"}
OLD_TABLES = {"module_builds", "component_builds", "module_artifacts"}
NEW_BUILD_COLUMNS = {"decisions", "promoted_at", "promoted_by", "production_path"}


def revision(registry: Registry) -> str | None:
    with registry._engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def schema_differences(registry: Registry) -> list[Any]:
    with registry._engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return list(compare_metadata(context, metadata))


def migrate(registry: Registry, target: str, *, down: bool = False) -> None:
    with registry._write() as conn:
        config = registry.alembic_config()
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, target)


def fill_revision_0001(registry: Registry) -> int:
    """A build with two components and an artifact, written with revision 0001's columns
    only (the registry's own methods need 0002's)."""
    with registry._write() as conn:
        build = conn.execute(
            sa.text(
                "INSERT INTO module_builds (name, stream, version, context, state, scmurl, "
                "commit_hash, owner, buildrequires, requires, scratch, submitted_at) VALUES "
                "('old', '1', 3920250101000000, 'c0ffee42', 5, 'https://src/old', 'abc', "
                '\'packager\', \'{"platform": "f39"}\', \'{"platform": ["f39"]}\', '
                ":scratch, :at) RETURNING id"
            ),
            {"scratch": False, "at": T0},
        ).scalar_one()
        for name in ("lib", "app"):
            conn.execute(
                sa.text(
                    "INSERT INTO component_builds (module_build_id, name, package, ref, "
                    "commit_hash, state, nvr, buildafter, level) VALUES "
                    "(:b, :n, :n, 'main', 'c', 'built', :nvr, '[]', 0)"
                ),
                {"b": build, "n": name, "nvr": f"{name}-1-1"},
            )
        lib = conn.execute(
            sa.text("SELECT id FROM component_builds WHERE name = 'lib'")
        ).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO module_artifacts (component_build_id, nevra) VALUES "
                "(:c, 'lib-0:1-1.x86_64')"
            ),
            {"c": lib},
        )
    return int(build)


HEAD = "0004"  # the newest revision (registry.upgrade() goes there); 0002 added quality


def check_migration_keeps_data(case: unittest.TestCase, registry: Registry) -> int:
    """0001 with rows → 0002 keeps them; 0002 → 0001 keeps them again; back to 0002."""
    migrate(registry, "0001")
    case.assertEqual(revision(registry), "0001")
    old = fill_revision_0001(registry)
    registry.upgrade()
    case.assertEqual(revision(registry), HEAD)
    record = registry.module_build(old)
    case.assertEqual((record.nsvc, record.state), ("old:1:3920250101000000:c0ffee42", "ready"))
    case.assertEqual(record.buildrequires, {"platform": "f39"})
    case.assertEqual(
        (record.decisions, record.promoted_at, record.promoted_by, record.production_path),
        ({}, None, None, None),
    )
    case.assertEqual([c.nvr for c in registry.components(old)], ["lib-1-1", "app-1-1"])
    case.assertEqual(registry.artifacts(old), {"lib": ["lib-0:1-1.x86_64"]})
    case.assertEqual(registry.catalogue().builds("old", "1")[0].context, "c0ffee42")
    registry.add_result(old, "modules.rpmlint", "PASSED")
    # Down to 0001: the quality tables go, module builds and their components stay (no
    # table copy of module_builds, whose ON DELETE CASCADE would empty component_builds).
    migrate(registry, "0001", down=True)
    inspector = sa.inspect(registry._engine)
    case.assertFalse(QUALITY_TABLES & set(inspector.get_table_names()))
    columns = {c["name"] for c in inspector.get_columns("module_builds")}
    case.assertFalse(NEW_BUILD_COLUMNS & columns)
    with registry._engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM component_builds")).scalar_one()
        case.assertEqual(count, 2)
    registry.upgrade()
    case.assertEqual(registry.module_build(old).name, "old")
    case.assertEqual(schema_differences(registry), [])
    return old


class Migration(unittest.TestCase):
    def test_head_has_the_quality_tables(self) -> None:
        registry = new_registry(self)
        self.assertEqual(revision(registry), HEAD)
        tables = set(sa.inspect(registry._engine).get_table_names())
        self.assertEqual(tables, OLD_TABLES | QUALITY_TABLES | {"stream_owners", VERSION_TABLE})
        columns = {c["name"] for c in sa.inspect(registry._engine).get_columns("module_builds")}
        self.assertLessEqual(NEW_BUILD_COLUMNS, columns)

    def test_schema_py_matches_the_migrations(self) -> None:
        self.assertEqual(schema_differences(new_registry(self)), [])

    def test_upgrade_from_0001_keeps_existing_rows_and_downgrade_keeps_them_too(self) -> None:
        folder = self.mktemp()
        os.makedirs(folder)
        registry = Registry(default_db_url(folder))
        self.addCleanup(registry.dispose)
        check_migration_keeps_data(self, registry)

    def test_postgresql_sql_of_0002(self) -> None:
        config = migrations_config("postgresql://bbmod@localhost/registry")
        out = io.StringIO()
        config.output_buffer = out
        command.upgrade(config, "0001:0002", sql=True)
        sql = out.getvalue()
        self.assertIn("ALTER TABLE module_builds ADD COLUMN decisions JSON", sql)
        self.assertIn(
            "ALTER TABLE module_builds ADD COLUMN promoted_at TIMESTAMP WITH TIME ZONE", sql
        )
        self.assertIn("CREATE TABLE results", sql)
        self.assertIn(
            "CONSTRAINT ck_results_outcome CHECK (outcome IN "
            "('PASSED', 'INFO', 'FAILED', 'NEEDS_INSPECTION'))",
            sql,
        )
        self.assertIn("REFERENCES module_builds (id) ON DELETE CASCADE", sql)
        self.assertIn("eol DATE", sql)
        self.assertIn("CONSTRAINT pk_stream_eol PRIMARY KEY (name, stream)", sql)
        self.assertNotIn("module_builds_tmp", sql)  # no batch copy of module_builds
        for sqlite_only in ("AUTOINCREMENT", "DATETIME", "PRAGMA"):
            self.assertNotIn(sqlite_only, sql)

    def test_outcomes_are_resultsdb_s_and_the_checks(self) -> None:
        self.assertEqual(RESULT_OUTCOMES, ("PASSED", "INFO", "FAILED", "NEEDS_INSPECTION"))
        self.assertEqual(set(OUTCOMES), set(RESULT_OUTCOMES))

    def test_records_made_without_the_new_fields_still_work(self) -> None:
        record = ModuleBuildRecord(
            id=1,
            name="n",
            stream="s",
            version=1,
            context="c",
            state="init",
            state_reason=None,
            scmurl="u",
            commit="c",
            owner="o",
            buildrequires={},
            requires={},
            modulemd=None,
            published_path=None,
            submitted_at=T0,
            started_at=None,
            finished_at=None,
            scratch=False,
        )
        self.assertEqual(record.decisions, {})
        self.assertIsNone(record.promoted_at)
        hash(record)


class Results(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.registry = new_registry(self, self.clock)
        self.build = create(self.registry, "nodejs", "20", version=3920251125202037)
        self.nsvc = "nodejs:20:3920251125202037:c0ffee42"

    def test_round_trip(self) -> None:
        details = [{"item": "nodejs-20.1-1.x86_64", "outcome": "FAILED", "note": "E: x"}]
        record = self.registry.add_result(
            self.build,
            "modules.rpmlint",
            "FAILED",
            note="1 package with errors",
            ref_url="http://master/#/builders/1/builds/2",
            data={"arch": "x86_64", "details": details},
        )
        self.assertIsInstance(record, ResultRecord)
        self.assertEqual(record.module_build_id, self.build)
        self.assertEqual((record.testcase, record.outcome), ("modules.rpmlint", "FAILED"))
        self.assertEqual(record.note, "1 package with errors")
        self.assertEqual(record.ref_url, "http://master/#/builders/1/builds/2")
        self.assertEqual((record.item, record.type), (self.nsvc, "redhat-module"))
        self.assertEqual(record.data, {"arch": "x86_64", "details": details})
        self.assertEqual(record.submitted_at, T0)
        self.assertEqual(record.submitted_at.tzinfo, UTC)
        self.assertIsNone(record.scenario)
        self.assertEqual(self.registry.result(record.id), record)
        self.assertEqual(self.registry.results(), [record])
        hash(record)

    def test_defaults_and_lower_case_outcome(self) -> None:
        record = self.registry.add_result(self.build, "modules.install", "passed")
        self.assertEqual((record.outcome, record.note, record.ref_url), ("PASSED", "", None))
        self.assertEqual(record.data, {})
        for outcome in RESULT_OUTCOMES:
            self.assertEqual(self.registry.add_result(self.build, "t", outcome).outcome, outcome)

    def test_invalid_results_are_clear_errors(self) -> None:
        e = self.assertRaises(
            RegistryError, self.registry.add_result, self.build, "modules.rpmlint", "ERROR"
        )
        self.assertIn("result of modules.rpmlint has unknown outcome 'ERROR'", str(e))
        self.assertIn("PASSED, INFO, FAILED, NEEDS_INSPECTION", str(e))
        e = self.assertRaises(RegistryError, self.registry.add_result, self.build, " ", "PASSED")
        self.assertIn("result without a test case name", str(e))
        e = self.assertRaises(
            RegistryError, self.registry.add_result, self.build, "t", "PASSED", data={"a:b": 1}
        )
        self.assertIn("result data key(s) a:b not allowed", str(e))
        e = self.assertRaises(
            RegistryError, self.registry.add_result, self.build, "t", "PASSED", data={"item": "x"}
        )
        self.assertIn("item", str(e))
        e = self.assertRaises(
            RegistryError,
            self.registry.add_result,
            self.build,
            "t",
            "PASSED",
            data={"when": datetime.now(UTC)},
        )
        self.assertIn("result data is not JSON", str(e))
        e = self.assertRaises(NotFound, self.registry.add_result, 99, "t", "PASSED")
        self.assertIn("no module build with id 99", str(e))
        e = self.assertRaises(NotFound, self.registry.result, 42)
        self.assertIn("no test result with id 42", str(e))
        self.assertEqual(self.registry.results(), [])

    def test_the_database_refuses_unknown_outcomes_too(self) -> None:
        with self.assertRaises(sa.exc.IntegrityError), self.registry._write() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO results (module_build_id, testcase, outcome, note, item, "
                    "type, data, submitted_at) VALUES (:b, 't', 'ERROR', '', 'i', 'redhat-module', "
                    "'{}', :at)"
                ),
                {"b": self.build, "at": T0},
            )

    def add(self, testcase: str, outcome: str, build: int | None = None, **data: Any) -> int:
        self.clock.advance(10)
        return self.registry.add_result(build or self.build, testcase, outcome, data=data).id

    def test_listing_is_newest_first_and_filters(self) -> None:
        other = create(self.registry, "perl", "5.38")
        a = self.add("modules.rpmlint", "FAILED")
        b = self.add("modules.install", "PASSED", arch="x86_64")
        c = self.add("modules.rpmlint", "PASSED", other)
        d = self.add("modules.rpmlint", "PASSED")

        def ids(**kw: Any) -> list[int]:
            return [r.id for r in self.registry.results(**kw)]

        self.assertEqual(ids(), [d, c, b, a])
        self.assertEqual(ids(module_build_id=self.build), [d, b, a])
        self.assertEqual(ids(item=self.nsvc), [d, b, a])
        self.assertEqual(ids(item=[self.nsvc, "perl:5.38:1:c0ffee42"]), [d, c, b, a])
        self.assertEqual(ids(item="nope:1:1:c"), [])
        self.assertEqual(ids(testcases=["modules.install"]), [b])
        self.assertEqual(ids(outcomes=["failed"]), [a])
        self.assertEqual(ids(type="redhat-module"), [d, c, b, a])
        self.assertEqual(ids(type="koji_build"), [])
        self.assertEqual(ids(since=T0 + timedelta(seconds=20)), [d, c, b])
        self.assertEqual(ids(until=T0 + timedelta(seconds=20)), [b, a])
        self.assertEqual(ids(limit=2), [d, c])
        self.assertEqual(ids(limit=2, offset=2), [b, a])
        self.assertEqual(ids(offset=3), [a])

    def test_latest_only_is_the_newest_per_item_and_testcase(self) -> None:
        other = create(self.registry, "perl", "5.38")
        a = self.add("modules.rpmlint", "PASSED")
        b = self.add("modules.rpmlint", "FAILED")
        c = self.add("modules.install", "FAILED")
        d = self.add("modules.rpmlint", "PASSED", other)
        e = self.add("modules.install", "PASSED")

        def ids(**kw: Any) -> list[int]:
            return [r.id for r in self.registry.results(latest_only=True, **kw)]

        self.assertEqual(ids(), [e, d, b])
        self.assertEqual(ids(item=self.nsvc), [e, b])
        # outcomes applies after: "whose latest result failed", not "latest failure".
        self.assertEqual(ids(outcomes=["FAILED"]), [b])
        self.assertNotIn(c, ids(outcomes=["FAILED"]))
        # other filters apply before: the latest among rpmlint results up to b's time.
        self.assertEqual(ids(testcases=["modules.rpmlint"], until=T0 + timedelta(seconds=20)), [b])
        self.assertEqual(ids(testcases=["modules.rpmlint"], until=T0 + timedelta(seconds=10)), [a])

    def test_latest_only_with_equal_times_takes_the_later_id(self) -> None:
        first = self.registry.add_result(self.build, "t", "FAILED").id
        second = self.registry.add_result(self.build, "t", "PASSED").id
        self.assertLess(first, second)
        self.assertEqual([r.id for r in self.registry.results(latest_only=True)], [second])
        self.assertEqual([r.id for r in self.registry.results()], [second, first])

    def test_scenario_from_data(self) -> None:
        record = self.registry.add_result(self.build, "t", "PASSED", data={"scenario": "x86_64"})
        self.assertEqual(record.scenario, "x86_64")


class Waivers(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.registry = new_registry(self, self.clock)
        self.nsvc = "nodejs:20:3920251125202037:c0ffee42"

    def test_waive_and_revoke(self) -> None:
        waiver = self.registry.add_waiver(
            self.nsvc, "modules.rpmlint", "  known false positive  ", "alice"
        )
        self.assertIsInstance(waiver, WaiverRecord)
        self.assertEqual(
            (waiver.item, waiver.testcase, waiver.waived, waiver.comment, waiver.username),
            (self.nsvc, "modules.rpmlint", True, "known false positive", "alice"),
        )
        self.assertEqual(waiver.timestamp, T0)
        self.clock.advance(60)
        revoked = self.registry.add_waiver(
            self.nsvc, "modules.rpmlint", "fixed upstream", "bob", waived=False
        )
        self.assertFalse(revoked.waived)
        self.assertEqual(self.registry.waivers(self.nsvc), [revoked, waiver])
        self.assertEqual(self.registry.waivers(self.nsvc, effective_only=True), [revoked])
        hash(waiver)

    def test_filters_and_effective_ones(self) -> None:
        other = "perl:5.38:1:c0ffee42"
        w1 = self.registry.add_waiver(self.nsvc, "a", "why", "alice")
        self.clock.advance(1)
        w2 = self.registry.add_waiver(self.nsvc, "b", "why", "alice")
        self.clock.advance(1)
        w3 = self.registry.add_waiver(other, "a", "why", "alice")
        self.clock.advance(1)
        w4 = self.registry.add_waiver(self.nsvc, "a", "no longer", "bob", waived=False)
        self.assertEqual(self.registry.waivers(), [w4, w3, w2, w1])
        self.assertEqual(self.registry.waivers(testcase="a"), [w4, w3, w1])
        self.assertEqual(self.registry.waivers(self.nsvc, "a"), [w4, w1])
        self.assertEqual(self.registry.waivers(effective_only=True), [w4, w3, w2])
        self.assertEqual(self.registry.waivers("x:y:1:z"), [])

    def test_comment_and_who_are_required(self) -> None:
        for comment in ("", "   "):
            e = self.assertRaises(
                RegistryError, self.registry.add_waiver, self.nsvc, "t", comment, "alice"
            )
            self.assertIn(f"waiver of t for {self.nsvc}: the comment is empty", str(e))
            self.assertIn("say why", str(e))
        e = self.assertRaises(RegistryError, self.registry.add_waiver, self.nsvc, "t", "why", "")
        self.assertIn("waiver without username", str(e))
        e = self.assertRaises(RegistryError, self.registry.add_waiver, self.nsvc, "", "why", "a")
        self.assertIn("waiver without testcase", str(e))
        e = self.assertRaises(RegistryError, self.registry.add_waiver, "nodejs-20", "t", "w", "a")
        self.assertIn("not a module build's NSVC", str(e))
        self.assertEqual(self.registry.waivers(), [])


class DecisionsAndPromotion(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.registry = new_registry(self, self.clock)
        self.build = create(self.registry)

    def test_the_last_decision_per_context_is_kept(self) -> None:
        first = {"policies_satisfied": False, "summary": "Of 1 required test, 1 test failed"}
        self.registry.record_decision(self.build, "modules_push_stable", first)
        self.registry.record_decision(
            self.build, "modules_push_testing", {"policies_satisfied": True}
        )
        again = {"policies_satisfied": True, "summary": "All required tests (1 total) have …"}
        self.registry.record_decision(self.build, "modules_push_stable", again)
        self.assertEqual(
            self.registry.module_build(self.build).decisions,
            {"modules_push_stable": again, "modules_push_testing": {"policies_satisfied": True}},
        )

    def test_decision_errors(self) -> None:
        e = self.assertRaises(RegistryError, self.registry.record_decision, self.build, "", {})
        self.assertIn("decision without a decision context", str(e))
        e = self.assertRaises(
            RegistryError, self.registry.record_decision, self.build, "c", {"at": date.today()}
        )
        self.assertIn("decision is not JSON", str(e))
        self.assertRaises(NotFound, self.registry.record_decision, 99, "c", {})

    def test_promotion(self) -> None:
        advance(self.registry, self.build, "wait", "build", "done")
        self.clock.advance(30)
        self.registry.set_promoted(self.build, "/srv/production/hello/1", "releng")
        record = self.registry.module_build(self.build)
        self.assertEqual(record.promoted_at, T0 + timedelta(seconds=30))
        self.assertEqual(record.promoted_by, "releng")
        self.assertEqual(record.production_path, "/srv/production/hello/1")
        self.assertEqual(record.state, "done")  # promotion does not change the state
        self.registry.set_module_state(self.build, "ready")
        self.clock.advance(30)
        self.registry.set_promoted(self.build, "/srv/production/hello/1b", "alice")
        record = self.registry.module_build(self.build)
        self.assertEqual(
            (record.promoted_by, record.production_path), ("alice", "/srv/production/hello/1b")
        )

    def test_only_done_or_ready_builds_are_promoted(self) -> None:
        e = self.assertRaises(InvalidState, self.registry.set_promoted, self.build, "/p", "releng")
        self.assertIn(f"module build {self.build} (hello:1:1:c0ffee42) is init", str(e))
        self.assertIn("only done or ready builds are promoted", str(e))
        self.registry.set_module_state(self.build, "failed")
        self.assertRaises(InvalidState, self.registry.set_promoted, self.build, "/p", "releng")
        other = create(self.registry, stream="2")
        make_ready(self.registry, other)
        e = self.assertRaises(RegistryError, self.registry.set_promoted, other, "", "releng")
        self.assertIn("promotion without production path", str(e))
        self.assertRaises(RegistryError, self.registry.set_promoted, other, "/p", " ")
        self.assertRaises(NotFound, self.registry.set_promoted, 99, "/p", "releng")
        self.assertIsNone(self.registry.module_build(other).promoted_at)


class EndOfLife(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.registry = new_registry(self, self.clock)

    def test_set_change_clear(self) -> None:
        self.assertIsNone(self.registry.eol("nodejs", "20"))
        self.registry.set_eol("nodejs", "20", date(2026, 4, 30), "releng")
        self.assertEqual(self.registry.eol("nodejs", "20"), date(2026, 4, 30))
        self.assertIsNone(self.registry.eol("nodejs", "18"))
        self.clock.advance(60)
        self.registry.set_eol("nodejs", "20", date(2026, 10, 31), "alice")
        self.registry.set_eol("nodejs", "18", date(2025, 4, 30), "alice")
        self.registry.set_eol("perl", "5.38", date(2027, 1, 1), "alice")
        self.assertEqual(self.registry.eol("nodejs", "20"), date(2026, 10, 31))
        self.assertEqual(
            self.registry.stream_eols("nodejs"),
            [
                StreamEOL("nodejs", "18", date(2025, 4, 30), "alice", T0 + timedelta(seconds=60)),
                StreamEOL("nodejs", "20", date(2026, 10, 31), "alice", T0 + timedelta(seconds=60)),
            ],
        )
        self.assertEqual(len(self.registry.stream_eols()), 3)
        self.registry.set_eol("nodejs", "20", None, "bob")
        self.assertIsNone(self.registry.eol("nodejs", "20"))
        self.assertEqual(self.registry.stream_eols("nodejs")[1].set_by, "bob")

    def test_errors(self) -> None:
        e = self.assertRaises(
            RegistryError, self.registry.set_eol, "n", "s", datetime(2026, 1, 1, tzinfo=UTC), "a"
        )
        self.assertIn("is not a date", str(e))
        self.assertRaises(RegistryError, self.registry.set_eol, "n", "s", "2026-01-01", "a")
        e = self.assertRaises(RegistryError, self.registry.set_eol, "n", "s", None, "")
        self.assertIn("empty username", str(e))
        self.assertRaises(RegistryError, self.registry.set_eol, "", "s", None, "a")
        self.assertEqual(self.registry.stream_eols(), [])


class PostgreSQL(unittest.TestCase):
    def test_quality_records_on_postgresql(self) -> None:
        url = os.environ.get("BBMOD_TEST_POSTGRESQL_URL") or start_postgresql(self)
        clock = Clock()
        registry = Registry(url, clock=clock)
        self.addCleanup(registry.dispose)
        if set(sa.inspect(registry._engine).get_table_names()) & (OLD_TABLES | QUALITY_TABLES):
            self.fail(f"PostgreSQL database {registry.url} is not empty: give a scratch database")

        def drop() -> None:
            migrate(registry, "base", down=True)
            with registry._write() as conn:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {VERSION_TABLE}")

        self.addCleanup(drop)
        old = check_migration_keeps_data(self, registry)
        registry.upgrade()  # idempotent

        build = create(registry, version=3920251125202037)
        clock.advance(1)
        failed = registry.add_result(build, "modules.rpmlint", "FAILED", data={"arch": "x86_64"})
        clock.advance(1)
        passed = registry.add_result(build, "modules.rpmlint", "info")
        clock.advance(1)
        registry.add_result(old, "modules.rpmlint", "NEEDS_INSPECTION")
        self.assertEqual(passed.outcome, "INFO")
        self.assertEqual(registry.result(failed.id).data, {"arch": "x86_64"})
        self.assertEqual(
            [r.id for r in registry.results(module_build_id=build)], [passed.id, failed.id]
        )
        latest = registry.results(latest_only=True)
        self.assertEqual([r.item for r in latest][1:], [passed.item])
        self.assertEqual(len(latest), 2)
        self.assertEqual(
            [r.outcome for r in registry.results(latest_only=True, outcomes=["NEEDS_INSPECTION"])],
            ["NEEDS_INSPECTION"],
        )
        self.assertEqual(registry.results(since=clock.now + timedelta(seconds=1)), [])
        self.assertRaises(RegistryError, registry.add_result, build, "t", "ERROR")

        nsvc = registry.module_build(build).nsvc
        waiver = registry.add_waiver(nsvc, "modules.rpmlint", "false positive", "alice")
        clock.advance(1)
        revoked = registry.add_waiver(nsvc, "modules.rpmlint", "not any more", "bob", waived=False)
        self.assertEqual(registry.waivers(nsvc), [revoked, waiver])
        self.assertEqual(registry.waivers(effective_only=True), [revoked])

        registry.record_decision(build, "ctx", {"policies_satisfied": True, "summary": "x"})
        make_ready(registry, build)
        registry.set_promoted(build, "/srv/production/hello", "releng")
        record = registry.module_build(build)
        self.assertEqual(record.decisions, {"ctx": {"policies_satisfied": True, "summary": "x"}})
        self.assertEqual(record.promoted_at.tzinfo if record.promoted_at else None, UTC)

        registry.set_eol("hello", "1", date(2026, 1, 31), "releng")
        registry.set_eol("hello", "1", date(2026, 2, 28), "releng")
        self.assertEqual(registry.eol("hello", "1"), date(2026, 2, 28))
        registry.set_eol("hello", "1", None, "releng")
        self.assertIsNone(registry.eol("hello", "1"))
        registry.add_components(build, [component("lib")])
        self.assertEqual(schema_differences(registry), [])
