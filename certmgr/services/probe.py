"""Probe an operator's mail server and judge it the way MSSanté does: `certmgr probe`.

    report = probe_endpoint(target=ProbeTarget(host, 143, StartTls.IMAP), trust=material,
                            at=now, timeout=10.0, client=credentials)
    report.status        # NagiosStatus.OK / WARNING / CRITICAL / UNKNOWN

`judge_probe(observation, ...)` is the pure half (an observation in, a report out), so the
judgement is tested without a network. What is checked (MSSanté server requirements):
- the connection, STARTTLS and the handshake succeed (failures: TLS_* findings);
- the protocol is TLS 1.2 or better (TLS_VERSION);
- the server certificate validates with `certmgr.pki.validate` against the trust material at
  `at` (EKU serverAuth; revocation by the CRLs given) — else SERVER_CERT_INVALID plus the
  engine's own findings (EXPIRED, UNTRUSTED_ROOT, REVOKED...);
- it is a SERV_SSL certificate of IGC Santé ELEMENTAIRE ORGANISATIONS (SERVER_PROFILE plus the
  profile findings); it expires in more than `warn_days` (SERVER_CERT_EXPIRING); it names the
  host (SERVER_NAME_MISMATCH, warning; not checked for an IP address); the server sends its
  intermediate (SERVER_CHAIN_INCOMPLETE, warning);
- with a client certificate: whether the server accepted it (CLIENT_CERT_ACCEPTED, or
  CLIENT_CERT_REJECTED with the alert or the reply), and whether it asked for one at all.

Status (Nagios): an ERROR finding is CRITICAL, a WARNING is WARNING, else OK; a name that does
not resolve is UNKNOWN (the check could not even start: usually a configuration mistake).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from certmgr.errors import InputError, ParseError
from certmgr.fetch.probe import (
    ClientCredentials,
    FailureKind,
    ProbeTarget,
    Stage,
    StartTls,
    TlsObservation,
    probe_tls,
)
from certmgr.pki.classify import Domain, Gamme
from certmgr.pki.facts import CertFacts, certificate_facts
from certmgr.pki.findings import Code, Finding, Severity
from certmgr.pki.keys import load_key
from certmgr.pki.load import load_bundle, read_input
from certmgr.pki.profile import check_profile
from certmgr.pki.validate import RevocationMode, ValidationContext, Validator
from certmgr.secrets import Secret
from certmgr.services.nagios import NagiosStatus, status_line
from certmgr.services.trustctx import TrustMaterial

__all__ = [
    "SERVICE",
    "ClientOutcome",
    "NagiosStatus",
    "ProbeCode",
    "ProbeFinding",
    "ProbeReport",
    "ServerCertificate",
    "by_significance",
    "client_credentials_from_files",
    "code_rank",
    "crls_from_files",
    "judge_probe",
    "probe_endpoint",
    "trust_from_files",
]

SERVICE = "TLS"  # the first word of the plugin line
_GOOD_PROTOCOLS = frozenset({"TLSv1.2", "TLSv1.3"})
# Between findings of the same severity, the cause before its symptom: a refused client
# certificate explains the handshake that broke, a bad server certificate its TLS alert.
_CAUSES = (Code.CLIENT_CERT_REJECTED, Code.TLS_VERSION, Code.SERVER_PROFILE,
           Code.SERVER_CERT_INVALID, Code.STARTTLS_UNSUPPORTED, Code.TLS_DNS,
           Code.TLS_CONNECT_REFUSED, Code.TLS_TIMEOUT)
_SYMPTOMS = (Code.TLS_CONNECT_FAILED, Code.SERVER_PROTOCOL, Code.TLS_ALERT, Code.TLS_HANDSHAKE)
_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO
# TLS alerts by which a server says no to the client certificate (RFC 8446 §6.2)
_CERT_ALERTS = frozenset({"bad certificate", "unsupported certificate", "certificate revoked",
                          "certificate expired", "certificate unknown", "unknown ca",
                          "access denied", "certificate required", "handshake failure",
                          "decrypt error"})


ProbeCode = Code
"""Former name of the probe codes, now members of `certmgr.pki.findings.Code` (one namespace)."""


def code_rank(code: str) -> int:
    """How specific a finding code is, smallest first: the causes (`_CAUSES`, in order),
    then any other code (the validation engine's EXPIRED, REVOKED... and the warnings),
    then the transport symptoms (`_SYMPTOMS`)."""
    for rank, cause in enumerate(_CAUSES):
        if code == cause:
            return rank
    for rank, symptom in enumerate(_SYMPTOMS):
        if code == symptom:
            return len(_CAUSES) + 1 + rank
    return len(_CAUSES)


def by_significance(findings: Sequence[ProbeFinding]) -> list[ProbeFinding]:
    """`findings`, the most significant first: the most severe, then the most specific
    (`code_rank`), then in the order found."""
    return sorted(findings, key=lambda f: (-int(f.severity), code_rank(str(f.code))))


@dataclass(frozen=True, slots=True)
class ProbeFinding:
    """A `Finding` whose code may be a probe code (same JSON shape as `Finding.to_json`)."""

    code: Code
    severity: Severity
    message: str
    subject: str | None = None

    @classmethod
    def of(cls, finding: Finding) -> ProbeFinding:
        return cls(finding.code, finding.severity, finding.message, finding.subject)

    def to_json(self) -> dict[str, str | None]:
        return {"code": str(self.code), "severity": str(self.severity),
                "message": self.message, "subject": self.subject}


class ClientOutcome(enum.StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    NOT_REQUESTED = "not-requested"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    subject: str
    issuer: str
    fingerprint_sha256: str
    not_after: dt.datetime
    days_left: int
    valid: bool

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "issuer": self.issuer,
                "fingerprint": self.fingerprint_sha256, "not_after": self.not_after.isoformat(),
                "days_left": self.days_left, "valid": self.valid}


@dataclass(frozen=True, slots=True)
class ProbeReport:
    observation: TlsObservation
    at: dt.datetime
    status: NagiosStatus
    findings: tuple[ProbeFinding, ...]
    server_certificate: ServerCertificate | None = None
    chain_subjects: tuple[str, ...] = ()
    client: ClientOutcome | None = None

    def summary(self) -> str:
        """The Nagios status line: `TLS CRITICAL - host:port: reason | perfdata`."""
        obs = self.observation
        worst = by_significance(self.findings)
        if worst and worst[0].severity >= Severity.WARNING:
            head = f"{worst[0].code}: {worst[0].message}"
        else:
            head = ", ".join(filter(None, (obs.protocol, obs.cipher))) or "no TLS"
        perf = [f"time={obs.elapsed_seconds:.3f}s"]
        if self.server_certificate is not None:
            perf.append(f"days_left={self.server_certificate.days_left}")
        return status_line(SERVICE, self.status, f"{obs.target}: {head} | {' '.join(perf)}")

    def to_json(self) -> dict[str, Any]:
        obs = self.observation
        return {
            "target": {"host": obs.target.host, "port": obs.target.port,
                       "starttls": str(obs.target.starttls), "address": obs.address},
            "at": self.at.isoformat(),
            "status": self.status.name,
            "exit_code": int(self.status),
            "protocol": obs.protocol,
            "cipher": obs.cipher,
            "chain": list(self.chain_subjects),
            "server_certificate": (None if self.server_certificate is None
                                   else self.server_certificate.to_json()),
            "client_certificate": None if self.client is None else str(self.client),
            "client_cert_requested": obs.client_cert_requested,
            "client_ca_names": list(obs.client_ca_names),
            "greeting": list(obs.greeting),
            "response": list(obs.response),
            "failure": None if obs.failure is None else {
                "kind": str(obs.failure.kind), "stage": str(obs.failure.stage),
                "detail": obs.failure.detail, "alert": obs.failure.alert},
            "elapsed_seconds": obs.elapsed_seconds,
            "findings": [f.to_json() for f in self.findings],
        }


def trust_from_files(trust: Sequence[Path], crls: Sequence[Path] = ()) -> TrustMaterial:
    """Trust material from files (like `certmgr verify --trust/--crl`); InputError if unusable."""
    from certmgr.pki.anchors import TrustStore  # noqa: PLC0415 - keep the import graph small
    from certmgr.pki.load import LoadedCertificate  # noqa: PLC0415

    loaded: list[LoadedCertificate] = []
    for path in trust:
        bundle = load_bundle(read_input(path), source=str(path))
        if not bundle.certificates:
            raise ParseError("holds no certificate", source=path)
        loaded.extend(bundle.certificates)
    store = TrustStore.from_certificates(loaded)
    anchors = tuple(e.certificate for e in store.entries if e.facts.self_issued)
    if not anchors:
        raise InputError("no usable trust anchor among the --trust files (a self-signed CA "
                         "certificate is needed)")
    return TrustMaterial(anchors=anchors,
                         intermediates=tuple(e.certificate for e in store.entries
                                             if not e.facts.self_issued),
                         crls=crls_from_files(crls), trust_store_findings=store.findings)


def crls_from_files(paths: Sequence[Path],
                    ) -> tuple[tuple[x509.CertificateRevocationList, bytes], ...]:
    """Every CRL of `paths` as `(crl, der)`; ParseError for a file that holds none."""
    out: list[tuple[x509.CertificateRevocationList, bytes]] = []
    for path in paths:
        bundle = load_bundle(read_input(path), source=str(path))
        if not bundle.crls:
            raise ParseError("holds no CRL", source=path)
        out.extend((c.crl, c.der) for c in bundle.crls)
    return tuple(out)


def client_credentials_from_files(*, cert: Path, key: Path,
                                  passphrase: Callable[[], Secret]) -> ClientCredentials:
    """The client certificate (first leaf of `cert`, its CAs as the chain) and its PEM key.

    `passphrase` is called only when the key is encrypted.
    """
    bundle = load_bundle(read_input(cert), source=str(cert))
    certs = [c.certificate for c in bundle.certificates]
    if not certs:
        raise ParseError("holds no certificate", source=cert)
    pem = read_input(key)
    secret = passphrase().reveal() if b"ENCRYPTED" in pem else None
    private = load_key(pem, passphrase=secret, source=str(key))
    return ClientCredentials(certificate=certs[0], key=private, chain=tuple(certs[1:]))


def probe_endpoint(*, target: ProbeTarget, trust: TrustMaterial, at: dt.datetime,
                   timeout: float, client: ClientCredentials | None = None,
                   revocation: RevocationMode = RevocationMode.SOFT_FAIL,
                   warn_days: int = 30) -> ProbeReport:
    """Probe `target` over the network, then `judge_probe` what was seen."""
    observation = probe_tls(target, timeout=timeout, client=client)
    return judge_probe(observation, trust=trust, at=at, revocation=revocation,
                       warn_days=warn_days, client_presented=client is not None)


@dataclass(slots=True)
class _Judgement:
    findings: list[ProbeFinding] = field(default_factory=list)
    unknown: bool = False

    def add(self, code: Code, severity: Severity, message: str,
            subject: str | None = None) -> None:
        self.findings.append(ProbeFinding(code, severity, message, subject))


def judge_probe(observation: TlsObservation, *, trust: TrustMaterial, at: dt.datetime,
                revocation: RevocationMode = RevocationMode.SOFT_FAIL, warn_days: int = 30,
                client_presented: bool = False) -> ProbeReport:
    """Turn an observation into findings and a Nagios status (see the module docstring)."""
    j = _Judgement()
    j.findings += [ProbeFinding.of(f) for f in trust.trust_store_findings
                   if f.severity >= Severity.ERROR]
    _failure(observation, j, client_presented=client_presented)
    if observation.protocol is not None and observation.protocol not in _GOOD_PROTOCOLS:
        j.add(Code.TLS_VERSION, _E, f"The server negotiated {observation.protocol}; "
              "MSSanté requires TLS 1.2 or better.")
    server, subjects = _server(observation, j, trust=trust, at=at, revocation=revocation,
                               warn_days=warn_days)
    client = _client(observation, j) if client_presented else None
    worst = max((f.severity for f in j.findings), default=None)
    if j.unknown:
        status = NagiosStatus.UNKNOWN
    elif worst is Severity.ERROR:
        status = NagiosStatus.CRITICAL
    elif worst is Severity.WARNING:
        status = NagiosStatus.WARNING
    else:
        status = NagiosStatus.OK
    return ProbeReport(observation=observation, at=at, status=status,
                       findings=tuple(j.findings), server_certificate=server,
                       chain_subjects=subjects, client=client)


def _failure(obs: TlsObservation, j: _Judgement, *, client_presented: bool) -> None:
    failure = obs.failure
    if failure is None:
        return
    cert_alert = failure.kind is FailureKind.ALERT and failure.alert in _CERT_ALERTS
    # a server that asked for a certificate and hangs up once the handshake is over is
    # refusing the (missing) certificate too; its alert may have been lost to the reset
    hang_up = failure.kind is FailureKind.CLOSED and failure.stage is Stage.APPLICATION
    if (cert_alert or hang_up) and obs.client_cert_requested:
        # handled by _client (presented) or reported here (the server wants one)
        if not client_presented:
            j.add(Code.CLIENT_CERT_REQUIRED, _W,
                  "The server requires a client certificate (mutual TLS); probe with "
                  "--cert/--key or --mailbox to test a mailbox's login.")
        return
    code, severity = {
        FailureKind.DNS: (Code.TLS_DNS, _E),
        FailureKind.REFUSED: (Code.TLS_CONNECT_REFUSED, _E),
        FailureKind.TIMEOUT: (Code.TLS_TIMEOUT, _E),
        FailureKind.NETWORK: (Code.TLS_CONNECT_FAILED, _E),
        FailureKind.STARTTLS_UNSUPPORTED: (Code.STARTTLS_UNSUPPORTED, _E),
        FailureKind.PROTOCOL: (Code.SERVER_PROTOCOL, _E),
        FailureKind.ALERT: (Code.TLS_ALERT, _E),
        FailureKind.HANDSHAKE: (Code.TLS_HANDSHAKE, _E),
        FailureKind.CLOSED: (Code.SERVER_PROTOCOL, _E),
    }[failure.kind]
    j.unknown = j.unknown or failure.kind is FailureKind.DNS
    j.add(code, severity, f"{failure.detail} (stage: {failure.stage}).")


def _server(obs: TlsObservation, j: _Judgement, *, trust: TrustMaterial, at: dt.datetime,
            revocation: RevocationMode, warn_days: int,
            ) -> tuple[ServerCertificate | None, tuple[str, ...]]:
    if not obs.chain:
        return None, ()
    certs = [x509.load_der_x509_certificate(der) for der in obs.chain]
    subjects = tuple(c.subject.rfc4514_string() for c in certs)
    leaf, der = certs[0], obs.chain[0]
    ctx = ValidationContext(trust_anchors=trust.anchors, at=at,
                            untrusted=(*certs[1:], *trust.intermediates), crls=trust.crls,
                            revocation=revocation, required_eku="serverAuth")
    result = Validator(ctx).validate(leaf, der)
    facts = certificate_facts(leaf, der=der)
    if not result.valid:
        reasons = ", ".join(sorted({str(f.code) for f in result.findings
                                    if f.severity is Severity.ERROR})) or "invalid"
        j.add(Code.SERVER_CERT_INVALID, _E,
              f"The server certificate {facts.subject} does not validate ({reasons}).")
    j.findings += [ProbeFinding.of(f) for f in result.findings]
    if revocation is RevocationMode.OFF:
        j.add(Code.REVOCATION_NOT_CHECKED, _I,
              "Revocation was not checked (no CRL given or stored).")
    _profile(facts, j)
    days_left = (facts.not_after - at).days
    if result.valid and days_left < warn_days:
        j.add(Code.SERVER_CERT_EXPIRING, _W,
              f"The server certificate expires in {days_left} days ({facts.not_after:%Y-%m-%d}).")
    if not obs.target.is_ip_literal and not _names_host(leaf, obs.target.host):
        j.add(Code.SERVER_NAME_MISMATCH, _W,
              f"The server certificate does not name {obs.target.host} ({facts.subject}).")
    anchors = {a.subject for a in trust.anchors}
    if len(certs) == 1 and leaf.issuer not in anchors and leaf.issuer != leaf.subject:
        j.add(Code.SERVER_CHAIN_INCOMPLETE, _W,
              "The server sends its certificate without the intermediate CA; clients that "
              "do not hold the IGC Santé intermediates cannot build the chain.")
    server = ServerCertificate(subject=facts.subject, issuer=facts.issuer,
                               fingerprint_sha256=facts.fingerprint_sha256,
                               not_after=facts.not_after, days_left=days_left,
                               valid=result.valid)
    return server, subjects


def _profile(facts: CertFacts, j: _Judgement) -> None:
    found = check_profile(facts, profile="SERV_SSL")
    reasons = [f.message for f in found if f.severity is Severity.ERROR]
    if facts.domain is not Domain.ORGANISATIONS or facts.gamme is not Gamme.ELEMENTAIRE:
        reasons.insert(0, f"issued by {facts.issuer}, not by AC IGC-SANTE ELEMENTAIRE "
                          "ORGANISATIONS")
    if reasons:
        j.add(Code.SERVER_PROFILE, _E,
              "MSSanté requires an IGC Santé ELEMENTAIRE ORGANISATIONS server (SERV_SSL) "
              f"certificate: {'; '.join(reasons)}")
    j.findings += [ProbeFinding.of(f) for f in found]


def _names_host(cert: x509.Certificate, host: str) -> bool:
    wanted = host.rstrip(".").lower()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names = [str(a.value).lower()
                 for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    for name in names:
        if name == wanted:
            return True
        if name.startswith("*.") and "." in wanted and wanted.split(".", 1)[1] == name[2:]:
            return True
    return False


def _client(obs: TlsObservation, j: _Judgement) -> ClientOutcome:
    failure = obs.failure
    if failure is not None and failure.stage in {Stage.RESOLVE, Stage.CONNECT, Stage.GREETING,
                                                 Stage.STARTTLS}:
        return ClientOutcome.UNKNOWN  # never got as far as presenting it
    if not obs.client_cert_requested:
        j.add(Code.CLIENT_CERT_NOT_REQUESTED, _W,
              "The server did not ask for a client certificate: the mailbox's certificate "
              "was not presented and this login does not use it.")
        return ClientOutcome.NOT_REQUESTED
    if failure is not None and (failure.kind in {FailureKind.ALERT, FailureKind.CLOSED}
                                or failure.stage is Stage.HANDSHAKE):
        why = f"alert {failure.alert!r}" if failure.alert else failure.detail
        j.add(Code.CLIENT_CERT_REJECTED, _E,
              f"The server refused the client certificate ({why}).")
        return ClientOutcome.REJECTED
    reply = obs.response[-1] if obs.response else ""
    if _positive(obs.target.starttls, reply):
        j.add(Code.CLIENT_CERT_ACCEPTED, _I,
              f"The server accepted the client certificate (reply: {reply[:120]}).")
        return ClientOutcome.ACCEPTED
    if not obs.response and obs.handshake_completed and failure is None:
        j.add(Code.CLIENT_CERT_ACCEPTED, _I,
              "The server completed the handshake with the client certificate.")
        return ClientOutcome.ACCEPTED
    j.add(Code.CLIENT_CERT_REJECTED, _E,
          f"The server did not accept the session after TLS (reply: {reply[:120] or 'none'}).")
    return ClientOutcome.REJECTED


def _positive(mode: StartTls, reply: str) -> bool:
    upper = reply.upper()
    if upper.startswith("250"):
        return True
    if mode is StartTls.SMTP:
        return False
    return upper.startswith(("* OK", "* PREAUTH", "A2 OK"))

