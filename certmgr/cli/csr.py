"""`certmgr csr ...`: certificate signing requests for IGC Santé products.

`certmgr csr lint FILE... [--profile P] [--service S] [--json]`
exit 0: no ERROR finding; 1: at least one ERROR finding; 2: a file is
unreadable or not a CSR (one line on stderr naming it).
"""

from __future__ import annotations

from pathlib import Path

import click

from certmgr.cli._common import ExitCode, echo_json, json_option
from certmgr.pki.csr import PROFILES
from certmgr.pki.csr_lint import lint_csr
from certmgr.pki.findings import Finding, Severity
from certmgr.pki.load import read_input

__all__ = ["csr"]


@click.group()
def csr() -> None:
    """Create and check certificate signing requests for IGC Santé."""


@csr.command("lint")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--profile",
    type=click.Choice(sorted(PROFILES), case_sensitive=False),
    help="IGC Santé product the request is for (checks the requested extensions too).",
)
@click.option("--service", metavar="NAME", help="Target service with CN rules (e.g. INSI).")
@json_option
def lint(files: tuple[Path, ...], profile: str | None, service: str | None, as_json: bool) -> int:
    """Check CSRs (made by certmgr, openssl or anything else) against IGC Santé's rules.

    \b
    Exit codes: 0 no error finding, 1 an error finding (ANS would reject it),
                2 a file is unreadable or not a CSR.
    """
    results: list[tuple[Path, tuple[Finding, ...]]] = []
    for path in files:
        data = read_input(path)
        results.append((path, lint_csr(data, profile=profile, service=service, source=str(path))))
    failed = any(f.severity >= Severity.ERROR for _, fs in results for f in fs)
    if as_json:
        echo_json(
            [
                {
                    "file": str(path),
                    "ok": not any(f.severity >= Severity.ERROR for f in fs),
                    "findings": [f.to_json() for f in fs],
                }
                for path, fs in results
            ]
        )
    else:
        for path, fs in results:
            if not fs:
                click.echo(f"{path}: ok")
            for finding in fs:
                click.echo(f"{path}: {finding.severity} {finding.code}: {finding.message}")
    return ExitCode.FINDING if failed else ExitCode.OK
