"""Endpoint probes: each mailbox's endpoint port and protocol, and the probe results.

Column types are spelled out (frozen revision): UTCDateTime is DateTime(timezone=True).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "mailbox_endpoint",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("starttls", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailbox.id"],
                                name=op.f("fk_mailbox_endpoint_mailbox_id_mailbox")),
        sa.PrimaryKeyConstraint("mailbox_id", name=op.f("pk_mailbox_endpoint")),
    )
    op.create_table(
        "probe_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("starttls", sa.String(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("tls_version", sa.String(), nullable=True),
        sa.Column("cipher", sa.String(), nullable=True),
        sa.Column("server_not_after", _WHEN, nullable=True),
        sa.Column("server_fingerprint", sa.String(), nullable=True),
        sa.Column("client_outcome", sa.String(), nullable=True),
        sa.Column("codes", _JSON, nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailbox.id"],
                                name=op.f("fk_probe_result_mailbox_id_mailbox")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_probe_result")),
    )
    with op.batch_alter_table("probe_result", schema=None) as batch_op:
        batch_op.create_index("ix_probe_result_mailbox_id_at", ["mailbox_id", "at"])


def downgrade() -> None:
    op.drop_table("probe_result")
    op.drop_table("mailbox_endpoint")
