"""Owners of module streams.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-15

Adds the table ``stream_owners``: the explicit owners (a JSON list of user names) of a
module stream, who set them and when. A stream without a row is owned by the owners of
its builds (:meth:`buildbot_modules.registry.Registry.owners`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``stream_owners``."""
    op.create_table(
        "stream_owners",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("owners", sa.JSON(), nullable=False),
        sa.Column("set_by", sa.Text(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", "stream", name=op.f("pk_stream_owners")),
    )


def downgrade() -> None:
    """Drop ``stream_owners`` (explicit owners are lost; build owners remain)."""
    op.drop_table("stream_owners")
