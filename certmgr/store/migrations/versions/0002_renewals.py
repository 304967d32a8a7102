"""Renewals (key + CSR -> ANS order -> issued -> active) and revocation codes.

Only adds tables. Column types are spelled out (frozen revision): UTCDateTime is
DateTime(timezone=True).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)
_STATES = ("CSR_READY", "ORDERED", "ISSUED", "ACTIVE", "REJECTED", "ABANDONED")
_OPEN = "state IN ('CSR_READY', 'ORDERED', 'ISSUED')"


def upgrade() -> None:
    op.create_table(
        "renewal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.Enum(*_STATES, name="state", native_enum=False,
                                   create_constraint=True, length=32), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("csr_pem", sa.Text(), nullable=False),
        sa.Column("csr_path", sa.String(), nullable=True),
        sa.Column("profile", sa.String(), nullable=False),
        sa.Column("ordered_at", _WHEN, nullable=True),
        sa.Column("ordered_by", sa.String(), nullable=True),
        sa.Column("order_ref", sa.String(), nullable=True),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("activated_at", _WHEN, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificate.id"],
                                name=op.f("fk_renewal_certificate_id_certificate")),
        sa.ForeignKeyConstraint(["key_id"], ["key_record.id"],
                                name=op.f("fk_renewal_key_id_key_record")),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailbox.id"],
                                name=op.f("fk_renewal_mailbox_id_mailbox")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renewal")),
    )
    with op.batch_alter_table("renewal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_renewal_mailbox_id"), ["mailbox_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_renewal_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_renewal_key_id"), ["key_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_renewal_certificate_id"), ["certificate_id"],
                              unique=False)
        batch_op.create_index("uq_renewal_one_open_per_mailbox", ["mailbox_id"], unique=True,
                              sqlite_where=sa.text(_OPEN), postgresql_where=sa.text(_OPEN))

    op.create_table(
        "revocation_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("kdf", sa.String(), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificate.id"],
                                name=op.f("fk_revocation_code_certificate_id_certificate")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocation_code")),
        sa.UniqueConstraint("certificate_id", name=op.f("uq_revocation_code_certificate_id")),
    )


def downgrade() -> None:
    op.drop_table("revocation_code")
    with op.batch_alter_table("renewal", schema=None) as batch_op:
        batch_op.drop_index("uq_renewal_one_open_per_mailbox", sqlite_where=sa.text(_OPEN),
                            postgresql_where=sa.text(_OPEN))
    op.drop_table("renewal")
