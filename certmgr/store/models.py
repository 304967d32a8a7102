"""The inventory tables (SQLModel).

No `from __future__ import annotations` here: SQLModel resolves relationship
annotations at class creation, so forward references are quoted instead.

Conventions:
- every timestamp is an aware UTC `UTCDateTime`; none has a clock default (time
  is a parameter: callers pass `at`/`now`);
- closed value sets are stored as text with a named CHECK constraint (no native
  PostgreSQL enum types, which are painful to migrate);
- tables use `StoreModel.metadata`, whose naming convention gives every
  constraint a stable name (needed by Alembic batch mode on SQLite);
- secrets are never stored: `KeyRecord` holds a key's metadata and file path only.
"""

import datetime as dt
import enum
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Column, Field, Relationship, SQLModel

from certmgr.store.enums import BindingRole, MailboxEnvironment, MailboxStatus
from certmgr.store.types import JSON_VALUE, BigNumber, UTCDateTime

__all__ = [
    "AuditEvent",
    "Binding",
    "CACertificate",
    "Certificate",
    "Crl",
    "KeyRecord",
    "Mailbox",
    "Renewal",
    "RenewalState",
    "RevocationCode",
    "StoreModel",
    "Structure",
    "ValidationResult",
    "ValidationRun",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


_REGISTRY = registry(metadata=sa.MetaData(naming_convention=NAMING_CONVENTION))


class StoreModel(SQLModel, registry=_REGISTRY):
    """Base of the certmgr tables: its own metadata, not SQLModel's global one."""


def _enum(cls: type[enum.StrEnum], name: str) -> sa.Enum:
    return sa.Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,  # room for new values without a column migration
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def _json(*, nullable: bool = False) -> Any:
    return Field(default_factory=list, sa_column=Column(JSON_VALUE, nullable=nullable))


def _when(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class Structure(StoreModel, table=True):
    """A legal entity (raison sociale) identified by its idNatStruct."""

    __tablename__: ClassVar[str] = "structure"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    idnat_kind: int
    idnat_value: str
    idnat: str = Field(unique=True)
    department: str | None = None
    created_at: dt.datetime = _when()

    mailboxes: list["Mailbox"] = Relationship(back_populates="structure")


class Mailbox(StoreModel, table=True):
    """An MSSanté applicative mailbox; `status`/`days_left` are kept up to date by the services."""

    __tablename__: ClassVar[str] = "mailbox"

    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(unique=True)
    structure_id: int = Field(foreign_key="structure.id", index=True)
    application: str
    contacts: list[str] = _json()
    environment: MailboxEnvironment = Field(
        sa_type=_enum(MailboxEnvironment, "environment"), nullable=False
    )
    status: MailboxStatus = Field(
        default=MailboxStatus.NO_CERTIFICATE,
        sa_type=_enum(MailboxStatus, "status"),
        nullable=False,
        index=True,
    )
    days_left: int | None = None
    archived: bool = Field(default=False, index=True)
    endpoint_host: str | None = None
    created_at: dt.datetime = _when()
    updated_at: dt.datetime = _when()

    structure: "Structure" = Relationship(back_populates="mailboxes")
    bindings: list["Binding"] = Relationship(back_populates="mailbox")


class Certificate(StoreModel, table=True):
    """An end-entity certificate: its DER and every `CertFacts` field as a column."""

    __tablename__: ClassVar[str] = "certificate"

    id: int | None = Field(default=None, primary_key=True)
    der: bytes = Field(sa_type=sa.LargeBinary, nullable=False)
    fingerprint_sha256: str = Field(unique=True)
    spki_sha256: str = Field(index=True)
    serial_hex: str = Field(index=True)
    subject: str
    issuer: str
    c: str | None = None
    st: str | None = None
    o: str | None = None
    ou: str | None = None
    cn: str | None = Field(default=None, index=True)
    not_before: dt.datetime = _when()
    not_after: dt.datetime = _when(index=True)
    key_type: str
    key_size: int
    signature_algorithm: str
    signature_hash: str | None = None
    key_usage: list[str] = _json()
    eku: list[str] = _json()
    policies: list[str] = _json()
    crl_urls: list[str] = _json()
    ocsp_urls: list[str] = _json()
    ca_issuer_urls: list[str] = _json()
    san: list[str] = _json()
    is_ca: bool = False
    path_len: int | None = None
    ski: str | None = None
    aki: str | None = Field(default=None, index=True)
    self_issued: bool = False
    environment: str
    gamme: str | None = None
    domain: str | None = None
    product: str
    legacy_gip_cps: bool = False
    idnat: str | None = Field(default=None, index=True)
    imported_at: dt.datetime = _when()
    source: str | None = None

    bindings: list["Binding"] = Relationship(back_populates="certificate")


class KeyRecord(StoreModel, table=True):
    """Metadata of a private key kept under the home directory (never the key itself)."""

    __tablename__: ClassVar[str] = "key_record"

    id: int | None = Field(default=None, primary_key=True)
    spki_sha256: str = Field(unique=True)
    key_type: str
    key_size: int
    path: str
    """Relative to the certmgr home directory."""
    encrypted: bool
    created_at: dt.datetime = _when()


class Binding(StoreModel, table=True):
    """A certificate's role for a mailbox over time. At most one CURRENT binding per mailbox."""

    __tablename__: ClassVar[str] = "binding"
    __table_args__ = (
        sa.Index(
            "uq_binding_one_current_per_mailbox",
            "mailbox_id",
            unique=True,
            sqlite_where=sa.text("role = 'current'"),
            postgresql_where=sa.text("role = 'current'"),
        ),
        sa.Index("ix_binding_mailbox_id_role", "mailbox_id", "role"),
    )

    id: int | None = Field(default=None, primary_key=True)
    mailbox_id: int = Field(foreign_key="mailbox.id")
    certificate_id: int = Field(foreign_key="certificate.id", index=True)
    role: BindingRole = Field(sa_type=_enum(BindingRole, "role"), nullable=False)
    bound_at: dt.datetime = _when()
    unbound_at: dt.datetime | None = _when(nullable=True)

    mailbox: "Mailbox" = Relationship(back_populates="bindings")
    certificate: "Certificate" = Relationship(back_populates="bindings")


class CACertificate(StoreModel, table=True):
    """A CA certificate: an anchor (root) or an intermediate, pinned when the operator says so."""

    __tablename__: ClassVar[str] = "ca_certificate"

    id: int | None = Field(default=None, primary_key=True)
    der: bytes = Field(sa_type=sa.LargeBinary, nullable=False)
    fingerprint_sha256: str = Field(unique=True)
    subject: str = Field(index=True)
    issuer: str
    ski: str | None = Field(default=None, index=True)
    aki: str | None = None
    environment: str
    gamme: str | None = None
    domain: str | None = None
    is_anchor: bool = False
    pinned: bool = False
    source: str | None = None
    not_before: dt.datetime | None = _when(nullable=True)
    not_after: dt.datetime = _when()


class Crl(StoreModel, table=True):
    """A downloaded or imported CRL. `is_current` marks the last valid one per issuer key."""

    __tablename__: ClassVar[str] = "crl"
    __table_args__ = (
        sa.Index("ix_crl_issuer_is_current", "issuer", "is_current"),
        sa.Index(
            "uq_crl_one_current_per_issuer",
            "issuer",
            "aki",
            "is_delta",
            unique=True,
            sqlite_where=sa.text("is_current = 1"),
            postgresql_where=sa.text("is_current"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    der: bytes = Field(sa_type=sa.LargeBinary, nullable=False)
    fingerprint_sha256: str = Field(unique=True)
    issuer: str
    issuer_fingerprint: str | None = None
    """The CA certificate that verified this CRL's signature, when verified."""
    aki: str | None = None
    crl_number: int | None = Field(default=None, sa_type=BigNumber)
    this_update: dt.datetime = _when()
    next_update: dt.datetime | None = _when(nullable=True)
    is_delta: bool = False
    base_crl_number: int | None = Field(default=None, sa_type=BigNumber)
    entries: int = 0
    source: str | None = None
    fetched_at: dt.datetime = _when()
    verified: bool = False
    is_current: bool = False


class ValidationRun(StoreModel, table=True):
    """One batch of validations (a `certmgr verify`, a scheduled check...)."""

    __tablename__: ClassVar[str] = "validation_run"

    id: int | None = Field(default=None, primary_key=True)
    started_at: dt.datetime = _when(index=True)
    finished_at: dt.datetime | None = _when(nullable=True)
    at: dt.datetime = _when()
    """The instant the certificates were validated for (may differ from started_at: `--at`)."""
    trigger: str = "manual"
    actor: str | None = None


class ValidationResult(StoreModel, table=True):
    """The outcome of validating one certificate (for one mailbox, when known)."""

    __tablename__: ClassVar[str] = "validation_result"
    __table_args__ = (
        sa.Index("ix_validation_result_mailbox_id_checked_at", "mailbox_id", "checked_at"),
        sa.Index("ix_validation_result_certificate_id_checked_at", "certificate_id", "checked_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="validation_run.id", index=True)
    certificate_id: int = Field(foreign_key="certificate.id")
    mailbox_id: int | None = Field(default=None, foreign_key="mailbox.id")
    checked_at: dt.datetime = _when()
    at: dt.datetime = _when()
    status: str
    valid: bool
    findings: list[dict[str, Any]] = _json()
    """[{code, severity, message, subject}] as produced by `Finding.to_json()`."""
    path: list[str] = _json()
    """Fingerprints (or subjects) of the chain, leaf first."""


class AuditEvent(StoreModel, table=True):
    """One entry of the tamper-evident audit log. Write through `certmgr.store.audit` only."""

    __tablename__: ClassVar[str] = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = _when(index=True)
    actor: str
    action: str = Field(index=True)
    object_type: str | None = None
    object_id: str | None = None
    details: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON_VALUE, nullable=False)
    )
    prev_hash: str = Field(unique=True)
    """Unique: two events can never claim the same predecessor, so the chain cannot fork."""
    hash: str = Field(unique=True)


class RenewalState(enum.StrEnum):
    """Where a mailbox renewal stands. CSR_READY, ORDERED and ISSUED are open states."""

    CSR_READY = "CSR_READY"
    ORDERED = "ORDERED"
    ISSUED = "ISSUED"
    ACTIVE = "ACTIVE"
    REJECTED = "REJECTED"
    ABANDONED = "ABANDONED"

    @property
    def is_open(self) -> bool:
        return self in OPEN_RENEWAL_STATES


OPEN_RENEWAL_STATES = frozenset(
    {RenewalState.CSR_READY, RenewalState.ORDERED, RenewalState.ISSUED})
_OPEN_SQL = "state IN ('CSR_READY', 'ORDERED', 'ISSUED')"


class Renewal(StoreModel, table=True):
    """One renewal of a mailbox certificate: key + CSR, the ANS order, the issued certificate.

    At most one OPEN renewal (CSR_READY, ORDERED, ISSUED) per mailbox: a partial unique
    index, the same on SQLite and PostgreSQL.
    """

    __tablename__: ClassVar[str] = "renewal"
    __table_args__ = (
        sa.Index(
            "uq_renewal_one_open_per_mailbox",
            "mailbox_id",
            unique=True,
            sqlite_where=sa.text(_OPEN_SQL),
            postgresql_where=sa.text(_OPEN_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    mailbox_id: int = Field(foreign_key="mailbox.id", index=True)
    state: RenewalState = Field(
        sa_type=_enum(RenewalState, "state"), nullable=False, index=True
    )
    key_id: int = Field(foreign_key="key_record.id", index=True)
    csr_pem: str = Field(sa_type=sa.Text, nullable=False)
    csr_path: str | None = None
    profile: str
    ordered_at: dt.datetime | None = _when(nullable=True)
    ordered_by: str | None = None
    order_ref: str | None = None
    certificate_id: int | None = Field(default=None, foreign_key="certificate.id", index=True)
    activated_at: dt.datetime | None = _when(nullable=True)
    created_at: dt.datetime = _when()
    updated_at: dt.datetime = _when()


class RevocationCode(StoreModel, table=True):
    """The revocation code ANS hands out with a certificate, encrypted (never in clear).

    AES-256-GCM under a key derived with scrypt from the key passphrase; `salt` and
    `nonce` are random per row, the certificate fingerprint is the associated data.
    """

    __tablename__: ClassVar[str] = "revocation_code"

    id: int | None = Field(default=None, primary_key=True)
    certificate_id: int = Field(foreign_key="certificate.id", unique=True)
    kdf: str
    """e.g. `scrypt:n=32768,r=8,p=1`: the parameters needed to derive the key again."""
    salt: bytes = Field(sa_type=sa.LargeBinary, nullable=False)
    nonce: bytes = Field(sa_type=sa.LargeBinary, nullable=False)
    ciphertext: bytes = Field(sa_type=sa.LargeBinary, nullable=False)
    created_at: dt.datetime = _when()
