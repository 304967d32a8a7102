"""`certmgr serve`: the monitoring service (scheduler, leadership, metrics).

Runs until SIGTERM or SIGINT. Exit codes: 0 stopped cleanly; 2 bad usage, an unreadable
passphrase file, or another `serve` already runs on this SQLite home; 3 the store failed.

The key passphrase (`--passphrase-file`, else CERTMGR_PASSPHRASE; never a prompt: the
service runs unattended) is read once at start and given to the jobs that open the keys
held here: the endpoint probes present each mailbox's client certificate with it. Without
one, the probes go without a client certificate for mailboxes whose key is encrypted.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from certmgr.cli._common import AppContext, pass_app

__all__ = ["serve_cmd"]


def _address(_ctx: click.Context, _param: click.Parameter, value: str | None
             ) -> tuple[str, int] | None:
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter("expected HOST:PORT, e.g. 127.0.0.1:9464")
    return host.strip("[]") or "127.0.0.1", int(port)


@click.command("serve")
@click.option("--metrics-addr", metavar="HOST:PORT", callback=_address,
              help="Expose Prometheus metrics at http://HOST:PORT/metrics.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="File (mode 0600) whose first line opens the keys held "
              "here (mutual-TLS probes). Else CERTMGR_PASSPHRASE when set.")
@pass_app
def serve_cmd(app: AppContext, metrics_addr: tuple[str, int] | None,
              passphrase_file: Path | None) -> int:
    """Run the scheduler: CRL refresh, scan, alerts, digest, heartbeat, endpoint probes
    (until SIGTERM)."""
    from certmgr.secrets import ENV_PASSPHRASE, read_passphrase  # noqa: PLC0415 - lazy CLI
    from certmgr.serve import serve  # noqa: PLC0415

    passphrase = None
    if passphrase_file is not None or ENV_PASSPHRASE in os.environ:
        passphrase = read_passphrase(env=os.environ, passphrase_file=passphrase_file,
                                     prompt=None, confirm=False)
    return serve(app.settings, metrics_addr=metrics_addr, clock=app.clock,
                 passphrase=passphrase)
