"""Quality: test results, waivers, gating decisions, promotion, streams' end of life.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-01

Adds the tables ``results`` (ResultsDB's shape), ``waivers`` (WaiverDB's) and
``stream_eol``, and the columns ``decisions``, ``promoted_at``, ``promoted_by`` and
``production_path`` of ``module_builds``. Existing rows are kept; the new columns are
nullable (``NULL`` reads as "no decision yet" and "not promoted").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# Written out rather than imported from model.py, so this revision stays what it was.
RESULT_OUTCOMES = ("PASSED", "INFO", "FAILED", "NEEDS_INSPECTION")

MODULE_BUILD_COLUMNS = ("decisions", "promoted_at", "promoted_by", "production_path")


def upgrade() -> None:
    """Add the three tables and the module build columns."""
    # ADD COLUMN of a nullable column without a default: plain ALTER TABLE everywhere
    # (SQLite included), so module_builds is not copied and its rows stay as they are.
    op.add_column("module_builds", sa.Column("decisions", sa.JSON(), nullable=True))
    op.add_column(
        "module_builds", sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("module_builds", sa.Column("promoted_by", sa.Text(), nullable=True))
    op.add_column("module_builds", sa.Column("production_path", sa.Text(), nullable=True))

    op.create_table(
        "results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("module_build_id", sa.Integer(), nullable=False),
        sa.Column("testcase", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("ref_url", sa.Text(), nullable=True),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN (" + ", ".join(f"'{o}'" for o in RESULT_OUTCOMES) + ")",
            name=op.f("ck_results_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["module_build_id"],
            ["module_builds.id"],
            name=op.f("fk_results_module_build_id_module_builds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_results")),
    )
    op.create_index(op.f("ix_results_item_testcase"), "results", ["item", "testcase"])
    op.create_index(op.f("ix_results_module_build_id"), "results", ["module_build_id"])
    op.create_index(op.f("ix_results_submitted_at"), "results", ["submitted_at"])

    op.create_table(
        "waivers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("testcase", sa.Text(), nullable=False),
        sa.Column("waived", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waivers")),
    )
    op.create_index(op.f("ix_waivers_item_testcase"), "waivers", ["item", "testcase"])

    op.create_table(
        "stream_eol",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("eol", sa.Date(), nullable=True),
        sa.Column("set_by", sa.Text(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", "stream", name=op.f("pk_stream_eol")),
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` added (the results, waivers and end-of-life dates go)."""
    op.drop_table("stream_eol")
    op.drop_index(op.f("ix_waivers_item_testcase"), table_name="waivers")
    op.drop_table("waivers")
    op.drop_index(op.f("ix_results_submitted_at"), table_name="results")
    op.drop_index(op.f("ix_results_module_build_id"), table_name="results")
    op.drop_index(op.f("ix_results_item_testcase"), table_name="results")
    op.drop_table("results")
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35 and later, PostgreSQL): no batch copy
    # of module_builds, whose rows component_builds references with ON DELETE CASCADE.
    for column in reversed(MODULE_BUILD_COLUMNS):
        op.drop_column("module_builds", column)
