"""`certmgr probe`: test an operator's SMTP/IMAP server the way an MSSanté mailbox connects.

    certmgr probe HOST[:PORT] [--starttls smtp|imap|none] [--trust FILE]... [--crl FILE]...
                  [--cert FILE --key FILE [--passphrase-file FILE]] [--mailbox ADDRESS]
                  [--timeout S] [--warn-days N] [--at ISO8601] [--json]
    certmgr probe [HOST[:PORT] --starttls MODE] --mailbox ADDRESS [--record] [--json]

`--mailbox` presents that mailbox's current certificate, its CA chain (from the store) and
its key held here (passphrase: --passphrase-file, CERTMGR_PASSPHRASE or a prompt) in mutual
TLS; without HOST it probes the mailbox's stored endpoint. `--record` (with `--mailbox`)
stores the result in the inventory (as the scheduled probes do) and, when HOST is given,
remembers HOST:PORT and the STARTTLS mode as the mailbox's endpoint.

Default ports: smtp 25, imap 143, none (implicit TLS) 443; MSSanté operators usually listen
on 587 (SMTP submission, STARTTLS), 465 (SMTPS), 143 (IMAP STARTTLS) or 993 (IMAPS): give
the port. Exit codes are Nagios statuses, like `certmgr check`: 0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN (including unusable trust or key files: the check could not be made). Command-line
syntax errors keep click's exit code 2.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from certmgr.cli._common import AppContext, echo_json, err, json_option, pass_app
from certmgr.clock import parse_instant
from certmgr.errors import CertmgrError, InputError
from certmgr.fetch.probe import DEFAULT_PORTS, ProbeTarget, StartTls
from certmgr.pki.findings import Severity
from certmgr.pki.validate import RevocationMode
from certmgr.secrets import Secret, read_passphrase
from certmgr.services.nagios import NagiosStatus, status_line
from certmgr.services.probe import (
    SERVICE,
    ProbeReport,
    client_credentials_from_files,
    crls_from_files,
    probe_endpoint,
    trust_from_files,
)
from certmgr.services.trustctx import TrustMaterial
from certmgr.store.audit import os_user

__all__ = ["parse_host_port", "probe_cmd"]

_FILE = click.Path(dir_okay=False, path_type=Path)


def parse_host_port(text: str, *, default_port: int) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address."""
    raw = text.strip()
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        port_text = rest.removeprefix(":") if rest.startswith(":") else None
        if rest and port_text is None:
            raise InputError(f"cannot read {text!r} as HOST[:PORT]")
    elif raw.count(":") == 1:
        host, _, port_text = raw.partition(":")
    else:
        host, port_text = raw, None  # a name, or a bare IPv6 address
    if not port_text:
        return host, default_port
    if not port_text.isdigit():
        raise InputError(f"invalid port in {text!r}")
    return host, int(port_text)


@click.command("probe")
@click.argument("endpoint", metavar="HOST[:PORT]", required=False)
@click.option("--starttls", type=click.Choice([m.value for m in StartTls]), default="none",
              show_default=True,
              help="smtp: EHLO + STARTTLS (default port 25); imap: STARTTLS (143); "
              "none: TLS from the first byte (443; give 993 for IMAPS, 465 for SMTPS).")
@click.option("--trust", multiple=True, type=_FILE, metavar="FILE",
              help="Trust anchors and intermediates. Default: the store's trust anchors.")
@click.option("--crl", "crls", multiple=True, type=_FILE, metavar="FILE",
              help="CRLs to check the server certificate against (then a missing CRL is an "
              "error; without any CRL, given or stored, revocation is not checked). "
              "Repeatable.")
@click.option("--cert", type=_FILE, metavar="FILE",
              help="Client certificate (PEM/DER, may include its chain) for mutual TLS.")
@click.option("--key", type=_FILE, metavar="FILE", help="The client certificate's PEM key.")
@click.option("--passphrase-file", type=_FILE, metavar="FILE",
              help="File (mode 0600) whose first line opens an encrypted --key. Else "
              "CERTMGR_PASSPHRASE, else a prompt on a terminal.")
@click.option("--mailbox", metavar="ADDRESS",
              help="Present this mailbox's current certificate and key held here; without "
              "HOST, probe its stored endpoint.")
@click.option("--record", is_flag=True,
              help="With --mailbox: store the result (and HOST as the mailbox's endpoint).")
@click.option("--timeout", type=click.FloatRange(min=0.1, max=600), default=10.0,
              show_default=True, help="Seconds for the whole probe (name resolution aside).")
@click.option("--warn-days", type=click.IntRange(min=0), default=30, show_default=True,
              help="WARNING when the server certificate expires within this many days.")
@click.option("--at", "at_text", metavar="ISO8601",
              help="Validate the server certificate at this instant instead of now.")
@json_option
@pass_app
def probe_cmd(app: AppContext, endpoint: str | None, starttls: str, trust: tuple[Path, ...],
              crls: tuple[Path, ...], cert: Path | None, key: Path | None,
              passphrase_file: Path | None, mailbox: str | None, record: bool,
              timeout: float, warn_days: int, at_text: str | None, as_json: bool) -> int:
    """Probe a mail server: STARTTLS, TLS version, server chain (IGC Santé ELEMENTAIRE
    ORGANISATIONS, valid, not revoked) and, with a client certificate, mutual TLS.

    Exit codes (Nagios): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    """
    try:
        at = parse_instant(at_text) if at_text else app.clock.now()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None
    if (cert is None) != (key is None):
        raise click.UsageError("--cert and --key go together")
    if mailbox is not None and cert is not None:
        raise click.UsageError("--mailbox and --cert/--key exclude each other")
    if record and mailbox is None:
        raise click.UsageError("--record goes with --mailbox")
    if endpoint is None and mailbox is None:
        raise click.UsageError("give HOST[:PORT] (or --mailbox ADDRESS with a stored endpoint)")
    mode = StartTls(starttls)
    try:
        target = None
        if endpoint is not None:
            host, port = parse_host_port(endpoint, default_port=DEFAULT_PORTS[mode])
            target = ProbeTarget(host, port, mode)
        if mailbox is not None:
            report = _probe_mailbox(app, mailbox, target=target, trust=trust, crls=crls,
                                    passphrase_file=passphrase_file, at=at, timeout=timeout,
                                    warn_days=warn_days, record=record)
        else:
            assert target is not None
            report = _probe_host(app, target, trust=trust, crls=crls, cert=cert, key=key,
                                 passphrase_file=passphrase_file, at=at, timeout=timeout,
                                 warn_days=warn_days)
    except CertmgrError as exc:
        # the check cannot be made: UNKNOWN for a monitoring system, not click's 2
        click.echo(status_line(SERVICE, NagiosStatus.UNKNOWN, f"{endpoint or mailbox}: {exc}"))
        err(f"error: {exc}")
        return NagiosStatus.UNKNOWN
    if as_json:
        echo_json(report.to_json())
    else:
        _print_text(report)
    return report.status


def _revocation(crls: tuple[Path, ...], material: TrustMaterial) -> RevocationMode:
    # --crl: a missing CRL is an error; stored CRLs only: a warning; none at all: not checked
    # (an INFO finding says so) rather than a WARNING on every probe.
    if crls:
        return RevocationMode.HARD_FAIL
    return RevocationMode.SOFT_FAIL if material.crls else RevocationMode.OFF


def _probe_host(app: AppContext, target: ProbeTarget, *, trust: tuple[Path, ...],
                crls: tuple[Path, ...], cert: Path | None, key: Path | None,
                passphrase_file: Path | None, at: dt.datetime, timeout: float,
                warn_days: int) -> ProbeReport:
    material = trust_from_files(trust, crls) if trust else _store_trust(app, crls)
    client = None if cert is None or key is None else client_credentials_from_files(
        cert=cert, key=key, passphrase=lambda: _passphrase(passphrase_file))
    return probe_endpoint(target=target, trust=material, at=at, timeout=timeout,
                          client=client, revocation=_revocation(crls, material),
                          warn_days=warn_days)


def _probe_mailbox(app: AppContext, address: str, *, target: ProbeTarget | None,
                   trust: tuple[Path, ...], crls: tuple[Path, ...],
                   passphrase_file: Path | None, at: dt.datetime, timeout: float,
                   warn_days: int, record: bool) -> ProbeReport:
    from certmgr.services import probe_history  # noqa: PLC0415 - lazy CLI
    from certmgr.store.session import open_store  # noqa: PLC0415

    _require_store(app)
    with open_store(app.settings) as store:
        # the passphrase is asked for only when the key turns out to be encrypted
        credentials = probe_history.mailbox_credentials(
            store=store, settings=app.settings, address=address,
            passphrase=lambda: _passphrase(passphrase_file))
        material = trust_from_files(trust, crls) if trust else _store_trust(app, crls)
        probed = target or probe_history.mailbox_endpoint(store=store, address=address)
        if probed is None:
            raise InputError(f"mailbox {address} has no endpoint: give HOST[:PORT] "
                             "(with --record to remember it)")
        report = probe_endpoint(target=probed, trust=material, at=at, timeout=timeout,
                                client=credentials, revocation=_revocation(crls, material),
                                warn_days=warn_days)
        if record:
            if target is not None:  # given on the command line: remember it
                probe_history.set_endpoint(store=store, address=address, target=target,
                                           at=at, actor=os_user())
            probe_history.record_probe(store=store, address=address, report=report)
    return report


def _passphrase(passphrase_file: Path | None) -> Secret:
    interactive = sys.stdin.isatty() and passphrase_file is None
    return read_passphrase(env=os.environ, passphrase_file=passphrase_file,
                           prompt=getpass.getpass if interactive else None, confirm=False)


def _require_store(app: AppContext) -> None:
    from sqlalchemy.engine import make_url  # noqa: PLC0415 - lazy CLI

    url = make_url(app.settings.db_url)
    if url.get_backend_name() == "sqlite" and (
            not url.database or not Path(url.database).expanduser().is_file()):
        raise InputError("no inventory database: pass --trust FILE (the IGC Santé roots), "
                         "or create the inventory (`certmgr db upgrade`)")


def _store_trust(app: AppContext, crls: tuple[Path, ...]) -> TrustMaterial:
    """The store's anchors, intermediates and current CRLs (+ --crl files)."""
    from certmgr.services.trustctx import load_trust_material  # noqa: PLC0415
    from certmgr.store.session import open_store  # noqa: PLC0415

    _require_store(app)
    with open_store(app.settings) as store, store.sessions() as session:
        material = load_trust_material(session=session)
    if not material.anchors:
        raise InputError("the store holds no trust anchor: run `certmgr trust import` "
                         "or pass --trust FILE")
    return replace(material, crls=(*material.crls, *crls_from_files(crls)))


def _print_text(report: ProbeReport) -> None:
    click.echo(report.summary())
    obs = report.observation
    if obs.protocol:
        click.echo(f"  protocol: {obs.protocol}  cipher: {obs.cipher}")
    for i, subject in enumerate(report.chain_subjects):
        click.echo(f"  chain[{i}]: {subject}")
    if report.server_certificate is not None:
        sc = report.server_certificate
        click.echo(f"  server certificate: {'valid' if sc.valid else 'INVALID'}, expires "
                   f"{sc.not_after:%Y-%m-%d} ({sc.days_left} days)")
    if report.client is not None:
        click.echo(f"  client certificate: {report.client}")
    for f in report.findings:
        marker = {Severity.ERROR: "✗", Severity.WARNING: "!", Severity.INFO: "·"}[f.severity]
        click.echo(f"    {marker} {f.severity}: {f.code}: {f.message}")
