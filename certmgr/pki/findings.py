"""Findings: the values that say what is wrong (or worth knowing) about a certificate.

A finding has a stable `code` (scripts and the database rely on it), a
`severity` and a human sentence. Codes never change meaning once released;
new ones may be added.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Code", "Finding", "Severity", "worst"]


class Severity(enum.IntEnum):
    """How much a finding matters. ERROR makes a certificate invalid."""

    INFO = 10
    WARNING = 20
    ERROR = 30

    def __str__(self) -> str:
        return self.name.lower()


class Code(enum.StrEnum):
    """Stable finding codes."""

    # time
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    # path
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNTRUSTED_ROOT = "UNTRUSTED_ROOT"
    NO_PATH = "NO_PATH"
    IMPOSTOR_CA = "IMPOSTOR_CA"
    NOT_A_CA = "NOT_A_CA"
    PATH_LEN = "PATH_LEN"
    KEY_USAGE = "KEY_USAGE"
    EKU = "EKU"
    UNKNOWN_CRITICAL_EXTENSION = "UNKNOWN_CRITICAL_EXTENSION"
    NAME_CONSTRAINTS = "NAME_CONSTRAINTS"
    POLICY = "POLICY"
    NAME_CHAINING = "NAME_CHAINING"
    MALFORMED = "MALFORMED"
    # revocation
    REVOKED = "REVOKED"
    CRL_STALE = "CRL_STALE"
    CRL_MISSING = "CRL_MISSING"
    CRL_BAD_SIGNATURE = "CRL_BAD_SIGNATURE"
    CRL_NOT_YET_VALID = "CRL_NOT_YET_VALID"
    CRL_UNUSABLE = "CRL_UNUSABLE"
    # IGC Santé profile
    PROFILE_ISSUER = "PROFILE_ISSUER"
    PROFILE_KEY_USAGE = "PROFILE_KEY_USAGE"
    PROFILE_EKU = "PROFILE_EKU"
    PROFILE_KEY_SIZE = "PROFILE_KEY_SIZE"
    PROFILE_SIGNATURE_HASH = "PROFILE_SIGNATURE_HASH"
    PROFILE_SUBJECT = "PROFILE_SUBJECT"
    IDNAT_CHECK_DIGIT = "IDNAT_CHECK_DIGIT"
    LEGACY_GIP_CPS = "LEGACY_GIP_CPS"
    TEST_ENVIRONMENT = "TEST_ENVIRONMENT"
    ENVIRONMENT_MISMATCH = "ENVIRONMENT_MISMATCH"
    # CSR lint
    CSR_KEY_SIZE = "CSR_KEY_SIZE"
    CSR_KEY_TYPE = "CSR_KEY_TYPE"
    CSR_SIGNATURE_HASH = "CSR_SIGNATURE_HASH"
    CSR_SIGNATURE_INVALID = "CSR_SIGNATURE_INVALID"
    CSR_SUBJECT_MISSING = "CSR_SUBJECT_MISSING"
    CSR_SUBJECT_EXTRA = "CSR_SUBJECT_EXTRA"
    CSR_SUBJECT_COUNTRY = "CSR_SUBJECT_COUNTRY"
    CSR_SUBJECT_STATE_FORMAT = "CSR_SUBJECT_STATE_FORMAT"
    CSR_SUBJECT_STRING_TYPE = "CSR_SUBJECT_STRING_TYPE"
    CSR_SUBJECT_LENGTH = "CSR_SUBJECT_LENGTH"
    CSR_OU_IDNAT = "CSR_OU_IDNAT"
    CSR_IDNAT_CHECK_DIGIT = "CSR_IDNAT_CHECK_DIGIT"
    CSR_CN_SERVICE = "CSR_CN_SERVICE"
    CSR_SAN_PRESENT = "CSR_SAN_PRESENT"
    CSR_EXTENSIONS = "CSR_EXTENSIONS"
    # endpoint probes (`certmgr probe`): the network, the TLS session, the operator's server
    TLS_DNS = "TLS_DNS"
    TLS_CONNECT_REFUSED = "TLS_CONNECT_REFUSED"
    TLS_CONNECT_FAILED = "TLS_CONNECT_FAILED"
    TLS_TIMEOUT = "TLS_TIMEOUT"
    TLS_ALERT = "TLS_ALERT"
    TLS_HANDSHAKE = "TLS_HANDSHAKE"
    TLS_VERSION = "TLS_VERSION"
    STARTTLS_UNSUPPORTED = "STARTTLS_UNSUPPORTED"
    SERVER_PROTOCOL = "SERVER_PROTOCOL"
    SERVER_CERT_INVALID = "SERVER_CERT_INVALID"
    SERVER_CERT_EXPIRING = "SERVER_CERT_EXPIRING"
    SERVER_PROFILE = "SERVER_PROFILE"
    SERVER_NAME_MISMATCH = "SERVER_NAME_MISMATCH"
    SERVER_CHAIN_INCOMPLETE = "SERVER_CHAIN_INCOMPLETE"
    CLIENT_CERT_ACCEPTED = "CLIENT_CERT_ACCEPTED"
    CLIENT_CERT_REJECTED = "CLIENT_CERT_REJECTED"
    CLIENT_CERT_NOT_REQUESTED = "CLIENT_CERT_NOT_REQUESTED"
    CLIENT_CERT_REQUIRED = "CLIENT_CERT_REQUIRED"
    REVOCATION_NOT_CHECKED = "REVOCATION_NOT_CHECKED"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing found about a certificate (or a CSR, a CRL...)."""

    code: Code
    severity: Severity
    message: str
    subject: str | None = None
    """What the finding is about when not the checked certificate itself (e.g. an intermediate)."""

    def to_json(self) -> dict[str, str | None]:
        return {
            "code": str(self.code),
            "severity": str(self.severity),
            "message": self.message,
            "subject": self.subject,
        }


def worst(findings: tuple[Finding, ...] | list[Finding]) -> Severity | None:
    """The highest severity among `findings`, or None when there are none."""
    return max((f.severity for f in findings), default=None)
