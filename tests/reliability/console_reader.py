"""A TUI-like process for the stress test: what the Textual app's workers do, in a loop.

    python console_reader.py HOME DB_URL SECONDS ADDRESS [ALERT_ID...]

Until SECONDS have passed it reads every screen's data through `certmgr.services.console`
(the only layer the TUI talks to: dashboard, mailbox list and detail, audit, trust, CRLs,
alerts, jobs) and acknowledges the given alerts in turn, as the alerts screen does.
Prints one JSON object: loops, acknowledgements done, and the one-line errors the
console raised (a StoreError "database unavailable: ..." is what a locked database
would give the TUI). Any other exception is a traceback and a non-zero exit.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from certmgr.clock import SystemClock
from certmgr.config import load_settings
from certmgr.errors import CertmgrError
from certmgr.services.console import Console

_JOBS = ("alerts", "heartbeat", "scan", "crl_refresh", "digest", "probe_endpoints")


def _screens(console: Console, address: str, clock: SystemClock) -> None:
    now = clock.now()
    console.dashboard(at=now, job_names=_JOBS)
    rows = console.mailbox_rows()
    assert any(row.address == address for row in rows), address
    console.mailbox_view(address=address)
    console.audit_rows(limit=200)
    console.trust_rows(at=now)
    console.crl_rows(at=now)
    console.alert_rows(at=now)
    console.job_rows(names=_JOBS, at=now)


def main(argv: list[str]) -> int:
    home, db_url, seconds, address, *alerts = argv
    console = Console(load_settings(home=Path(home), db_url=db_url))
    clock = SystemClock()
    deadline = time.monotonic() + float(seconds)
    loops, acks, errors = 0, 0, []
    try:
        while time.monotonic() < deadline:
            try:
                _screens(console, address, clock)
                if alerts:
                    console.acknowledge_alert(alert_id=int(alerts[loops % len(alerts)]),
                                              at=clock.now(), actor="console")
                    acks += 1
            except CertmgrError as exc:
                errors.append(str(exc))
            loops += 1
    finally:
        console.close()
    sys.stdout.write(json.dumps({"loops": loops, "acks": acks, "errors": errors}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
