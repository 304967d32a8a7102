"""CRLs parsed, checked and indexed once; the scope rules of RFC 5280 §6.3 used per certificate.

`CrlIndex.build` reads a CRL once: issuer, times, number, delta indicator, issuing
distribution point, unknown critical extensions (CRL or entry level: the CRL is then
unusable) and a dict from serial number to entry, so that a lookup is O(1) whatever the CRL
size. Large direct CRLs are indexed by a small DER walker over `revokedCertificates` (about
twice as fast as iterating cryptography's entries); entries are decoded only when hit.
The walk stands in for cryptography only where it would read the entries the same way: an
undefined reason code, an invalidity date that is not a real instant, a duplicated extension
(in a CRL whose entries carry critical flags, where each kind of extension block is read)
or anything it cannot check cheaply sends the CRL to the full parser, whose answer (e.g.
"unreadable CRL") is the verdict; a serial listed twice answers with its last entry on both
paths. Known limit: when no entry carries a critical flag, the walk does not read the other
non-critical entry extensions, so an entry repeating one (which cryptography calls
unreadable) does not make the CRL unusable there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asn1crypto import crl as acrl
from cryptography import x509
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID

from certmgr.pki import names
from certmgr.pki.der import header, signed_part
from certmgr.pki.signature import verify_signature

if TYPE_CHECKING:
    from certmgr.pki.certinfo import CertInfo

__all__ = ["ALL_REASONS", "CrlIndex", "RevokedEntry", "dp_match"]

ALL_REASONS = frozenset(
    f.value for f in x509.ReasonFlags
    if f not in (x509.ReasonFlags.unspecified, x509.ReasonFlags.remove_from_crl)
)
_KNOWN_CRL = frozenset(o.dotted_string for o in (
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER, ExtensionOID.CRL_NUMBER,
    ExtensionOID.DELTA_CRL_INDICATOR,
    ExtensionOID.ISSUING_DISTRIBUTION_POINT, ExtensionOID.FRESHEST_CRL,
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS, ExtensionOID.ISSUER_ALTERNATIVE_NAME,
))
_KNOWN_ENTRY = frozenset(o.dotted_string for o in (
    CRLEntryExtensionOID.CRL_REASON, CRLEntryExtensionOID.INVALIDITY_DATE,
    CRLEntryExtensionOID.CERTIFICATE_ISSUER,
)) | {"2.5.29.23"}  # holdInstructionCode
_CERT_ISSUER = CRLEntryExtensionOID.CERTIFICATE_ISSUER.dotted_string
_REASON_OID = CRLEntryExtensionOID.CRL_REASON.dotted_string
_INVALIDITY_OID = CRLEntryExtensionOID.INVALIDITY_DATE.dotted_string
_DEFINED_REASONS = frozenset({0, 1, 2, 3, 4, 5, 6, 8, 9, 10})  # RFC 5280 CRLReason values
_FAST_MIN_ENTRIES = 2_000
_DER_TRUE = b"\x01\x01\xff"  # BOOLEAN TRUE: a `critical` flag (or a look-alike in a value)
_CERT_ISSUER_DER = b"\x06\x03\x55\x1d\x1d"  # OID 2.5.29.29, certificateIssuer
_INVALIDITY_DER = b"\x06\x03\x55\x1d\x18"  # OID 2.5.29.24, invalidityDate
# a cRLReason OID not followed by a one-byte ENUMERATED of a defined reason (0-6, 8-10)
_ODD_REASON = re.compile(rb"\x06\x03\x55\x1d\x15(?!\x04\x03\x0a\x01[\x00-\x06\x08-\x0a])")
# an invalidityDate as DER encodes it (GeneralizedTime YYYYMMDDHHMMSSZ): its day, kept
_TIME = rb"\x18\x0f(\d{8})(?:[01]\d|2[0-3])[0-5]\d[0-5]\dZ"
_INVALIDITY = re.compile(rb"\x06\x03\x55\x1d\x18\x04\x11" + _TIME)
_INVALIDITY_VALUE = re.compile(_TIME)


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    reason: str | None          # RFC 5280 name, e.g. "keyCompromise", "certificateHold"
    date: dt.datetime
    issuer_key: names.NameKey | None  # certificateIssuer (indirect CRLs); None: the CRL issuer


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    out = head + "".join(p.capitalize() for p in rest)
    return {"removeFromCrl": "removeFromCRL", "aaCompromise": "aACompromise",
            "caCompromise": "cACompromise"}.get(out, out)


class CrlIndex:
    """One CRL, checked and indexed. `unusable` holds the reason when it must not be used."""

    __slots__ = ("_der_entries", "_entries", "_name", "_tbs", "crl", "delta_base", "der", "id",
                 "idp", "issuer_key", "next_update", "number", "this_update", "unusable")

    def __init__(self, crl: x509.CertificateRevocationList, der: bytes,
                 *, fast: bool | None = None) -> None:
        self.crl = crl
        self.der = der
        self.id = hashlib.sha256(der).hexdigest()
        self.issuer_key = names.name_key(crl.issuer)
        self.this_update = crl.last_update_utc
        self.next_update = crl.next_update_utc
        self.number: int | None = None
        self.delta_base: int | None = None
        self.idp: x509.IssuingDistributionPoint | None = None
        self.unusable: str | None = None
        self._name: str | None = None
        self._tbs: bytes | None = None
        self._entries: dict[int, list[RevokedEntry]] = {}
        self._der_entries: dict[bytes, int] = {}
        try:
            self._read_extensions()
            # (read through getattr: mypy cannot see that _read_extensions sets it)
            indirect = bool(getattr(self.idp, "indirect_crl", False))
            if fast is None:
                fast = not indirect and _count_hint(der) >= _FAST_MIN_ENTRIES
            if fast and not indirect and self._index_fast():
                return
            self._der_entries = {}
            self._index_slow()
        except (ValueError, TypeError, x509.DuplicateExtension) as exc:
            self.unusable = f"unreadable CRL: {exc}"

    @classmethod
    def build(cls, crl: x509.CertificateRevocationList | bytes, der: bytes | None = None,
              *, fast: bool | None = None) -> CrlIndex:
        if isinstance(crl, bytes):
            der, crl = crl, x509.load_der_x509_crl(crl)
        if der is None:
            from cryptography.hazmat.primitives.serialization import Encoding  # noqa: PLC0415

            der = crl.public_bytes(Encoding.DER)
        return cls(crl, der, fast=fast)

    def signed_by(self, key: Any) -> bool:
        """Whether `key` signed this CRL, checked over the TBS as it is in the DER."""
        if self._tbs is None:
            self._tbs = signed_part(self.der)
        return verify_signature(key, self.crl, tbs=self._tbs)

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = self._describe()
        return self._name

    def _describe(self) -> str:
        num = "" if self.number is None else f" #{self.number}"
        kind = "delta CRL" if self.delta_base is not None else "CRL"
        return f"{kind} of {self.crl.issuer.rfc4514_string()}{num}"

    def _read_extensions(self) -> None:
        for ext in self.crl.extensions:
            v: Any = ext.value
            if ext.critical and ext.oid.dotted_string not in _KNOWN_CRL:
                self.unusable = f"unknown critical CRL extension {ext.oid.dotted_string}"
            if isinstance(v, x509.CRLNumber):
                self.number = v.crl_number
            elif isinstance(v, x509.DeltaCRLIndicator):
                self.delta_base = v.crl_number
            elif isinstance(v, x509.IssuingDistributionPoint):
                self.idp = v

    def _index_slow(self) -> None:
        issuer: names.NameKey | None = None
        for entry in self.crl:
            reason: str | None = None
            for ext in entry.extensions:
                v: Any = ext.value
                if ext.critical and ext.oid.dotted_string not in _KNOWN_ENTRY:
                    self.unusable = f"unknown critical CRL entry extension {ext.oid.dotted_string}"
                if isinstance(v, x509.CRLReason):
                    reason = v.reason.value
                elif isinstance(v, x509.CertificateIssuer):
                    dns = v.get_values_for_type(x509.DirectoryName)
                    issuer = names.name_key(dns[0]) if dns else issuer
            self._entries.setdefault(entry.serial_number, []).append(
                RevokedEntry(reason, entry.revocation_date_utc, issuer)
            )

    def _index_fast(self) -> bool:
        """Index serial -> entry offset; False when an entry needs the full parser."""
        b = self.der
        _, i, _ = header(b, 0)
        _, i, length = header(b, i)
        end = i + length
        tag, j, length = header(b, i)
        if tag == 0x02:  # version
            i = j + length
            tag, j, length = header(b, i)
        i = j + length  # signature algorithm
        for _ in range(2):  # issuer, thisUpdate
            _, j, length = header(b, i)
            i = j + length
        if i >= end:
            return True
        tag, j, length = header(b, i)
        if tag in (0x17, 0x18):  # nextUpdate
            i = j + length
            if i >= end:
                return True
            tag, j, length = header(b, i)
        if tag != 0x30:
            return True  # crlExtensions only: no entries
        start, rend = j, j + length
        # serial (its DER content: cryptography refused the CRL unless every serial is
        # minimally encoded, so equal bytes are equal numbers) -> offset of the entry
        out: dict[bytes, int] = {}
        blobs: set[bytes] = set()
        # plain: no entry extension the walk must read (critical flags, certificateIssuer),
        # every reason code one cryptography knows and every invalidity date a real instant;
        # the entries' other (non-critical) extensions are then never decoded
        plain = (b.find(_DER_TRUE, start, rend) < 0 and b.find(_CERT_ISSUER_DER, start, rend) < 0
                 and _ODD_REASON.search(b, start, rend) is None
                 and _invalidity_dates_ok(b, start, rend))
        i = start
        if plain:  # the common shape, inlined: short entries (< 128 bytes), no extensions read
            while i < rend and not (size := b[i + 1]) & 0x80:
                out[b[i + 4 : i + 4 + b[i + 3]]] = i
                i += 2 + size
        while i < rend:
            size = b[i + 1]
            if size < 0x80:
                s = i + 2
                e = s + size
            else:
                s = i + 2 + (size & 0x7F)
                e = s + int.from_bytes(b[i + 2 : s], "big")
                if b[s + 1] & 0x80:  # a serial of 128 bytes or more: the full parser decides
                    return False
            k = s + 2 + b[s + 1]
            out[b[s + 2 : k]] = i
            if not plain and k + 2 + b[k + 1] < e:  # entry extensions: read each kind once
                blobs.add(b[k + 2 + b[k + 1] : e])
            i = e
        for blob in blobs:
            if not self._entry_extensions_ok(blob):
                return False
        self._der_entries = out
        return True

    def _entry_extensions_ok(self, blob: bytes) -> bool:
        """Whether the walk may index entries with these extensions (the DER of one entry's
        `crlEntryExtensions`); notes an unknown critical one. False: the full parser decides."""
        try:
            return self._read_entry_extensions(blob)
        except Exception:  # asn1crypto's errors on odd DER vary: the full parser decides
            return False

    def _read_entry_extensions(self, blob: bytes) -> bool:
        seen: set[str] = set()
        for ext in acrl.CRLEntryExtensions.load(blob):
            oid = ext["extn_id"].dotted
            if oid == _CERT_ISSUER or oid in seen:
                return False
            seen.add(oid)
            if ext["critical"].native and oid not in _KNOWN_ENTRY:
                self.unusable = f"unknown critical CRL entry extension {oid}"
            value = ext["extn_value"].contents  # checked byte for byte: asn1crypto is lenient
            if oid == _REASON_OID and not (len(value) == 3 and value[:2] == b"\x0a\x01"
                                           and value[2] in _DEFINED_REASONS):
                return False
            if oid == _INVALIDITY_OID:
                day = _INVALIDITY_VALUE.fullmatch(value)
                if day is None or not _real_days({day[1]}):
                    return False
        return True

    def lookup(self, serial: int, issuer_key: names.NameKey) -> RevokedEntry | None:
        """The entry for certificate (`issuer_key`, `serial`), or None when not listed."""
        if self._der_entries:
            n = serial if serial >= 0 else ~serial
            off = self._der_entries.get(serial.to_bytes(n.bit_length() // 8 + 1, "big",
                                                        signed=True))
            return None if off is None else self._decode(off)
        # a serial listed twice: the last entry speaks, as in the walk's dict
        for entry in reversed(self._entries.get(serial, ())):
            if (entry.issuer_key or self.issuer_key) == issuer_key:
                return entry
        return None

    def _decode(self, off: int) -> RevokedEntry:
        _, s, length = header(self.der, off)
        rc = acrl.RevokedCertificate.load(self.der[off : s + length])
        reason = None
        for ext in rc["crl_entry_extensions"]:
            if ext["extn_id"].native == "crl_reason":
                reason = _camel(ext["extn_value"].parsed.native)
        date = rc["revocation_date"].native
        return RevokedEntry(reason, date.astimezone(dt.UTC), None)


def _invalidity_dates_ok(b: bytes, start: int, end: int) -> bool:
    """Whether every invalidityDate between `start` and `end` is a plain, real UTC instant."""
    count = b.count(_INVALIDITY_DER, start, end)
    if not count:
        return True
    days = _INVALIDITY.findall(b, start, end)
    return len(days) == count and _real_days(set(days))


def _real_days(days: set[bytes]) -> bool:
    """Whether every YYYYMMDD in `days` is a day of the calendar (year 1 to 9999)."""
    try:
        for day in days:
            dt.date(int(day[:4]), int(day[4:6]), int(day[6:]))
    except ValueError:
        return False
    return True


def _count_hint(der: bytes) -> int:
    return len(der) // 40  # an entry with a reason code takes about 40 bytes


def _dp_names(dp: x509.DistributionPoint | x509.IssuingDistributionPoint,
              base: list[x509.Name]) -> list[x509.GeneralName] | None:
    if dp.full_name:
        return list(dp.full_name)
    if dp.relative_name is not None:
        return [x509.DirectoryName(x509.Name([*b.rdns, dp.relative_name])) for b in base]
    return None


def _same(a: x509.GeneralName, b: x509.GeneralName) -> bool:
    if isinstance(a, x509.DirectoryName) and isinstance(b, x509.DirectoryName):
        return names.name_key(a.value) == names.name_key(b.value)
    return a == b


def dp_match(idx: CrlIndex, ci: CertInfo) -> frozenset[str] | None:
    """The reasons `idx` covers for `ci` (§6.3.3 b, d), or None when it is out of scope."""
    idp = idx.idp
    is_ca = bool(ci.is_ca)
    if idp is not None and (
        (idp.only_contains_user_certs and is_ca)
        or (idp.only_contains_ca_certs and not is_ca)
        or idp.only_contains_attribute_certs
    ):
        return None
    indirect = idp is not None and idp.indirect_crl
    # a certificate without CRL distribution points is treated as naming its issuer (§6.3.3)
    dps: tuple[x509.DistributionPoint | None, ...] = ci.crl_dps or (None,)
    best: set[str] = set()
    matched = False
    for dp in dps:
        if dp is not None and dp.crl_issuer:
            issuers = [n.value for n in dp.crl_issuer if isinstance(n, x509.DirectoryName)]
            if not indirect or idx.issuer_key not in {names.name_key(n) for n in issuers}:
                continue
        else:
            if idx.issuer_key != ci.issuer_key:
                continue
            issuers = []  # the certificate's issuer, read below only when needed
        if idp is not None:
            issuers = issuers or [ci.cert.issuer]
            idp_names = _dp_names(idp, [idx.crl.issuer])
            if idp_names is not None:
                mine = None if dp is None else _dp_names(dp, issuers)
                if mine is None:
                    mine = [x509.DirectoryName(n) for n in issuers]
                if not any(_same(a, b) for a in idp_names for b in mine):
                    continue
        reasons = set(ALL_REASONS)
        if dp is not None and dp.reasons:
            reasons &= {r.value for r in dp.reasons}
        if idp is not None and idp.only_some_reasons:
            reasons &= {r.value for r in idp.only_some_reasons}
        matched = True
        best |= reasons
    if not matched and idx.issuer_key == ci.issuer_key and indirect and not ci.crl_dps:
        matched, best = True, set(ALL_REASONS)
    return frozenset(best) if matched else None
