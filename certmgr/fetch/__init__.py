"""Network access: CRL and trust-bundle downloads, only on request, only to allow-listed hosts.

    from certmgr.fetch import HttpFetcher, UrlPolicy

    policy = UrlPolicy.for_crls(settings.crl_hosts)
    with HttpFetcher(now=clock.now) as fetcher:
        for url in distribution_points:
            if (reason := policy.skip_reason(url)) is not None:
                ...  # e.g. an ldap:// distribution point: record the reason, go on
                continue
            result = fetcher.fetch(url, policy=policy)   # FetchError / NotAllowedError

The loopback test server lives in `certmgr.fetch.testserver` (not imported here).
"""

from certmgr.fetch.http import USER_AGENT, Fetcher, FetchResult, HttpFetcher
from certmgr.fetch.policy import (
    BUNDLE_MAX_BYTES,
    CRL_MAX_BYTES,
    DEFAULT_HOSTS,
    ParsedUrl,
    Resolver,
    UrlPolicy,
    system_resolver,
)
from certmgr.fetch.retry import RetryPolicy

__all__ = [
    "BUNDLE_MAX_BYTES",
    "CRL_MAX_BYTES",
    "DEFAULT_HOSTS",
    "USER_AGENT",
    "FetchResult",
    "Fetcher",
    "HttpFetcher",
    "ParsedUrl",
    "Resolver",
    "RetryPolicy",
    "UrlPolicy",
    "system_resolver",
]
