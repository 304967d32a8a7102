"""The one exception tree of certmgr.

Expected outcomes (a certificate is expired, revoked, untrusted...) are *values*
(`certmgr.pki.findings.Finding`), never exceptions. An exception means that a
check or an action could not be carried out at all.

    CertmgrError
    ├── InputError                 bad input from the user: exit code 2
    │   ├── ParseError             a file is not a readable certificate/CRL/key/...
    │   │   └── InputTooLargeError a file exceeds the size cap
    │   ├── PassphraseError        missing or wrong passphrase
    │   ├── IdentifierError        a malformed idNatStruct / FINESS / SIRET / ...
    │   └── ConfigError            an unreadable or invalid configuration
    ├── PKIError                   a PKI operation could not be carried out
    ├── StoreError                 the database could not be used
    │   ├── MigrationRequiredError the schema is older than this certmgr
    │   ├── NotFoundError          a named record does not exist
    │   └── ConflictError          a uniqueness or state rule was violated
    ├── FetchError                 a network exchange failed
    │   ├── NotAllowedError        a URL or host outside the allow-list
    │   └── DeliveryError          an alert could not be delivered (SMTP, webhook)
    └── JobError                   a scheduled job failed

Every message is one line that names the input and the reason; the CLI prints
it as is, after `certmgr: error: `.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CertmgrError",
    "ConfigError",
    "ConflictError",
    "DeliveryError",
    "FetchError",
    "IdentifierError",
    "InputError",
    "InputTooLargeError",
    "JobError",
    "MigrationRequiredError",
    "NotAllowedError",
    "NotFoundError",
    "PKIError",
    "ParseError",
    "PassphraseError",
    "StoreError",
]


class CertmgrError(Exception):
    """Root of every error certmgr raises on purpose."""


class InputError(CertmgrError):
    """The user's input cannot be used. `source` names it (a path, a CSV line, an argument)."""

    def __init__(self, reason: str, *, source: str | Path | None = None) -> None:
        self.reason = reason
        self.source = None if source is None else str(source)
        super().__init__(f"{self.source}: {reason}" if self.source else reason)


class ParseError(InputError):
    """A file or blob is not a readable certificate, CRL, key, CSR or bundle."""


class InputTooLargeError(ParseError):
    """A file exceeds the size certmgr accepts."""


class PassphraseError(InputError):
    """A passphrase is missing, or does not open the protected data."""


class IdentifierError(InputError):
    """A national identifier (idNatStruct, FINESS, SIREN, SIRET, RPPS, ADELI) is malformed."""


class ConfigError(InputError):
    """The configuration cannot be read or holds an invalid value."""


class PKIError(CertmgrError):
    """A PKI operation (signing, key generation, verification set-up) could not be done."""


class StoreError(CertmgrError):
    """The inventory database could not be used."""


class MigrationRequiredError(StoreError):
    """The database schema is not at the revision this certmgr expects."""


class NotFoundError(StoreError):
    """A named record (mailbox, certificate, alert...) does not exist."""


class ConflictError(StoreError):
    """The change breaks a uniqueness or state rule."""


class FetchError(CertmgrError):
    """A download could not be completed."""


class NotAllowedError(FetchError):
    """A URL points outside the allow-list (host, scheme or address)."""


class JobError(CertmgrError):
    """A scheduled job failed."""


class DeliveryError(FetchError):
    """An alert channel could not deliver a message."""
