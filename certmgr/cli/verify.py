"""`certmgr verify`: RFC 5280 validation with CRLs, and IGC Santé profile checks.

The command contract is fixed (other issues and users script it):
`certmgr verify [CERT ...] [--trust FILE]... [--untrusted FILE]... [--crl FILE]...
[--at ISO8601] [--revocation hard-fail|soft-fail|off] [--profile NAME] [--batch DIR] [--json]`.
Exit 0 when every certificate is valid, 1 when any is not, 2 on usage errors or unreadable input.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, err, json_option, pass_app
from certmgr.clock import parse_instant
from certmgr.pki.findings import Severity

if TYPE_CHECKING:
    from certmgr.services.verify import VerifyReport

__all__ = ["verify"]

# The values of `certmgr.pki.validate.RevocationMode`, spelled out so that `verify --help`
# and argument errors need not import the validation engine (a test checks they agree).
REVOCATION_MODES = ["hard-fail", "soft-fail", "off"]

# Trust, intermediate and CRL inputs: files, or directories whose every file is read.
_FILE = click.Path(exists=False, path_type=Path)
# CERT arguments accept directories at parse time so that the command, not click, says
# what to do: click's own error is three lines of usage for a one-word mistake.
_CERT = click.Path(exists=False, path_type=Path)


@click.command()
@click.argument("certs", nargs=-1, type=_CERT, metavar="[CERT]...")
@click.option("--trust", "trust", multiple=True, type=_FILE, metavar="FILE",
              help="Trust anchors (roots; intermediates are used for path building), a file or a "
              "directory of files. Repeatable.")
@click.option("--untrusted", multiple=True, type=_FILE, metavar="FILE",
              help="Intermediate certificates for path building (file or directory). Repeatable.")
@click.option("--crl", "crls", multiple=True, type=_FILE, metavar="FILE",
              help="CRLs (PEM or DER; file or directory). Repeatable.")
@click.option("--at", "at_text", metavar="ISO8601",
              help="Validate at this instant instead of now (e.g. 2026-01-31T12:00:00Z).")
@click.option("--revocation", type=click.Choice(REVOCATION_MODES),
              help="hard-fail (no usable CRL: invalid), soft-fail (valid with a warning) or "
              "off. Default: hard-fail when --crl is given, soft-fail otherwise.")
@click.option("--accept-stale-crl", is_flag=True,
              help="Judge by the last CRL even past its nextUpdate (warning CRL_STALE), as "
              "MSSanté asks when a fresh CRL cannot be had.")
@click.option("--profile", metavar="NAME",
              help="Expected IGC Santé product (ORG_AUTH_CLI or mailbox, ORG_SIGN, ORG_CONF, "
              "SERV_SSL, SERV_SMIME); its error findings make the result invalid.")
@click.option("--batch", "batch", multiple=True,
              type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Validate every certificate file under DIR (recursive).")
@json_option
@pass_app
def verify(
    app: AppContext,
    certs: tuple[Path, ...],
    trust: tuple[Path, ...],
    untrusted: tuple[Path, ...],
    crls: tuple[Path, ...],
    at_text: str | None,
    revocation: str | None,
    accept_stale_crl: bool,
    profile: str | None,
    batch: tuple[Path, ...],
    as_json: bool,
) -> int:
    """Validate certificates: path to a trust anchor, revocation, IGC Santé profile.

    Exit 0 when every certificate is valid, 1 when any is not, 2 on usage errors or
    unreadable input.
    """
    # the engine is imported only when a command runs (not for --help or a usage error)
    from certmgr.pki.validate import RevocationMode  # noqa: PLC0415
    from certmgr.services.verify import VerifyRequest, batch_files, verify_files  # noqa: PLC0415

    try:
        at = parse_instant(at_text) if at_text else app.clock.now()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None
    for cert in certs:
        if cert.is_dir():
            err(f"error: {cert}: is a directory; use --batch {cert} to verify every "
                "certificate file under it")
            return ExitCode.USAGE
    files: list[Path | str] = list(certs)
    for directory in batch:
        files.extend(batch_files(directory))
    if not files:
        raise click.UsageError("nothing to verify: give CERT files or --batch DIR")
    request = VerifyRequest(
        certificates=tuple(files),
        trust=trust,
        untrusted=untrusted,
        crls=crls,
        revocation=RevocationMode(revocation) if revocation else None,
        profile=profile,
        accept_stale_crl=accept_stale_crl,
    )
    report = verify_files(request, at=at)
    for finding in report.trust_findings:
        err(f"trust: {finding.severity}: {finding.code}: {finding.message}")
    if as_json:
        _print_json(report)
    else:
        _print_text(report)
    for failure in report.failures:
        err(f"error: {failure.reason}")
    if report.failures:
        return ExitCode.USAGE
    return ExitCode.OK if report.all_valid else ExitCode.FINDING


def _print_json(report: VerifyReport) -> None:
    from certmgr.services.verify import JsonLines  # noqa: PLC0415

    writer = JsonLines()
    sys.stdout.writelines(f"{writer.line(v)}\n" for v in report.verdicts)
    echo_json([f.to_json() for f in report.failures], lines=True)


def _print_text(report: VerifyReport) -> None:
    for verdict in report.verdicts:
        status = "OK     " if verdict.valid else "INVALID"
        fp = verdict.fingerprint_sha256[:16]
        click.echo(f"{status} {verdict.source}: {verdict.subject} (sha256 {fp}…)")
        for f in verdict.findings:
            marker = {Severity.ERROR: "✗", Severity.WARNING: "!", Severity.INFO: "·"}[f.severity]
            click.echo(f"    {marker} {f.severity}: {f.code}: {f.message}")


