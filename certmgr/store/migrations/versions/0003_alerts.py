"""Monitoring: alert state, alerts sent (unique per fact, recipient and channel), job runs,
service leases.

Column types are spelled out (frozen revision): UTCDateTime is DateTime(timezone=True).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alert_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("lowest_threshold", sa.Integer(), nullable=True),
        sa.Column("last_kind", sa.String(), nullable=True),
        sa.Column("last_alert_at", _WHEN, nullable=True),
        sa.Column("acknowledged_at", _WHEN, nullable=True),
        sa.Column("acknowledged_by", sa.String(), nullable=True),
        sa.Column("snoozed_until", _WHEN, nullable=True),
        sa.Column("escalated_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificate.id"],
                                name=op.f("fk_alert_state_certificate_id_certificate")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_state")),
        sa.UniqueConstraint("certificate_id", name=op.f("uq_alert_state_certificate_id")),
    )
    op.create_table(
        "alert_sent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedup_key", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("mailbox", sa.String(), nullable=True),
        sa.Column("certificate_fingerprint", sa.String(), nullable=True),
        sa.Column("threshold", sa.Integer(), nullable=True),
        sa.Column("sent_at", _WHEN, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_sent")),
        sa.UniqueConstraint("dedup_key", "recipient", "channel",
                            name=op.f("uq_alert_sent_dedup_key_recipient_channel")),
    )
    with op.batch_alter_table("alert_sent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_sent_dedup_key"), ["dedup_key"])
        batch_op.create_index(batch_op.f("ix_alert_sent_certificate_fingerprint"),
                              ["certificate_fingerprint"])
        batch_op.create_index(batch_op.f("ix_alert_sent_sent_at"), ["sent_at"])
    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(), nullable=False),
        sa.Column("started_at", _WHEN, nullable=False),
        sa.Column("finished_at", _WHEN, nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("details", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_run")),
    )
    with op.batch_alter_table("job_run", schema=None) as batch_op:
        batch_op.create_index("ix_job_run_job_started_at", ["job", "started_at"])
    op.create_table(
        "service_lease",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("acquired_at", _WHEN, nullable=False),
        sa.Column("renewed_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_lease")),
    )


def downgrade() -> None:
    op.drop_table("service_lease")
    op.drop_table("job_run")
    op.drop_table("alert_sent")
    op.drop_table("alert_state")
