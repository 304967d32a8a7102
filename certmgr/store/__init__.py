"""The inventory store: SQLModel tables, engines, migrations and the audit chain.

Modules:
    models    the tables (Structure, Mailbox, Certificate, KeyRecord, Binding,
              CACertificate, Crl, ValidationRun, ValidationResult, AuditEvent)
    enums     MailboxStatus, MailboxEnvironment, BindingRole
    types     UTCDateTime, BigNumber, JSON_VALUE column types
    engine    make_engine, session_factory, transaction, run_in_transaction
    migrate   upgrade, current_revision, head_revision, ensure_current (Alembic)
    session   Store, open_store (what commands call)
    audit     append_event, verify_chain (SHA-256 hash chain), os_user
    rows      certificate_row, ca_certificate_row (CertFacts -> rows)
    testing   throw-away SQLite/PostgreSQL databases for tests

Import the submodules directly; this package module stays empty so that
importing one of them does not pull in the others.
"""
