"""`certmgr serve`: the monitoring service (scheduler, leadership, metrics).

Runs until SIGTERM or SIGINT. Exit codes: 0 stopped cleanly; 2 bad usage or another
`serve` already runs on this SQLite home; 3 the store failed.
"""

from __future__ import annotations

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
@pass_app
def serve_cmd(app: AppContext, metrics_addr: tuple[str, int] | None) -> int:
    """Run the scheduler: CRL refresh, scan, alerts, digest, heartbeat (until SIGTERM)."""
    from certmgr.serve import serve  # noqa: PLC0415 - lazy CLI

    return serve(app.settings, metrics_addr=metrics_addr, clock=app.clock)
