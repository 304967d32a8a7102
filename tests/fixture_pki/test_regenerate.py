"""Regeneration: the committed set is the manifest's output; other instants shift dates only."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from certmgr.errors import ConfigError, PKIError
from certmgr.testpki import FIXED_AT, PkiIndex, build_pki, load_index, load_manifest
from certmgr.testpki.keys import KEY_SUFFIX, default_keys_dir
from certmgr.testpki.manifest import When

OTHER_AT = dt.datetime(2026, 11, 28, 10, 0, 0, tzinfo=dt.UTC)


def test_rebuilding_at_fixed_at_reproduces_the_committed_bytes(
    tmp_path: Path, fixed_index: PkiIndex
) -> None:
    index = build_pki(out_dir=tmp_path, at=FIXED_AT)
    assert index == load_index(tmp_path)
    committed = fixed_index.out_dir
    ours = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert ours == sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    for rel in ours:
        if rel.suffix != ".p12":  # random salt; contents checked in test_crls_bundles
            assert (tmp_path / rel).read_bytes() == (committed / rel).read_bytes(), rel


def test_another_instant_keeps_the_structure_and_shifts_the_dates(
    tmp_path: Path, fixed_index: PkiIndex
) -> None:
    index = build_pki(out_dir=tmp_path, at=OTHER_AT + dt.timedelta(microseconds=5))
    assert index.at == OTHER_AT  # second precision
    shift = OTHER_AT - FIXED_AT
    assert index.names() == fixed_index.names()
    for new in index.artifacts:
        old = fixed_index[new.name]
        same = ("kind", "scenario", "paths", "issuer", "issuer_dn", "subject_dn", "serial",
                "profile", "trusted", "crl_number", "revoked", "contents")
        assert [getattr(new, f) for f in same] == [getattr(old, f) for f in same], new.name
        delta = dt.timedelta(0) if new.kind == "ca" else shift
        moved = []
        for field in ("not_before", "not_after", "this_update", "next_update"):
            before, after = getattr(old, field), getattr(new, field)
            assert (after is None) == (before is None)
            if before is not None:
                moved.append(after - before)
        # The bound a leaf declares moves exactly; the other is three *calendar* years
        # away (like real leaves), so it may move one leap day more or less.
        assert delta in moved or not moved, new.name
        assert all(abs(m - delta) <= dt.timedelta(days=1) for m in moved), new.name


def test_an_instant_outside_the_ca_validity_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PKIError, match="outside its issuer"):
        build_pki(out_dir=tmp_path, at=dt.datetime(2032, 1, 1, tzinfo=dt.UTC))


def test_files_no_longer_produced_are_removed_others_kept(tmp_path: Path) -> None:
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "RENAMED.pem").write_text("old")
    (tmp_path / "notes.txt").write_text("mine")
    build_pki(out_dir=tmp_path, at=FIXED_AT)
    assert not (tmp_path / "ca" / "RENAMED.pem").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_every_key_is_committed_and_named_as_a_test_key() -> None:
    manifest = load_manifest()
    keys = {p.name for p in default_keys_dir().iterdir()}
    assert keys == {f"{name}{KEY_SUFFIX}" for name in manifest.key_sizes()}


SMALL = """
[urls]
crl_base = "http://x.invalid/CRL/FIXTURE/"
ca_base = "http://x.invalid/AC/FIXTURE/"
ocsp = "http://x.invalid/ocsp"
cps = "http://x.invalid/PC"
ldap_host = "x.invalid"

[policies]
AUTH_CLI = "1.2.250.1.213.1.7.999.1.1.1"

[[ca]]
name = "R"
subject = "CN=AC RACINE MINI,OU=IGC-SANTE FIXTURE,O=ASIP-SANTE,C=FR"
scenario = "valid"
key_size = {ca_size}
not_before = 2013-06-25T00:00:00Z
not_after = 2033-06-25T00:00:00Z

[[leaf]]
name = "l"
issuer = "R"
profile = "AUTH_CLI"
scenario = "valid"
subject = "CN=mini,OU=1750999997,O=MINI,ST=Paris (75),C=FR"
not_before = "-1d"
key_size = 1024
"""


def test_missing_keys_are_generated_then_reused(tmp_path: Path) -> None:
    manifest_path = tmp_path / "m.toml"
    manifest_path.write_text(SMALL.replace("{ca_size}", "1024"))
    manifest = load_manifest(manifest_path)
    keys = tmp_path / "keys"
    first = build_pki(out_dir=tmp_path / "a", at=FIXED_AT, manifest=manifest, keys_dir=keys)
    assert sorted(p.name for p in keys.iterdir()) == ["R.TEST-KEY.pem", "l.TEST-KEY.pem"]
    stamp = {p.name: p.read_bytes() for p in keys.iterdir()}
    second = build_pki(out_dir=tmp_path / "b", at=FIXED_AT, manifest=manifest, keys_dir=keys)
    assert {p.name: p.read_bytes() for p in keys.iterdir()} == stamp
    assert first["l"].sha256 == second["l"].sha256  # same keys: same bytes


def test_a_key_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    manifest_path = tmp_path / "m.toml"
    manifest_path.write_text(SMALL.replace("{ca_size}", "1024"))
    build_pki(out_dir=tmp_path / "a", at=FIXED_AT, manifest=load_manifest(manifest_path),
              keys_dir=keys)
    manifest_path.write_text(SMALL.replace("{ca_size}", "2048"))
    with pytest.raises(PKIError, match="RSA-1024, the manifest says RSA-2048"):
        build_pki(out_dir=tmp_path / "b", at=FIXED_AT, manifest=load_manifest(manifest_path),
                  keys_dir=keys)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [('issuer = "R"', 'issuer = "NOPE"', "unknown issuer NOPE"),
     ('not_before = "-1d"', 'not_before = "yesterday"', "offset like"),
     ('profile = "AUTH_CLI"', 'profile = "SIGN"', "no policy for SIGN")],
)
def test_bad_manifests_are_refused_with_the_entry_named(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = tmp_path / "m.toml"
    path.write_text(SMALL.replace("{ca_size}", "1024").replace(old, new))
    with pytest.raises(ConfigError, match=message) as info:
        load_manifest(path)
    assert info.value.source == str(path)


@pytest.mark.parametrize(
    ("text", "delta"),
    [("-1s", dt.timedelta(seconds=-1)), ("+120d-1h", dt.timedelta(days=120, hours=-1)),
     ("+6d", dt.timedelta(days=6)), ("-30m", dt.timedelta(minutes=-30))],
)
def test_relative_times(text: str, delta: dt.timedelta) -> None:
    assert When.parse(text, where="t").resolve(FIXED_AT) == FIXED_AT + delta


def test_absolute_times_ignore_at() -> None:
    when = When.parse(dt.datetime(2013, 6, 25, tzinfo=dt.UTC), where="t")
    assert when.resolve(OTHER_AT) == when.resolve(FIXED_AT)


def test_an_unchanged_p12_keeps_its_bytes(tmp_path: Path, fixed_index: PkiIndex) -> None:
    committed = fixed_index.path("p12-el-org-auth-valid", "p12").read_bytes()
    p12 = tmp_path / "bundles" / "el-org-auth-valid.p12"
    p12.parent.mkdir()
    p12.write_bytes(committed)
    build_pki(out_dir=tmp_path, at=FIXED_AT)
    assert p12.read_bytes() == committed
    build_pki(out_dir=tmp_path, at=OTHER_AT)  # another leaf window: a new p12
    assert p12.read_bytes() != committed
