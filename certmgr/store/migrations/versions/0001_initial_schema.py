"""Initial schema: structures, mailboxes, certificates, keys, bindings, CAs, CRLs,
validation runs and results, the audit chain.

Column types are spelled out here (not imported from certmgr.store.types) so that
this revision stays frozen when the models change. UTCDateTime is
DateTime(timezone=True) in DDL, BigNumber is VARCHAR(49).

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)
_BIG_NUMBER = sa.String(length=49)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', _WHEN, nullable=False),
    sa.Column('actor', sa.String(), nullable=False),
    sa.Column('action', sa.String(), nullable=False),
    sa.Column('object_type', sa.String(), nullable=True),
    sa.Column('object_id', sa.String(), nullable=True),
    sa.Column('details', _JSON, nullable=False),
    sa.Column('prev_hash', sa.String(), nullable=False),
    sa.Column('hash', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_event_hash')),
    sa.UniqueConstraint('prev_hash', name=op.f('uq_audit_event_prev_hash'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_at'), ['at'], unique=False)

    op.create_table('ca_certificate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('der', sa.LargeBinary(), nullable=False),
    sa.Column('fingerprint_sha256', sa.String(), nullable=False),
    sa.Column('subject', sa.String(), nullable=False),
    sa.Column('issuer', sa.String(), nullable=False),
    sa.Column('ski', sa.String(), nullable=True),
    sa.Column('aki', sa.String(), nullable=True),
    sa.Column('environment', sa.String(), nullable=False),
    sa.Column('gamme', sa.String(), nullable=True),
    sa.Column('domain', sa.String(), nullable=True),
    sa.Column('is_anchor', sa.Boolean(), nullable=False),
    sa.Column('pinned', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(), nullable=True),
    sa.Column('not_before', _WHEN, nullable=True),
    sa.Column('not_after', _WHEN, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ca_certificate')),
    sa.UniqueConstraint('fingerprint_sha256', name=op.f('uq_ca_certificate_fingerprint_sha256'))
    )
    with op.batch_alter_table('ca_certificate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ca_certificate_ski'), ['ski'], unique=False)
        batch_op.create_index(batch_op.f('ix_ca_certificate_subject'), ['subject'], unique=False)

    op.create_table('certificate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('der', sa.LargeBinary(), nullable=False),
    sa.Column('fingerprint_sha256', sa.String(), nullable=False),
    sa.Column('spki_sha256', sa.String(), nullable=False),
    sa.Column('serial_hex', sa.String(), nullable=False),
    sa.Column('subject', sa.String(), nullable=False),
    sa.Column('issuer', sa.String(), nullable=False),
    sa.Column('c', sa.String(), nullable=True),
    sa.Column('st', sa.String(), nullable=True),
    sa.Column('o', sa.String(), nullable=True),
    sa.Column('ou', sa.String(), nullable=True),
    sa.Column('cn', sa.String(), nullable=True),
    sa.Column('not_before', _WHEN, nullable=False),
    sa.Column('not_after', _WHEN, nullable=False),
    sa.Column('key_type', sa.String(), nullable=False),
    sa.Column('key_size', sa.Integer(), nullable=False),
    sa.Column('signature_algorithm', sa.String(), nullable=False),
    sa.Column('signature_hash', sa.String(), nullable=True),
    sa.Column('key_usage', _JSON, nullable=False),
    sa.Column('eku', _JSON, nullable=False),
    sa.Column('policies', _JSON, nullable=False),
    sa.Column('crl_urls', _JSON, nullable=False),
    sa.Column('ocsp_urls', _JSON, nullable=False),
    sa.Column('ca_issuer_urls', _JSON, nullable=False),
    sa.Column('san', _JSON, nullable=False),
    sa.Column('is_ca', sa.Boolean(), nullable=False),
    sa.Column('path_len', sa.Integer(), nullable=True),
    sa.Column('ski', sa.String(), nullable=True),
    sa.Column('aki', sa.String(), nullable=True),
    sa.Column('self_issued', sa.Boolean(), nullable=False),
    sa.Column('environment', sa.String(), nullable=False),
    sa.Column('gamme', sa.String(), nullable=True),
    sa.Column('domain', sa.String(), nullable=True),
    sa.Column('product', sa.String(), nullable=False),
    sa.Column('legacy_gip_cps', sa.Boolean(), nullable=False),
    sa.Column('idnat', sa.String(), nullable=True),
    sa.Column('imported_at', _WHEN, nullable=False),
    sa.Column('source', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate')),
    sa.UniqueConstraint('fingerprint_sha256', name=op.f('uq_certificate_fingerprint_sha256'))
    )
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_aki'), ['aki'], unique=False)
        batch_op.create_index(batch_op.f('ix_certificate_cn'), ['cn'], unique=False)
        batch_op.create_index(batch_op.f('ix_certificate_idnat'), ['idnat'], unique=False)
        batch_op.create_index(batch_op.f('ix_certificate_not_after'), ['not_after'], unique=False)
        batch_op.create_index(batch_op.f('ix_certificate_serial_hex'), ['serial_hex'], unique=False)
        batch_op.create_index(batch_op.f('ix_certificate_spki_sha256'), ['spki_sha256'], unique=False)

    op.create_table('crl',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('der', sa.LargeBinary(), nullable=False),
    sa.Column('fingerprint_sha256', sa.String(), nullable=False),
    sa.Column('issuer', sa.String(), nullable=False),
    sa.Column('issuer_fingerprint', sa.String(), nullable=True),
    sa.Column('aki', sa.String(), nullable=True),
    sa.Column('crl_number', _BIG_NUMBER, nullable=True),
    sa.Column('this_update', _WHEN, nullable=False),
    sa.Column('next_update', _WHEN, nullable=True),
    sa.Column('is_delta', sa.Boolean(), nullable=False),
    sa.Column('base_crl_number', _BIG_NUMBER, nullable=True),
    sa.Column('entries', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(), nullable=True),
    sa.Column('fetched_at', _WHEN, nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crl')),
    sa.UniqueConstraint('fingerprint_sha256', name=op.f('uq_crl_fingerprint_sha256'))
    )
    with op.batch_alter_table('crl', schema=None) as batch_op:
        batch_op.create_index('ix_crl_issuer_is_current', ['issuer', 'is_current'], unique=False)
        batch_op.create_index('uq_crl_one_current_per_issuer', ['issuer', 'aki', 'is_delta'], unique=True, sqlite_where=sa.text('is_current = 1'), postgresql_where=sa.text('is_current'))

    op.create_table('key_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('spki_sha256', sa.String(), nullable=False),
    sa.Column('key_type', sa.String(), nullable=False),
    sa.Column('key_size', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(), nullable=False),
    sa.Column('encrypted', sa.Boolean(), nullable=False),
    sa.Column('created_at', _WHEN, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_record')),
    sa.UniqueConstraint('spki_sha256', name=op.f('uq_key_record_spki_sha256'))
    )
    op.create_table('structure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('idnat_kind', sa.Integer(), nullable=False),
    sa.Column('idnat_value', sa.String(), nullable=False),
    sa.Column('idnat', sa.String(), nullable=False),
    sa.Column('department', sa.String(), nullable=True),
    sa.Column('created_at', _WHEN, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_structure')),
    sa.UniqueConstraint('idnat', name=op.f('uq_structure_idnat'))
    )
    with op.batch_alter_table('structure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_structure_name'), ['name'], unique=False)

    op.create_table('validation_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', _WHEN, nullable=False),
    sa.Column('finished_at', _WHEN, nullable=True),
    sa.Column('at', _WHEN, nullable=False),
    sa.Column('trigger', sa.String(), nullable=False),
    sa.Column('actor', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_validation_run'))
    )
    with op.batch_alter_table('validation_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_validation_run_started_at'), ['started_at'], unique=False)

    op.create_table('mailbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(), nullable=False),
    sa.Column('structure_id', sa.Integer(), nullable=False),
    sa.Column('application', sa.String(), nullable=False),
    sa.Column('contacts', _JSON, nullable=False),
    sa.Column('environment', sa.Enum('production', 'test', name='environment', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('status', sa.Enum('OK', 'RENEW_SOON', 'CRITICAL', 'EXPIRED', 'REVOKED', 'INVALID', 'NO_CERTIFICATE', name='status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('days_left', sa.Integer(), nullable=True),
    sa.Column('archived', sa.Boolean(), nullable=False),
    sa.Column('endpoint_host', sa.String(), nullable=True),
    sa.Column('created_at', _WHEN, nullable=False),
    sa.Column('updated_at', _WHEN, nullable=False),
    sa.ForeignKeyConstraint(['structure_id'], ['structure.id'], name=op.f('fk_mailbox_structure_id_structure')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mailbox')),
    sa.UniqueConstraint('address', name=op.f('uq_mailbox_address'))
    )
    with op.batch_alter_table('mailbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mailbox_archived'), ['archived'], unique=False)
        batch_op.create_index(batch_op.f('ix_mailbox_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_mailbox_structure_id'), ['structure_id'], unique=False)

    op.create_table('binding',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('current', 'next', 'previous', name='role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('bound_at', _WHEN, nullable=False),
    sa.Column('unbound_at', _WHEN, nullable=True),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificate.id'], name=op.f('fk_binding_certificate_id_certificate')),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailbox.id'], name=op.f('fk_binding_mailbox_id_mailbox')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_binding'))
    )
    with op.batch_alter_table('binding', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_binding_certificate_id'), ['certificate_id'], unique=False)
        batch_op.create_index('ix_binding_mailbox_id_role', ['mailbox_id', 'role'], unique=False)
        batch_op.create_index('uq_binding_one_current_per_mailbox', ['mailbox_id'], unique=True, sqlite_where=sa.text("role = 'current'"), postgresql_where=sa.text("role = 'current'"))

    op.create_table('validation_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=True),
    sa.Column('checked_at', _WHEN, nullable=False),
    sa.Column('at', _WHEN, nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('valid', sa.Boolean(), nullable=False),
    sa.Column('findings', _JSON, nullable=False),
    sa.Column('path', _JSON, nullable=False),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificate.id'], name=op.f('fk_validation_result_certificate_id_certificate')),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailbox.id'], name=op.f('fk_validation_result_mailbox_id_mailbox')),
    sa.ForeignKeyConstraint(['run_id'], ['validation_run.id'], name=op.f('fk_validation_result_run_id_validation_run')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_validation_result'))
    )
    with op.batch_alter_table('validation_result', schema=None) as batch_op:
        batch_op.create_index('ix_validation_result_certificate_id_checked_at', ['certificate_id', 'checked_at'], unique=False)
        batch_op.create_index('ix_validation_result_mailbox_id_checked_at', ['mailbox_id', 'checked_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_validation_result_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    op.drop_table('validation_result')
    op.drop_table('binding')
    op.drop_table('mailbox')
    op.drop_table('validation_run')
    op.drop_table('structure')
    op.drop_table('key_record')
    op.drop_table('crl')
    op.drop_table('certificate')
    op.drop_table('ca_certificate')
    op.drop_table('audit_event')
