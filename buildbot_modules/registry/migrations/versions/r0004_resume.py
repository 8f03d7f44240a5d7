"""Resuming module builds: who drives a build now, attempts, and where reused parts came from.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

Adds ``module_builds.driver_build`` (the Buildbot build now driving the module build: a
resumed or resubmitted build takes it over, and component builds requested by an earlier
driver stand down), ``module_builds.rebuild_strategy`` (the one its plan used),
``component_builds.attempts`` (how many times the component build started in this
submission: bounded retries after a lost worker) and ``component_builds.reused_from``
(the module build a ``reused`` component was taken from).
Existing rows are kept: ``NULL`` driver and source, 0 attempts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the three columns (plain ADD COLUMN everywhere; nothing is copied)."""
    op.add_column("module_builds", sa.Column("driver_build", sa.Integer(), nullable=True))
    op.add_column("module_builds", sa.Column("rebuild_strategy", sa.Text(), nullable=True))
    op.add_column(
        "component_builds",
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column("component_builds", sa.Column("reused_from", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Drop the three columns (drivers, attempt counts and reuse sources are lost)."""
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35 and later, PostgreSQL): a batch copy
    # of module_builds would empty component_builds through ON DELETE CASCADE.
    op.drop_column("component_builds", "reused_from")
    op.drop_column("component_builds", "attempts")
    op.drop_column("module_builds", "rebuild_strategy")
    op.drop_column("module_builds", "driver_build")
