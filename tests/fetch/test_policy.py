"""UrlPolicy: URL text and resolved addresses checked without touching the network."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from certmgr.errors import FetchError, NotAllowedError
from certmgr.fetch import CRL_MAX_BYTES, Resolver, UrlPolicy

CRL = "http://igc-sante.esante.gouv.fr/CRL/ACI-EL-ORG.crl"
POLICY = UrlPolicy()


def _no_dns(host: str, port: int) -> Iterable[str]:
    raise AssertionError(f"resolver called for {host}")


def _resolves_to(*addresses: str) -> Resolver:
    def resolver(host: str, port: int) -> list[str]:
        return list(addresses)
    return resolver


class TestCheckUrl:
    """check_url reads the text only."""

    def test_ans_crl_url_is_accepted_and_normalised(self) -> None:
        parsed = POLICY.check_url("HTTP://IGC-Sante.esante.gouv.fr./CRL/ACI-EL-ORG.crl#x")
        assert (parsed.scheme, parsed.host, parsed.port) == ("http", "igc-sante.esante.gouv.fr", 80)
        assert parsed.target == "/CRL/ACI-EL-ORG.crl"
        assert parsed.url == CRL
        assert parsed.host_header == "igc-sante.esante.gouv.fr"

    def test_https_and_query_kept(self) -> None:
        parsed = POLICY.check_url("https://igc-sante.esante.gouv.fr/a?b=1")
        assert (parsed.port, parsed.target) == (443, "/a?b=1")

    @pytest.mark.parametrize(("url", "reason"), [
        ("file:///etc/passwd", "scheme 'file'"),
        ("ftp://igc-sante.esante.gouv.fr/x.crl", "scheme 'ftp'"),
        ("ldap://igc-sante.esante.gouv.fr/cn=x?certificateRevocationList", "scheme 'ldap'"),
        ("http://evil.example/x.crl", "not in the allow-list"),
        ("http://igc-sante.esante.gouv.fr.evil.example/x", "not in the allow-list"),
        ("http://user:secret@igc-sante.esante.gouv.fr/x", "credentials"),
        ("http://igc-sante.esante.gouv.fr\\@evil.example/x", "backslash"),
        ("http://igc-sante.esante.gouv.fr:8080/x", "port 8080"),
        ("http://igc-sante.esante.gouv.fr/a b", "whitespace"),
        ("http://igc-sante.esante.gouv.fr:99999/", "port 99999"),
        ("http://igc-sante.esante.gouv.fr:abc/", "not a valid URL"),
        ("http:///x", "no host"),
    ])
    def test_refusals(self, url: str, reason: str) -> None:
        with pytest.raises(NotAllowedError) as info:
            POLICY.check_url(url)
        message = str(info.value)
        assert reason in message
        assert "\n" not in message
        assert "secret" not in message

    @pytest.mark.parametrize(("host", "kind"), [
        ("10.0.0.1", "private"), ("192.168.1.1", "private"), ("169.254.169.254", "link-local"),
        ("127.0.0.1", "loopback"), ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified"),
        ("[::1]", "loopback"), ("[fe80::1]", "link-local"), ("[::ffff:127.0.0.1]", "loopback"),
        ("100.64.0.1", "non-global"), ("240.0.0.1", "private"),
    ])
    def test_internal_ip_literals_refused_even_when_allow_listed(self, host: str,
                                                                 kind: str) -> None:
        policy = UrlPolicy(hosts=(host,))
        with pytest.raises(NotAllowedError, match=f"a {kind} address"):
            policy.check_url(f"http://{host}/x.crl")

    def test_loopback_literal_allowed_only_with_allow_loopback(self) -> None:
        policy = UrlPolicy(hosts=("127.0.0.1", "169.254.169.254"), allow_loopback=True)
        assert policy.check_url("http://127.0.0.1/x").host == "127.0.0.1"
        with pytest.raises(NotAllowedError, match="link-local"):
            policy.check_url("http://169.254.169.254/latest/meta-data/")

    def test_public_ip_literal_allowed_when_listed(self) -> None:
        policy = UrlPolicy(hosts=("192.0.2.10", "8.8.8.8"))
        assert policy.check_url("http://8.8.8.8/x").host == "8.8.8.8"
        with pytest.raises(NotAllowedError, match="private"):  # TEST-NET-1 documentation
            policy.check_url("http://192.0.2.10/x")


class TestFetchable:
    """LDAP distribution points are skipped with a reason, not an error."""

    def test_ldap_is_skipped_with_a_reason(self) -> None:
        url = "ldap://annuaire-igc.esante.gouv.fr/cn=AC,ou=IGC-SANTE?certificaterevocationlist"
        assert not POLICY.is_fetchable(url)
        assert POLICY.skip_reason(url) == "ldap scheme, certmgr downloads over http, https only"

    def test_http_is_fetchable_regardless_of_host(self) -> None:
        assert POLICY.is_fetchable(CRL)
        assert POLICY.is_fetchable("https://elsewhere.example/x")  # host refused later
        assert not POLICY.is_fetchable("no-scheme")


class TestResolve:
    """Every resolved address is checked; the policy never resolves twice."""

    def test_public_addresses_returned_in_order_without_duplicates(self) -> None:
        parsed = POLICY.check_url(CRL)
        resolver = _resolves_to("2001:db9::1", "8.8.4.4", "8.8.4.4")
        got = POLICY.resolve(parsed, resolver=resolver)
        assert [str(a) for a in got] == ["2001:db9::1", "8.8.4.4"]

    @pytest.mark.parametrize("addresses", [
        ("10.1.2.3",), ("8.8.4.4", "127.0.0.1"), ("::ffff:10.0.0.1",), ("fe80::1%eth0",),
    ])
    def test_allow_listed_name_resolving_inside_is_refused(self,
                                                           addresses: tuple[str, ...]) -> None:
        parsed = POLICY.check_url(CRL)
        with pytest.raises(NotAllowedError, match=r"'igc-sante\.esante\.gouv\.fr' resolves to"):
            POLICY.resolve(parsed, resolver=_resolves_to(*addresses))

    def test_literal_is_not_resolved(self) -> None:
        policy = UrlPolicy(hosts=("8.8.8.8",))
        assert [str(a) for a in policy.resolve(policy.check_url("http://8.8.8.8/"),
                                               resolver=_no_dns)] == ["8.8.8.8"]

    def test_unresolvable_name_is_a_fetch_error(self) -> None:
        def fail(host: str, port: int) -> list[str]:
            raise OSError("Name or service not known")
        with pytest.raises(FetchError, match="cannot resolve") as info:
            POLICY.resolve(POLICY.check_url(CRL), resolver=fail)
        assert not isinstance(info.value, NotAllowedError)


class TestPolicyValue:
    def test_defaults_and_presets(self) -> None:
        assert POLICY.hosts == ("igc-sante.esante.gouv.fr",)
        assert POLICY.max_bytes == CRL_MAX_BYTES == 20 * 1024 * 1024
        assert UrlPolicy.for_trust_bundles().max_bytes < CRL_MAX_BYTES
        assert UrlPolicy.for_crls(["IGC-Sante.esante.gouv.fr."]).hosts == (
            "igc-sante.esante.gouv.fr",)

    @pytest.mark.parametrize("kwargs", [
        {"hosts": ()}, {"max_bytes": 0}, {"timeout": 0}, {"max_redirects": -1},
        {"schemes": ("ftp",)},
    ])
    def test_invalid_values_refused(self, kwargs: dict[str, object]) -> None:
        with pytest.raises(ValueError, match=r"must|needs"):
            UrlPolicy(**kwargs)  # type: ignore[arg-type]
