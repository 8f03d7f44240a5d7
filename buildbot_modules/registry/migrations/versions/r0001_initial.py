"""The module registry: module builds, their component builds and artifacts.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Written out rather than imported from schema.py, so this revision stays what it was
# when later revisions change the schema. MBS numbers: init 0 … garbage 6, failed 4.
COMPONENT_STATES = (
    "waiting",
    "building",
    "built",
    "failed",
    "dependency-failed",
    "cancelled",
    "reused",
)


def upgrade() -> None:
    """Create the three tables and their indexes."""
    op.create_table(
        "module_builds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("state", sa.SmallInteger(), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("scmurl", sa.Text(), nullable=False),
        sa.Column("commit_hash", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("buildrequires", sa.JSON(), nullable=False),
        sa.Column("requires", sa.JSON(), nullable=False),
        sa.Column("modulemd", sa.Text(), nullable=True),
        sa.Column("published_path", sa.Text(), nullable=True),
        sa.Column("scratch", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state >= 0 AND state <= 6", name=op.f("ck_module_builds_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_module_builds")),
    )
    op.create_index(
        op.f("ix_module_builds_name_stream_version"), "module_builds", ["name", "stream", "version"]
    )
    op.create_index(op.f("ix_module_builds_state"), "module_builds", ["state"])
    op.create_index(
        op.f("uq_module_builds_nsvc_live"),
        "module_builds",
        ["name", "stream", "version", "context"],
        unique=True,
        sqlite_where=sa.text("state <> 4"),
        postgresql_where=sa.text("state <> 4"),
    )

    op.create_table(
        "component_builds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("module_build_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("package", sa.Text(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("commit_hash", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("nvr", sa.Text(), nullable=True),
        sa.Column("buildafter", sa.JSON(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("buildbot_build_id", sa.Integer(), nullable=True),
        sa.Column("log_url", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in COMPONENT_STATES) + ")",
            name=op.f("ck_component_builds_state"),
        ),
        sa.ForeignKeyConstraint(
            ["module_build_id"],
            ["module_builds.id"],
            name=op.f("fk_component_builds_module_build_id_module_builds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_component_builds")),
        sa.UniqueConstraint(
            "module_build_id", "name", name=op.f("uq_component_builds_module_build_id_name")
        ),
    )
    op.create_index(
        op.f("ix_component_builds_package_state"), "component_builds", ["package", "state"]
    )

    op.create_table(
        "module_artifacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("component_build_id", sa.Integer(), nullable=False),
        sa.Column("nevra", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["component_build_id"],
            ["component_builds.id"],
            name=op.f("fk_module_artifacts_component_build_id_component_builds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_module_artifacts")),
        sa.UniqueConstraint(
            "component_build_id", "nevra", name=op.f("uq_module_artifacts_component_build_id_nevra")
        ),
    )


def downgrade() -> None:
    """Drop everything :func:`upgrade` created."""
    op.drop_table("module_artifacts")
    op.drop_index(op.f("ix_component_builds_package_state"), table_name="component_builds")
    op.drop_table("component_builds")
    op.drop_index(op.f("uq_module_builds_nsvc_live"), table_name="module_builds")
    op.drop_index(op.f("ix_module_builds_state"), table_name="module_builds")
    op.drop_index(op.f("ix_module_builds_name_stream_version"), table_name="module_builds")
    op.drop_table("module_builds")
