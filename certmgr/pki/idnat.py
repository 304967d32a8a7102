"""National identifiers of the French health sector, and the idNatStruct that carries them.

An IGC Santé organisation certificate puts in its subject OU an *idNatStruct*:
one type digit followed by the identifier of the structure::

    0 ADELI  (9 digits, no check digit verified)   e.g. 0751234567
    1 FINESS (9 characters, Luhn key)               e.g. 1750712184
    2 SIREN  (9 digits, Luhn)                       e.g. 2732829320
    3 SIRET  (14 digits, Luhn; La Poste exception)  e.g. 318751275100020
    4 RPPS   (11 digits, Luhn)                      e.g. 410100000009

Types 0 and 4 may carry a suffix after "/" (an identifier of the cabinet); it
is kept in `IdNat.raw` and `IdNat.suffix`.

Two outcomes are kept apart on purpose:
- a *malformed* text (wrong type digit, wrong length, a letter where a digit is
  due) raises `IdentifierError`: the text is not an identifier at all;
- a *well-formed* identifier whose check digit fails gives
  `check_digit_ok=False`: a finding for the caller, not an exception.

FINESS of Corsica ("2A"/"2B" departments): the key is computed with the
department replaced by "20" (the numeric code Corsica had before 1976, the
usual convention). Because no public specification confirms it, a Corsican
FINESS whose key fails under that convention gets `check_digit_ok=None`
("could not verify") rather than False, so that a real certificate never gets
a false alarm.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from certmgr.errors import IdentifierError

__all__ = [
    "IdKind",
    "IdNat",
    "adeli_valid",
    "check_digit_ok",
    "finess_valid",
    "format_idnat",
    "luhn_valid",
    "parse_idnat",
    "rpps_valid",
    "siren_valid",
    "siret_valid",
    "try_parse_idnat",
]

LA_POSTE_SIREN = "356000000"


class IdKind(enum.IntEnum):
    """The type digit of an idNatStruct."""

    ADELI = 0
    FINESS = 1
    SIREN = 2
    SIRET = 3
    RPPS = 4


@dataclass(frozen=True, slots=True)
class IdNat:
    """A decoded idNatStruct.

    `value` is the identifier without the type digit nor the suffix; `raw` is
    the text as found (type digit, identifier and suffix); `check_digit_ok` is
    True/False when the identifier has a verifiable check digit, None otherwise.
    """

    kind: IdKind
    value: str
    raw: str
    check_digit_ok: bool | None
    suffix: str | None = None

    def __str__(self) -> str:
        return self.raw


_LENGTHS = {
    IdKind.ADELI: 9,
    IdKind.FINESS: 9,
    IdKind.SIREN: 9,
    IdKind.SIRET: 14,
    IdKind.RPPS: 11,
}
_WITH_SUFFIX = frozenset({IdKind.ADELI, IdKind.RPPS})
_FINESS_RE = re.compile(r"(?:[0-9]{2}|2[AB])[0-9]{7}")
_DIGITS_RE = re.compile(r"[0-9]+")
_SUFFIX_RE = re.compile(r"[0-9A-Za-z]{1,32}")


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn (mod 10) check; False for non-digits."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _digits(value: str, length: int) -> bool:
    return len(value) == length and value.isascii() and value.isdigit()


def siren_valid(value: str) -> bool:
    """9 digits passing Luhn."""
    return _digits(value, 9) and luhn_valid(value)


def siret_valid(value: str) -> bool:
    """14 digits passing Luhn, or a La Poste SIRET (SIREN 356000000) whose digit sum is a
    multiple of 5 (INSEE's exception: La Poste has too many establishments for Luhn)."""
    if not _digits(value, 14):
        return False
    if luhn_valid(value):
        return True
    return value.startswith(LA_POSTE_SIREN) and sum(map(int, value)) % 5 == 0


def finess_valid(value: str) -> bool | None:
    """Luhn key of a FINESS; Corsica ("2A"/"2B") is tried as "20", None when that fails."""
    if _FINESS_RE.fullmatch(value) is None:
        return False
    if value[:2] in {"2A", "2B"}:
        return True if luhn_valid("20" + value[2:]) else None
    return luhn_valid(value)


def rpps_valid(value: str) -> bool:
    """11 digits passing Luhn."""
    return _digits(value, 11) and luhn_valid(value)


def adeli_valid(value: str) -> bool | None:
    """ADELI numbers carry no check digit that certmgr verifies: None (False when malformed)."""
    return None if _digits(value, 9) else False


def check_digit_ok(kind: IdKind, value: str) -> bool | None:
    """The check-digit verdict for a well-formed `value` of `kind` (see `IdNat.check_digit_ok`)."""
    match kind:
        case IdKind.SIREN:
            return siren_valid(value)
        case IdKind.SIRET:
            return siret_valid(value)
        case IdKind.FINESS:
            return finess_valid(value)
        case IdKind.RPPS:
            return rpps_valid(value)
        case IdKind.ADELI:
            return adeli_valid(value)


def _check_shape(kind: IdKind, value: str, *, source: str | None) -> None:
    length = _LENGTHS[kind]
    if len(value) != length:
        raise IdentifierError(
            f"{kind.name} must have {length} characters, got {len(value)} in {value!r}",
            source=source,
        )
    if kind is IdKind.FINESS:
        if _FINESS_RE.fullmatch(value) is None:
            raise IdentifierError(
                f"FINESS must be 9 digits (2A/2B allowed for Corsica), got {value!r}",
                source=source,
            )
    elif _DIGITS_RE.fullmatch(value) is None or not value.isascii():
        raise IdentifierError(f"{kind.name} must be digits only, got {value!r}", source=source)


def parse_idnat(text: str, *, source: str | None = None) -> IdNat:
    """Decode an idNatStruct ("3" + SIRET, "1" + FINESS...).

    Raises IdentifierError naming `source` when the text is malformed; a failing
    check digit is not an error (see `IdNat.check_digit_ok`).
    """
    raw = text.strip()
    if not raw:
        raise IdentifierError("empty national identifier", source=source)
    type_char, body = raw[0], raw[1:]
    if type_char not in "01234":
        raise IdentifierError(
            f"unknown idNatStruct type digit {type_char!r} in {raw!r} (expected 0-4: "
            "0 ADELI, 1 FINESS, 2 SIREN, 3 SIRET, 4 RPPS)",
            source=source,
        )
    kind = IdKind(int(type_char))
    suffix: str | None = None
    if "/" in body:
        if kind not in _WITH_SUFFIX:
            raise IdentifierError(
                f"{kind.name} idNatStruct cannot carry a '/' suffix: {raw!r}", source=source
            )
        body, _, suffix = body.partition("/")
        if _SUFFIX_RE.fullmatch(suffix) is None:
            raise IdentifierError(f"malformed suffix after '/' in {raw!r}", source=source)
    _check_shape(kind, body, source=source)
    return IdNat(
        kind=kind, value=body, raw=raw, check_digit_ok=check_digit_ok(kind, body), suffix=suffix
    )


def try_parse_idnat(text: str | None) -> IdNat | None:
    """`parse_idnat`, or None when `text` is absent or does not have the idNatStruct shape."""
    if not text:
        return None
    try:
        return parse_idnat(text)
    except IdentifierError:
        return None


def format_idnat(kind: IdKind, value: str, *, suffix: str | None = None) -> str:
    """Build the idNatStruct text for `value` of `kind`; raises IdentifierError when malformed."""
    text = f"{int(kind)}{value}" + (f"/{suffix}" if suffix is not None else "")
    parse_idnat(text, source=f"{kind.name} {value}")
    return text
