"""`certmgr order ...`: the ANS ordering workflow of a renewal (see certmgr.services.renewal).

    order mark ADDRESS [--ref REF]        CSR_READY -> ORDERED (who, when, reference)
    order list [--all] [--stale-days N]   renewals under way, "ordered N+ days ago" flag
    order reject ADDRESS [--reason TEXT]  ORDERED -> REJECTED
    order abandon ADDRESS [--reason TEXT] any open state -> ABANDONED
    order activate ADDRESS                ISSUED -> ACTIVE again (certificate now valid)
    order revocation-code ADDRESS --set | --reveal

Exit codes: 0 ok (`list`: 1 when a renewal is stale; `activate`: 1 when it stays ISSUED),
2 unknown mailbox, no renewal under way, or a transition the state does not allow (one
line on stderr).
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from pathlib import Path

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, err, json_option, pass_app
from certmgr.cli._passphrase import key_passphrase, passphrase_file_option
from certmgr.errors import ConfigError, InputError
from certmgr.services.renewal import (
    DEFAULT_STALE_DAYS,
    RenewalView,
    abandon,
    activate,
    list_renewals,
    mark_ordered,
    reject,
)
from certmgr.services.revocation import reveal_revocation_code, store_revocation_code
from certmgr.services.status import Thresholds
from certmgr.store.audit import os_user
from certmgr.store.session import open_store

__all__ = ["order"]


@click.group()
def order() -> None:
    """The ANS order of a renewal: mark it, list, reject, abandon, revocation code."""


def _transition_command(name: str, action: Callable[..., RenewalView], help_text: str, *,
                        detail: str, metavar: str, detail_help: str) -> click.Command:
    """`order NAME ADDRESS [--DETAIL VALUE] [--json]`: apply `action` (mark_ordered, reject,
    abandon) to the renewal under way for ADDRESS and show where it stands."""

    @order.command(name, help=help_text)
    @click.argument("address")
    @click.option(f"--{detail}", "value", metavar=metavar, help=detail_help)
    @json_option
    @pass_app
    def command(app: AppContext, address: str, value: str | None, as_json: bool) -> int:
        with open_store(app.settings) as store:
            view = action(store=store, address=address, at=app.clock.now(), actor=os_user(),
                          **{detail: value})
        if as_json:
            echo_json(view.to_json())
        else:
            ref = f" (ref {view.order_ref})" if view.order_ref else ""
            click.echo(f"{view.address}: renewal #{view.id} {view.state}{ref}")
        return ExitCode.OK

    return command


_REASON_HELP = "Why (kept in the audit trail)."
mark = _transition_command(
    "mark", mark_ordered,
    "Record that the CSR of ADDRESS was uploaded to the ANS portal (CSR_READY -> ORDERED).",
    detail="ref", metavar="REF", detail_help="The ANS order (request) reference.")
reject_cmd = _transition_command(
    "reject", reject, "ANS refused the request of ADDRESS (ORDERED -> REJECTED).",
    detail="reason", metavar="TEXT", detail_help=_REASON_HELP)
abandon_cmd = _transition_command(
    "abandon", abandon, "Give up the renewal under way for ADDRESS (-> ABANDONED).",
    detail="reason", metavar="TEXT", detail_help=_REASON_HELP)


@order.command("activate")
@click.argument("address")
@json_option
@pass_app
def activate_cmd(app: AppContext, address: str, as_json: bool) -> int:
    """Try again ISSUED -> ACTIVE for ADDRESS: its certificate, imported before it was
    valid (or while its CA or CRL was missing), is validated now and bound as current;
    the mailbox is then re-validated. Exit 1 when it stays ISSUED (the reason is shown)."""
    with open_store(app.settings) as store:
        outcome = activate(store=store, address=address, at=app.clock.now(), actor=os_user(),
                           thresholds=Thresholds.from_settings(app.settings))
    if as_json:
        echo_json(outcome.to_json())
    else:
        click.echo(outcome.note)
    return ExitCode.OK if outcome.status == "active" else ExitCode.FINDING


@order.command("list")
@click.option("--all", "include_closed", is_flag=True, help="Closed renewals too.")
@click.option("--stale-days", type=click.IntRange(min=0), default=None,
              help="Flag orders placed more than N days ago. Default: `order_pending_days` "
                   f"in config.toml (the ORDER_PENDING alert's delay), else {DEFAULT_STALE_DAYS}.")
@json_option
@pass_app
def list_cmd(app: AppContext, include_closed: bool, stale_days: int | None,
             as_json: bool) -> int:
    """Renewals under way, with the orders that wait for too long flagged."""
    if stale_days is None:
        stale_days = _order_pending_days(app)
    with open_store(app.settings) as store:
        views = list_renewals(store=store, at=app.clock.now(), stale_days=stale_days,
                              include_closed=include_closed)
    if as_json:
        echo_json([v.to_json() for v in views])
    else:
        for v in views:
            when = f" ordered {v.ordered_at:%Y-%m-%d} by {v.ordered_by}" if v.ordered_at else ""
            flag = f"  ORDERED MORE THAN {stale_days} DAYS AGO" if v.stale else ""
            ref = f" ref {v.order_ref}" if v.order_ref else ""
            click.echo(f"#{v.id} {v.address} {v.state}{when}{ref}{flag}")
        if not views:
            click.echo("no renewal under way")
    return ExitCode.FINDING if any(v.stale for v in views) else ExitCode.OK


def _order_pending_days(app: AppContext) -> int:
    """`order_pending_days` from config.toml: the same delay as the ORDER_PENDING alert."""
    settings = app.settings
    value = settings.extra.get("order_pending_days", DEFAULT_STALE_DAYS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError("order_pending_days must be a non-negative integer",
                          source=settings.config_file)
    return value


@order.command("revocation-code")
@click.argument("address")
@click.option("--set", "set_code", is_flag=True,
              help="Store the code (read from stdin, or asked for).")
@click.option("--reveal", is_flag=True, help="Show the stored code (audited).")
@passphrase_file_option
@json_option
@pass_app
def revocation_code(app: AppContext, address: str, set_code: bool, reveal: bool,
                    passphrase_file: Path | None, as_json: bool) -> int:
    """Keep the revocation code ANS gave for the certificate of ADDRESS, encrypted with the
    key passphrase; show it only with --reveal (each reveal is audited)."""
    if set_code == reveal:
        raise click.UsageError("give exactly one of --set or --reveal")
    passphrase = key_passphrase(passphrase_file, confirm=False)
    at, actor = app.clock.now(), os_user()
    with open_store(app.settings) as store:
        if set_code:
            if sys.stdin.isatty():
                code = getpass.getpass("Revocation code: ")
            else:
                code = sys.stdin.readline()
            if not code.strip():
                raise InputError("no revocation code given")
            fingerprint = store_revocation_code(store=store, settings=app.settings,
                                                address=address, code=code,
                                                passphrase=passphrase, at=at, actor=actor)
            if as_json:
                echo_json({"mailbox": address, "stored": True, "fingerprint": fingerprint})
            else:
                err(f"revocation code stored (encrypted) for certificate {fingerprint[:16]}...")
            return ExitCode.OK
        clear = reveal_revocation_code(store=store, address=address, passphrase=passphrase,
                                       at=at, actor=actor)
    if as_json:
        echo_json({"mailbox": address, "revocation_code": clear})
    else:
        click.echo(clear)
    return ExitCode.OK
