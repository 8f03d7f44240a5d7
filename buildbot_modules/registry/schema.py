"""The registry's tables (SQLAlchemy Core), as the migrations create them.

The migrations in ``migrations/versions`` are the source of truth for the database;
these definitions are what queries use, and the tests check that both agree. Nothing
here is specific to one database: text is ``Text``, JSON is ``sa.JSON`` (``JSON`` on
PostgreSQL, text on SQLite), times are ``DateTime(timezone=True)`` stored in UTC, the
one partial index is supported by SQLite and PostgreSQL alike.

Module versions are ``BigInteger`` (signed 64-bit): exact on every database and ordered
by the database, up to :data:`~.model.MAX_VERSION` (2**63 - 1); larger uint64 versions
are refused with a clear error. ``Numeric(20, 0)`` would hold all of uint64 on PostgreSQL,
but SQLite keeps integers above 2**63 - 1 as floating point (silently inexact) and
SQLAlchemy warns about decimals on SQLite, so it would not be the same schema everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from .model import COMPONENT_STATES, MODULE_STATES, RESULT_OUTCOMES

__all__ = [
    "FAILED_CODE",
    "VERSION_TABLE",
    "UTCDateTime",
    "artifacts",
    "components",
    "metadata",
    "module_builds",
    "results",
    "stream_eol",
    "stream_owners",
    "waivers",
]

VERSION_TABLE = "registry_alembic_version"
"""Alembic's version table for the registry (not ``alembic_version``, which Buildbot's own
database uses, so that both can share one database)."""

FAILED_CODE = MODULE_STATES["failed"]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that takes aware datetimes and gives them back in UTC.

    SQLite keeps no time zone, so values are converted to UTC before they are stored and
    marked UTC when read; PostgreSQL's ``timestamptz`` gets the same values.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; naive datetimes are refused (their zone is unknown)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the registry needs timezone-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """An aware UTC datetime."""
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_module_states_check = f"state >= {min(MODULE_STATES.values())} AND state <= " + str(
    max(MODULE_STATES.values())
)
_component_states_check = "state IN (" + ", ".join(f"'{s}'" for s in COMPONENT_STATES) + ")"
_outcomes_check = "outcome IN (" + ", ".join(f"'{o}'" for o in RESULT_OUTCOMES) + ")"

module_builds = sa.Table(
    "module_builds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("stream", sa.Text, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("context", sa.Text, nullable=False),
    sa.Column("state", sa.SmallInteger, nullable=False),
    sa.Column("state_reason", sa.Text, nullable=True),
    sa.Column("scmurl", sa.Text, nullable=False),
    sa.Column("commit_hash", sa.Text, nullable=False),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("buildrequires", sa.JSON, nullable=False),
    sa.Column("requires", sa.JSON, nullable=False),
    sa.Column("modulemd", sa.Text, nullable=True),
    sa.Column("published_path", sa.Text, nullable=True),
    sa.Column("scratch", sa.Boolean(create_constraint=False), nullable=False),
    sa.Column("submitted_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    # Revision 0002: gating decisions (decision context → Greenwave decision) and promotion.
    sa.Column("decisions", sa.JSON, nullable=True),
    sa.Column("promoted_at", UTCDateTime, nullable=True),
    sa.Column("promoted_by", sa.Text, nullable=True),
    sa.Column("production_path", sa.Text, nullable=True),
    # Revision 0004: the Buildbot build driving the module build now (resume, resubmit).
    sa.Column("driver_build", sa.Integer, nullable=True),
    sa.Column("rebuild_strategy", sa.Text, nullable=True),
    sa.CheckConstraint(_module_states_check, name="state"),
    sa.Index("ix_module_builds_name_stream_version", "name", "stream", "version"),
    sa.Index("ix_module_builds_state", "state"),
    # MBS's rule: one live (not failed) build per N:S:V:C.
    sa.Index(
        "uq_module_builds_nsvc_live",
        "name",
        "stream",
        "version",
        "context",
        unique=True,
        sqlite_where=sa.text(f"state <> {FAILED_CODE}"),
        postgresql_where=sa.text(f"state <> {FAILED_CODE}"),
    ),
)

components = sa.Table(
    "component_builds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "module_build_id",
        sa.Integer,
        sa.ForeignKey("module_builds.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("package", sa.Text, nullable=False),
    sa.Column("ref", sa.Text, nullable=False),
    sa.Column("commit_hash", sa.Text, nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("nvr", sa.Text, nullable=True),
    sa.Column("buildafter", sa.JSON, nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("buildbot_build_id", sa.Integer, nullable=True),
    sa.Column("log_url", sa.Text, nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    # Revision 0004: starts in this submission (bounded retries); where a reused one came from.
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("reused_from", sa.Integer, nullable=True),
    sa.CheckConstraint(_component_states_check, name="state"),
    sa.UniqueConstraint("module_build_id", "name"),
    sa.Index("ix_component_builds_package_state", "package", "state"),
)

artifacts = sa.Table(
    "module_artifacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "component_build_id",
        sa.Integer,
        sa.ForeignKey("component_builds.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("nevra", sa.Text, nullable=False),
    sa.UniqueConstraint("component_build_id", "nevra"),
)

# Revision 0002: test results (ResultsDB's shape), waivers (WaiverDB's) and streams' end of life.

results = sa.Table(
    "results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "module_build_id",
        sa.Integer,
        sa.ForeignKey("module_builds.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("testcase", sa.Text, nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("ref_url", sa.Text, nullable=True),
    sa.Column("item", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("submitted_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(_outcomes_check, name="outcome"),
    sa.Index("ix_results_item_testcase", "item", "testcase"),
    sa.Index("ix_results_module_build_id", "module_build_id"),
    sa.Index("ix_results_submitted_at", "submitted_at"),
)

waivers = sa.Table(
    "waivers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("item", sa.Text, nullable=False),
    sa.Column("testcase", sa.Text, nullable=False),
    sa.Column("waived", sa.Boolean(create_constraint=False), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("username", sa.Text, nullable=False),
    sa.Column("timestamp", UTCDateTime, nullable=False),
    sa.Index("ix_waivers_item_testcase", "item", "testcase"),
)

stream_eol = sa.Table(
    "stream_eol",
    metadata,
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("stream", sa.Text, nullable=False),
    sa.Column("eol", sa.Date, nullable=True),
    sa.Column("set_by", sa.Text, nullable=False),
    sa.Column("set_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("name", "stream"),
)

# Revision 0003: explicit owners of module streams (a JSON list of user names).

stream_owners = sa.Table(
    "stream_owners",
    metadata,
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("stream", sa.Text, nullable=False),
    sa.Column("owners", sa.JSON, nullable=False),
    sa.Column("set_by", sa.Text, nullable=False),
    sa.Column("set_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("name", "stream"),
)
