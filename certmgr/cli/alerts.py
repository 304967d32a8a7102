"""`certmgr alerts list|ack|test`: what was sent, acknowledging, trying the channels.

Exit codes: 0 ok; 1 a test message could not be delivered; 2 bad usage or unknown alert;
3 the store failed.
"""

from __future__ import annotations

import click

from certmgr.cli._common import AppContext, ExitCode, echo_json, err, json_option, pass_app

__all__ = ["alerts"]


@click.group()
def alerts() -> None:
    """Alerts: list what was sent, acknowledge or snooze, send a test message."""


@alerts.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@json_option
@pass_app
def list_cmd(app: AppContext, limit: int, as_json: bool) -> int:
    """The latest alerts: when, what, to whom, through which channel, and the outcome."""
    from certmgr.services.alert_log import list_sent  # noqa: PLC0415 - lazy CLI
    from certmgr.store.session import open_store  # noqa: PLC0415

    with open_store(app.settings) as store:
        rows = list_sent(store=store, limit=limit)
    if as_json:
        echo_json({"alerts": [r.to_json() for r in rows]})
        return ExitCode.OK
    for r in rows:
        what = r.kind if r.threshold is None else f"{r.kind}:{r.threshold}d"
        tail = "" if r.error is None else f"  ({r.error})"
        if r.acknowledged_at is not None:
            tail += f"  [acknowledged by {r.acknowledged_by or '?'}" + (
                "" if r.snoozed_until is None else
                f", snoozed until {r.snoozed_until:%Y-%m-%d %H:%M}Z") + "]"
        click.echo(f"{r.id:>6} {r.sent_at:%Y-%m-%d %H:%M}Z {r.status:<7} {what:<22} "
                   f"{r.channel:<10} {r.recipient}  {r.mailbox or '-'}{tail}")
    click.echo(f"{len(rows)} alert(s)")
    return ExitCode.OK


@alerts.command("ack")
@click.argument("alert_id", type=int)
@click.option("--until", metavar="DATE", help="Also snooze the alert until DATE (ISO 8601): "
              "a certificate's alerts, or this CRL, order, endpoint or job failure.")
@json_option
@pass_app
def ack_cmd(app: AppContext, alert_id: int, until: str | None, as_json: bool) -> int:
    """Acknowledge alert ID (stops its escalation); `--until` snoozes it too.

    A certificate's alert acknowledges that certificate (all its alerts, until its next
    threshold); any other alert (CRL stale, order pending, probe or job failing)
    acknowledges that one fact."""
    from certmgr.clock import parse_instant  # noqa: PLC0415
    from certmgr.services.alert_log import acknowledge_alert  # noqa: PLC0415
    from certmgr.store.audit import os_user  # noqa: PLC0415
    from certmgr.store.session import open_store  # noqa: PLC0415

    try:
        snooze = None if until is None else parse_instant(until)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--until") from None
    with open_store(app.settings) as store:
        done = acknowledge_alert(store=store, alert_id=alert_id, at=app.clock.now(),
                                 actor=os_user(), until=snooze)
    if as_json:
        echo_json({"alert": alert_id, "acknowledged": True, "kind": done.kind,
                   "certificate": done.certificate, "dedup_key": done.dedup_key,
                   "mailbox": done.mailbox, "snoozed_until": snooze})
        return ExitCode.OK
    what = (f"certificate {done.certificate[:16]}..." if done.certificate
            else " ".join(filter(None, (done.kind, done.mailbox))))
    click.echo(f"acknowledged alert {alert_id} ({what})"
               + ("" if snooze is None else f", snoozed until {snooze:%Y-%m-%d %H:%M}Z"))
    return ExitCode.OK


@alerts.command("test")
@click.option("--channel", "channel_name", metavar="NAME",
              help="Only this channel (log, email, webhook.NAME). Default: all.")
@click.option("--to", "recipients", multiple=True, metavar="ADDRESS",
              help="Recipient (repeatable). Default: the configured admins.")
@json_option
@pass_app
def test_cmd(app: AppContext, channel_name: str | None, recipients: tuple[str, ...],
             as_json: bool) -> int:
    """Send a test message through the configured channels (not recorded as an alert)."""
    from certmgr.channels.base import Message  # noqa: PLC0415
    from certmgr.errors import CertmgrError, ConfigError  # noqa: PLC0415
    from certmgr.services.alert_channels import alert_lang, build_channels  # noqa: PLC0415
    from certmgr.services.alert_events import AlertEvent, AlertKind  # noqa: PLC0415
    from certmgr.services.alerts import AlertPolicy  # noqa: PLC0415
    from certmgr.services.messages import render  # noqa: PLC0415

    now = app.clock.now()
    settings = app.settings
    channels = build_channels(settings, now=app.clock.now)
    if channel_name is not None:
        channels = [c for c in channels if c.name == channel_name]
        if not channels:
            raise ConfigError(f"no channel named {channel_name!r}", source=settings.config_file)
    to = recipients or AlertPolicy.from_settings(settings).admins or ("test@invalid",)
    event = AlertEvent(kind=AlertKind.TEST, at=now)
    rendered = render(event, lang=alert_lang(settings))
    message = Message(recipients=tuple(to), subject=rendered.subject, text=rendered.text,
                      html=rendered.html, dedup_key=event.dedup_key, data=event.to_json())
    results: list[dict[str, object]] = []
    code = ExitCode.OK
    for channel in channels:
        try:
            delivered = channel.send(message)
            results.append({"channel": channel.name, "ok": not delivered.refused,
                             "accepted": list(delivered.accepted),
                             "refused": dict(delivered.refused)})
            if delivered.refused:
                code = ExitCode.FINDING
        except CertmgrError as exc:
            results.append({"channel": channel.name, "ok": False, "error": str(exc)})
            code = ExitCode.FINDING
    if as_json:
        echo_json({"results": results})
    else:
        for r in results:
            (click.echo if r["ok"] else err)(
                f"{r['channel']}: {'sent' if r['ok'] else 'FAILED'} "
                f"{r.get('error') or ', '.join(r.get('accepted', []))}")  # type: ignore[arg-type]
    return code
