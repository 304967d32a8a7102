"""`certmgr trust list|import|sync`: the CA store (trust anchors and intermediates).

Exit codes: 0 ok; 1 a certificate was refused (impostor, not a CA, not pinned for sync)
or a bundle could not be downloaded; 2 bad usage or unreadable input; 3 the store failed.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, err, json_option, pass_app
from certmgr.cli.importcmd import run_import

__all__ = ["trust"]

_ENVS = {"production": ("production",), "test": ("test",), "all": ("production", "test")}


@click.group()
def trust() -> None:
    """Trust anchors and CA certificates (ANS pins enforced)."""


@trust.command("list")
@json_option
@pass_app
def list_cmd(app: AppContext, as_json: bool) -> int:
    """List the anchors and intermediates of the CA store."""
    from certmgr.services.trust import list_trust  # noqa: PLC0415
    from certmgr.store.session import open_store  # noqa: PLC0415

    with open_store(app.settings) as store:
        entries = list_trust(store=store)
    if as_json:
        echo_json([e.to_json() for e in entries])
        return ExitCode.OK
    for e in entries:
        pin = "pinned" if e.pinned else "unpinned"
        what = "/".join(x for x in (e.gamme, e.domain) if x) or "-"
        click.echo(f"{e.role:<12} {e.environment:<10} {what:<26} {pin:<8} "
                   f"{e.not_after:%Y-%m-%d} {e.fingerprint[:16]}  {e.subject}")
    click.echo(f"{len(entries)} CA certificate(s)")
    return ExitCode.OK


@trust.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
@pass_app
def import_cmd(app: AppContext, files: tuple[Path, ...], as_json: bool) -> int:
    """Add CA certificates (any format) to the CA store.

    ANS production and TEST CAs must match the pinned fingerprints: impostors are refused
    (exit 1). FIXTURE/OTHER roots are accepted as anchors, with a warning.
    """
    return run_import(app, files, accept=frozenset({"ca"}), as_json=as_json)


def _policy_hosts(crl_hosts: tuple[str, ...], explicit: str | None,
                  ) -> tuple[tuple[str, ...], tuple[int, ...], bool]:
    """(hosts, ports, allow_loopback): the settings' hosts, plus the explicit --base-url's
    host and port (the user asked for it; a loopback mirror is then allowed too)."""
    import httpx  # noqa: PLC0415

    hosts, ports, loopback = list(crl_hosts), [80, 443], False
    if explicit is not None:
        try:
            url = httpx.URL(explicit)
        except httpx.InvalidURL as exc:
            raise click.BadParameter(str(exc), param_hint="--base-url") from None
        host = url.host.lower()
        hosts.append(host)
        if url.port is not None:
            ports.append(url.port)
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
    return tuple(dict.fromkeys(hosts)), tuple(dict.fromkeys(ports)), loopback


@trust.command("sync")
@click.option("--base-url", metavar="URL",
              help="ANS publication point (default: settings trust_base_url). Its host is "
                   "allowed for this run.")
@click.option("--env", "env", type=click.Choice(sorted(_ENVS)), default="all",
              show_default=True, help="Which bundles to download.")
@json_option
@pass_app
def sync_cmd(app: AppContext, base_url: str | None, env: str, as_json: bool) -> int:
    """Download ANS's published chain bundles and store the pinned CAs they hold."""
    from dataclasses import replace  # noqa: PLC0415

    from certmgr.fetch import HttpFetcher, UrlPolicy  # noqa: PLC0415
    from certmgr.services.trust import sync_trust  # noqa: PLC0415
    from certmgr.store.audit import os_user  # noqa: PLC0415
    from certmgr.store.session import open_store  # noqa: PLC0415

    settings = app.settings
    hosts, ports, loopback = _policy_hosts(settings.crl_hosts, base_url)
    policy = replace(UrlPolicy.for_trust_bundles(hosts), ports=ports, allow_loopback=loopback)
    with open_store(settings, create=True) as store, HttpFetcher(now=app.clock.now) as fetcher:
        report = sync_trust(store=store, fetcher=fetcher, policy=policy,
                            base_url=base_url or settings.trust_base_url,
                            environments=_ENVS[env], at=app.clock.now(), actor=os_user())
    if as_json:
        echo_json(report.to_json())
    else:
        for source in report.sources:
            if source.error is not None:
                click.echo(f"failed   {source.environment}: {source.error}")
                continue
            counts = {s: sum(1 for o in source.outcomes if o.status == s)
                      for s in ("added", "known", "refused")}
            click.echo(f"{'ok' if source.ok else 'refused':<8} {source.environment} "
                       f"{source.url}: {counts['added']} added, {counts['known']} known, "
                       f"{counts['refused']} refused")
            for o in source.outcomes:
                if o.finding is not None:
                    err(f"refused: {o.finding.message}")
    return ExitCode.OK if report.ok else ExitCode.FINDING
