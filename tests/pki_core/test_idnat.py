"""National identifiers: shapes, check digits, the La Poste and Corsica exceptions."""

from __future__ import annotations

import pytest

from certmgr.errors import IdentifierError
from certmgr.pki.idnat import (
    IdKind,
    finess_valid,
    format_idnat,
    luhn_valid,
    parse_idnat,
    rpps_valid,
    siren_valid,
    siret_valid,
    try_parse_idnat,
)


def _mutate(digits: str, position: int) -> str:
    changed = str((int(digits[position]) + 1) % 10)
    return digits[:position] + changed + digits[position + 1 :]


class TestLuhn:
    """The Luhn check itself."""

    @pytest.mark.parametrize("value", ["79927398713", "0", "18", "732829320"])
    def test_valid(self, value: str) -> None:
        assert luhn_valid(value)

    @pytest.mark.parametrize("value", ["79927398710", "", "12a", "١٢"])
    def test_invalid(self, value: str) -> None:
        assert not luhn_valid(value)


class TestKnownGood:
    """Real identifiers pass; every single-digit mutation fails."""

    @pytest.mark.parametrize("siren", ["732829320", "187512751", "356000000"])
    def test_siren(self, siren: str) -> None:
        assert siren_valid(siren)
        for position in range(9):
            assert not siren_valid(_mutate(siren, position))

    @pytest.mark.parametrize("siret", ["73282932000074", "18751275100020", "35600000000048"])
    def test_siret(self, siret: str) -> None:
        assert siret_valid(siret)
        for position in range(9, 14):  # positions inside the La Poste prefix would change rule
            assert not siret_valid(_mutate(siret, position))

    def test_finess(self) -> None:
        assert finess_valid("750712184")
        assert not finess_valid("750712185")

    def test_rpps(self) -> None:
        assert rpps_valid("10100000008")
        assert not rpps_valid("10100000009")


class TestLaPoste:
    """SIREN 356000000 establishments use digit sum % 5 instead of Luhn."""

    def test_digit_sum_multiple_of_five(self) -> None:
        value = "35600000012346"  # digit sum 30, not Luhn-valid
        assert not luhn_valid(value)
        assert siret_valid(value)

    def test_digit_sum_not_multiple_of_five(self) -> None:
        assert not siret_valid("35600000012345")

    def test_rule_is_la_poste_only(self) -> None:
        assert not siret_valid("73282932012346")


class TestCorsica:
    """FINESS of 2A/2B: key computed with "20"; unverifiable otherwise (None, not False)."""

    def test_key_with_20(self) -> None:
        assert finess_valid("2A0000008") is True  # Luhn("200000008")
        assert parse_idnat("12B0000008").check_digit_ok is True

    def test_unverifiable(self) -> None:
        assert parse_idnat("12A0000154").check_digit_ok is None


class TestParse:
    """idNatStruct decoding."""

    @pytest.mark.parametrize(
        ("text", "kind", "value", "ok"),
        [
            ("318751275100020", IdKind.SIRET, "18751275100020", True),
            ("2732829320", IdKind.SIREN, "732829320", True),
            ("1750712184", IdKind.FINESS, "750712184", True),
            ("410100000008", IdKind.RPPS, "10100000008", True),
            ("0751234567", IdKind.ADELI, "751234567", None),
            ("318751275100021", IdKind.SIRET, "18751275100021", False),
        ],
    )
    def test_kinds(self, text: str, kind: IdKind, value: str, ok: bool | None) -> None:
        parsed = parse_idnat(text)
        assert (parsed.kind, parsed.value, parsed.raw, parsed.check_digit_ok) == (
            kind, value, text, ok,
        )

    @pytest.mark.parametrize("text", ["410100000008/CAB01", "0751234567/12"])
    def test_suffix_kept_for_adeli_and_rpps(self, text: str) -> None:
        parsed = parse_idnat(text)
        assert parsed.raw == text
        assert parsed.suffix == text.partition("/")[2]
        assert "/" not in parsed.value

    @pytest.mark.parametrize(
        ("text", "needle"),
        [
            ("918751275100020", "type digit"),
            ("31875127510002", "14 characters"),
            ("2A32829320", "digits only"),
            ("", "empty"),
            ("318751275100020/X", "suffix"),
            ("1ZZ0000006", "FINESS"),
        ],
    )
    def test_malformed(self, text: str, needle: str) -> None:
        with pytest.raises(IdentifierError, match=needle) as info:
            parse_idnat(text, source="mailbox.csv:3")
        assert "mailbox.csv:3" in str(info.value)

    def test_try_parse(self) -> None:
        assert try_parse_idnat("0002 187512751") is None
        assert try_parse_idnat(None) is None
        assert try_parse_idnat("2732829320") is not None


class TestFormat:
    def test_round_trip(self) -> None:
        text = format_idnat(IdKind.SIRET, "18751275100020")
        assert text == "318751275100020"
        assert parse_idnat(text).value == "18751275100020"
        assert format_idnat(IdKind.RPPS, "10100000008", suffix="C1") == "410100000008/C1"

    def test_refuses_malformed(self) -> None:
        with pytest.raises(IdentifierError):
            format_idnat(IdKind.SIREN, "12345")
