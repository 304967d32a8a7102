"""`certmgr demo` and `certmgr tui` on a terminal open the console (the demo on its seeded
inventory); without a terminal `tui` says so in one line.

The real entry point runs in a child process on a pseudo-terminal (`os.openpty`), as an
operator's SSH session would run it; the test reads the screen until the dashboard of the
seeded inventory is drawn, presses `q`, and checks the exit code. No time is asserted:
the deadline only stops a hung child.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")

_ANSI = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
DEADLINE = 180.0


def _read_until(fd: int, proc: subprocess.Popen[bytes], wanted: tuple[bytes, ...]) -> bytes:
    """What the child drew (escape sequences removed) once every `wanted` piece is there."""
    raw = b""
    waited = 0.0
    while waited < DEADLINE:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            waited += 1.0
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        raw += chunk
        plain = _ANSI.sub(b"", raw)
        if all(w in plain for w in wanted):
            return plain
    return _ANSI.sub(b"", raw)


def _on_a_terminal(args: list[str], wanted: tuple[bytes, ...]) -> tuple[int, bytes]:
    """Run `certmgr ARGS` on a 120x36 pseudo-terminal, wait until every `wanted` piece is
    drawn, press `q`; the exit code and what was drawn."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTMGR_")}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="36", LANG="C.UTF-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "certmgr", *args],
        stdin=follower, stdout=follower, stderr=follower, env=env,
        cwd=Path(__file__).resolve().parents[2], start_new_session=True)
    os.close(follower)
    try:
        screen = _read_until(leader, proc, wanted)
        assert all(w in screen for w in wanted), screen[-2000:]
        os.write(leader, b"q")
        screen += _read_until(leader, proc, (b"never drawn\0",))  # drain until it exits
        code = proc.wait(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        os.close(leader)
    assert b"Traceback" not in screen
    return code, screen


def test_demo_on_a_terminal_opens_the_console(tmp_path: Path) -> None:
    code, screen = _on_a_terminal(["--home", str(tmp_path), "demo"],
                                  (b"mailboxes by status", b"CRL freshness"))
    assert code == 0, screen[-2000:]
    # The console was opened on the seeded demo inventory, not on an empty home.
    assert (tmp_path / "demo" / "certmgr.sqlite3").is_file()
    total = re.search(rb"(\d+) mailboxes by status", screen)
    assert total is not None
    assert int(total.group(1)) > 0


def test_a_console_on_an_unusable_database_says_why_and_quits_cleanly(tmp_path: Path) -> None:
    code, screen = _on_a_terminal(["--home", str(tmp_path), "--db", "bogus://x", "tui"],
                                  (b"Error", b"unsupported", b"Dashboard"))
    assert code == 0, screen[-2000:]
    assert not (tmp_path / "certmgr.sqlite3").exists()


def test_tui_without_a_terminal_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "certmgr", "--home", str(tmp_path), "tui"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          check=False, timeout=DEADLINE)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("certmgr: error: certmgr tui: the console needs a terminal")
