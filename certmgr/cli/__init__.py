"""The `certmgr` command.

Thin: parse arguments, call `certmgr.services`, print, exit with an `ExitCode`.
Subcommands live one group per module and are imported lazily, so
`certmgr --help` does not pay for SQLAlchemy or Textual.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from certmgr import __version__
from certmgr.cli._common import AppContext, ExitCode, err
from certmgr.errors import CertmgrError, ConflictError, InputError, NotFoundError

__all__ = ["COMMANDS", "SUMMARIES", "ExitCode", "main", "run"]

# name -> "module:attribute"; each module owns one command or group.
COMMANDS: dict[str, str] = {
    "db": "certmgr.cli.db:db",
    "demo": "certmgr.cli.demo:demo",
    "verify": "certmgr.cli.verify:verify",
    "inspect": "certmgr.cli.inspect:inspect_cmd",
    "csr": "certmgr.cli.csr:csr",
    "mailbox": "certmgr.cli.mailbox:mailbox",
    "scan": "certmgr.cli.scan:scan_cmd",
    "status": "certmgr.cli.status:status_cmd",
    "report": "certmgr.cli.report:report_cmd",
    "tui": "certmgr.cli.tui:tui",
    "import": "certmgr.cli.importcmd:import_cmd",
    "trust": "certmgr.cli.trust:trust",
    "crl": "certmgr.cli.crl:crl",
    "probe": "certmgr.cli.probe:probe_cmd",
    "audit": "certmgr.cli.audit:audit",
    "doctor": "certmgr.cli.doctor:doctor",
    "backup": "certmgr.cli.backup:backup_cmd",
    "restore": "certmgr.cli.backup:restore_cmd",
    "alerts": "certmgr.cli.alerts:alerts",
    "check": "certmgr.cli.check:check_cmd",
    "serve": "certmgr.cli.serve:serve_cmd",
    "jobs": "certmgr.cli.jobs:jobs",
    "order": "certmgr.cli.order:order",
    "export": "certmgr.cli.export:export_cmd",
}


# One line per command for `certmgr --help`, so that listing the commands imports none of
# them (tests/base checks that every command has one).
SUMMARIES: dict[str, str] = {
    "db": "Create or upgrade the inventory database schema.",
    "demo": "Build a demo PKI and inventory relative to now, and show them.",
    "verify": "Validate certificates: path, revocation (CRLs), IGC Santé profile.",
    "inspect": "Show the facts and IGC Santé classification of certificates.",
    "csr": "Create and check IGC Santé certificate signing requests.",
    "mailbox": "Applicative mailboxes (MSSanté) and their structures.",
    "scan": "Re-validate every mailbox's current certificate and store its status.",
    "status": "Overview of the inventory as the last scan left it.",
    "report": "Report every mailbox (CSV, JSON or Markdown).",
    "tui": "Open the operator console.",
    "import": "Import certificates, chains, PKCS#7, PKCS#12 and CRLs.",
    "trust": "Trust anchors and CA certificates (ANS pins enforced).",
    "crl": "Certificate revocation lists: import, list and refresh.",
    "probe": "Probe a mail server's TLS (STARTTLS, chain, IGC Santé profile, mutual TLS).",
    "audit": "The tamper-evident audit trail: list and verify.",
    "doctor": "Check permissions, schema, trust pins, CRL freshness, clock and audit chain.",
    "backup": "Write an encrypted backup of the database and keys (SQLite).",
    "restore": "Restore an encrypted backup into an empty home.",
    "alerts": "Alerts sent, acknowledge or snooze, send a test message.",
    "check": "Nagios/Icinga check of the inventory (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).",
    "serve": "Run the monitoring service: scheduled CRL refresh, scan, alerts, metrics.",
    "jobs": "Scheduled jobs and their next runs; `jobs run NAME` runs one now.",
    "order": "The ANS order of a renewal: mark, list, reject, abandon, revocation code.",
    "export": "Export a mailbox's certificate, chain and key (PEM or PKCS#12), deploy hook.",
}


class _LazyGroup(click.Group):
    """A group whose subcommands are imported only when used."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUMMARIES.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):  # pragma: no cover - programming error
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="certmgr")
@click.option(
    "--home",
    envvar="CERTMGR_HOME",
    type=click.Path(file_okay=False),
    help="Data directory (keys, embedded database). Env: CERTMGR_HOME. "
    "Default: the platform's user data directory.",
)
@click.option(
    "--db",
    "db_url",
    envvar="CERTMGR_DB",
    metavar="URL",
    help="Database URL (sqlite:///..., postgresql+psycopg://...). Env: CERTMGR_DB. "
    "Default: SQLite in the home directory.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, home: str | None, db_url: str | None, debug: bool) -> None:
    """Manage the IGC Santé certificates of MSSanté applicative mailboxes.

    \b
    Exit codes: 0 ok, 1 a finding (invalid, expired, revoked, rejected),
                2 usage error or unreadable input, 3 internal error.
    """
    ctx.obj = AppContext(home=home, db_url=db_url, debug=debug)


def run(argv: list[str] | None = None) -> None:
    """Entry point: run `main` and turn errors into one line on stderr and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        code: Any = main.main(args=args, prog_name="certmgr", standalone_mode=False)
    except click.exceptions.Abort:
        err("aborted")
        sys.exit(ExitCode.INTERNAL)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.USAGE)
    except (InputError, NotFoundError, ConflictError) as exc:
        # the user named something that does not exist, or asked for a forbidden change
        if debug:
            raise
        err(f"error: {exc}")
        sys.exit(ExitCode.USAGE)
    except CertmgrError as exc:
        if debug:
            raise
        err(f"error: {exc}")
        sys.exit(ExitCode.INTERNAL)
    except KeyboardInterrupt:
        err("interrupted")
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        err(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        sys.exit(ExitCode.INTERNAL)
    sys.exit(int(code) if isinstance(code, int) else ExitCode.OK)
