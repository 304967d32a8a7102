"""Reading certificate DER directly: the slices validation needs, and the subject string.

cryptography re-encodes a certificate's TBS on each `tbs_certificate_bytes` and walks a name
for each `rfc4514_string()`; a batch of leaves needs both once per leaf, so they are cut
from the DER here instead. Every function answers None (or falls back) when the DER is not
shaped as expected: the caller then takes cryptography's slow path, which decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "NAME_CACHE_MAX",
    "header",
    "learn_attribute_names",
    "rfc4514",
    "signed_part",
    "split_extensions",
    "tbs_layout",
    "tbs_parts",
]

# Bounded caches keyed by raw DER (the text depends on those bytes only): name attributes
# and whole RDNs repeat across the subjects of one organisation.
NAME_CACHE_MAX = 4096
_ATTR_NAMES: dict[bytes, str] = {}  # attribute type OID (DER) -> RFC 4514 name
_RDN_TEXT: dict[bytes, str] = {}  # RDN (DER) -> its RFC 4514 text
_SPECIALS = frozenset('\\"+,;<>\0')
_UTF8, _PRINTABLE = 0x0C, 0x13
_PRINTABLE_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def header(b: bytes, i: int) -> tuple[int, int, int]:
    """(tag, content offset, content length) of the DER element at `i`."""
    tag, length = b[i], b[i + 1]
    i += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(b[i : i + n], "big")
        i += n
    return tag, i, length


def tbs_parts(der: bytes) -> tuple[bytes, bytes, bytes, list[bytes]] | None:
    """(TBSCertificate, issuer, subject, [each Extension]) as DER slices; None when odd."""
    layout = tbs_layout(der)
    if layout is None:
        return None
    tbs, issuer, subject, start, end = layout
    spans = split_extensions(der, start, end)
    if spans is None:
        return None
    return tbs, issuer, subject, [der[a:b] for a, b in spans]


def split_extensions(der: bytes, start: int, end: int) -> list[tuple[int, int]] | None:
    """(start, end) of each Extension between `start` and `end`; None when they do not tile."""
    frm = int.from_bytes
    out: list[tuple[int, int]] = []
    e = start
    try:
        while e < end:
            length = der[e + 1]
            v = e + 2
            if length & 0x80:
                v += length & 0x7F
                length = frm(der[e + 2 : v], "big")
            out.append((e, v + length))
            e = v + length
    except IndexError:
        return None
    return out if e == end else None


def tbs_layout(der: bytes) -> tuple[bytes, bytes, bytes, int, int] | None:
    """(TBSCertificate, issuer, subject) as DER slices and the offsets (start, end) of the
    Extensions' content (equal when there are none); None when the DER is odd.

    Runs for every certificate of a batch, hence the inlined header reads.
    """
    frm = int.from_bytes
    try:
        _, i, _ = header(der, 0)
        tag, j, length = header(der, i)
        if tag != 0x30:
            return None
        tbs_end = j + length
        k = j
        if der[k] == 0xA0:
            k += 2 + der[k + 1]
        spans: list[tuple[int, int]] = []
        # serial, signature, issuer, validity, subject, subjectPublicKeyInfo, then the
        # optional unique identifiers and [3] extensions
        while k < tbs_end:
            tag, length = der[k], der[k + 1]
            c = k + 2
            if length & 0x80:
                c += length & 0x7F
                length = frm(der[k + 2 : c], "big")
            spans.append((k, c + length))
            if tag == 0xA3:
                break
            k = c + length
        if len(spans) < 6 or spans[-1][1] != tbs_end:
            return None
        e = tbs_end
        if der[spans[-1][0]] == 0xA3 and len(spans) > 6:
            _, e, elen = header(der, c)
            if e + elen != tbs_end:
                return None
    except IndexError:
        return None
    (a, b), (c, d) = spans[2], spans[4]
    return der[i:tbs_end], der[a:b], der[c:d], e, tbs_end


def signed_part(der: bytes) -> bytes | None:
    """The first element (the TBS) of a signed DER SEQUENCE, or None when not DER-shaped."""
    try:
        tag, i, _ = header(der, 0)
        tag2, j, length = header(der, i)
    except IndexError:
        return None
    if tag != 0x30 or tag2 != 0x30 or j + length > len(der):
        return None
    return der[i : j + length]


def _escape(val: str) -> str:
    """`cryptography.x509.name._escape_dn_value` for a non-empty string."""
    if not _SPECIALS.isdisjoint(val):
        for ch, esc in (("\\", "\\\\"), ('"', '\\"'), ("+", "\\+"), (",", "\\,"),
                        (";", "\\;"), ("<", "\\<"), (">", "\\>"), ("\0", "\\00")):
            val = val.replace(ch, esc)
    if val[0] == "#" or (val[0] == " " and len(val) > 1):
        val = "\\" + val
    if val[-1] == " ":
        val = val[:-1] + "\\ "
    return val


def _rdns(raw: bytes) -> list[tuple[int, int]]:
    """(start, end) of each RDN of a Name's DER."""
    _, i, length = header(raw, 0)
    end, out = i + length, []
    while i < end:
        _, s, length = header(raw, i)
        out.append((s, s + length))
        i = s + length
    return out


def learn_attribute_names(raw: bytes, name: x509.Name) -> None:
    """Remember the RFC 4514 names of `name`'s attribute types, keyed by their DER."""
    try:
        spans = _rdns(raw)
    except IndexError:
        return
    if len(spans) != len(name.rdns) or len(_ATTR_NAMES) >= NAME_CACHE_MAX:
        return
    for (s, _), rdn in zip(spans, name.rdns, strict=True):
        attrs = list(rdn)
        if len(attrs) == 1:
            _, a, _ = header(raw, s)
            _, o, olen = header(raw, a)
            _ATTR_NAMES[raw[a : o + olen]] = attrs[0].rfc4514_attribute_name


def rfc4514(raw: bytes) -> str | None:
    """`Name.rfc4514_string()` from the Name's DER, or None when the fast path does not apply.

    It applies to names of single-attribute RDNs with UTF8String or PrintableString values
    whose attribute types were seen before (through the slow path); anything else falls back.
    RDNs repeat across the leaves of one organisation: their strings are cached by DER.
    """
    out: list[str] = []
    try:
        _, i, length = header(raw, 0)
        end = i + length
        while i < end:
            length = raw[i + 1]  # RDN: SET, its header read inline (the usual short form)
            if length & 0x80:
                _, s, length = header(raw, i)
            else:
                s = i + 2
            rdn_end = s + length
            rdn = raw[i:rdn_end]
            text = _RDN_TEXT.get(rdn)
            if text is None:
                text = _rdn_text(raw, s, rdn_end)
                if text is None:
                    return None
                if len(_RDN_TEXT) < NAME_CACHE_MAX:
                    _RDN_TEXT[rdn] = text
            out.append(text)
            i = rdn_end
    except (IndexError, UnicodeDecodeError):
        return None
    out.reverse()
    return ",".join(out)


def _rdn_text(raw: bytes, s: int, rdn_end: int) -> str | None:
    tag, a, length = header(raw, s)  # AttributeTypeAndValue: SEQUENCE
    if tag != 0x30 or a + length != rdn_end:
        return None
    _, o, olen = header(raw, a)
    name = _ATTR_NAMES.get(raw[a : o + olen])
    vtag, v, vlen = header(raw, o + olen)
    if name is None or v + vlen != rdn_end or vlen == 0:
        return None
    value = raw[v : v + vlen].decode()
    if vtag == _PRINTABLE:
        if not _PRINTABLE_CHARS.issuperset(value):
            return None
    elif vtag != _UTF8:
        return None
    return f"{name}={_escape(value)}"

