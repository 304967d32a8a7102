"""What every command shares: exit codes, the application context, output helpers.

Exit codes are a contract that scripts rely on; they never change meaning.
Diagnostics go to stderr, results to stdout; `--json` output is one JSON
document (or one object per line where a command says so).
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import click

from certmgr.clock import Clock, SystemClock
from certmgr.config import Settings, load_settings

__all__ = [
    "AppContext",
    "ExitCode",
    "echo_json",
    "err",
    "json_option",
    "pass_app",
]

P = ParamSpec("P")
R = TypeVar("R")


class ExitCode(enum.IntEnum):
    """Process exit codes of `certmgr` (monitoring commands use Nagios codes, documented there)."""

    OK = 0
    FINDING = 1
    """A finding: something is invalid, expired, revoked, rejected."""
    USAGE = 2
    """Usage error or unreadable input."""
    INTERNAL = 3
    """Internal or unknown error: the check could not be carried out."""


@dataclass(slots=True)
class AppContext:
    """Per-invocation state built from the global options; settings load lazily."""

    home: str | None
    db_url: str | None
    debug: bool
    clock: Clock = field(default_factory=SystemClock)
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(home=self.home, db_url=self.db_url)
        return self._settings


pass_app = click.make_pass_decorator(AppContext)


def json_option(func: Callable[P, R]) -> Callable[P, R]:
    """Add `--json` to a reporting command."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout."
    )(func)


def _default(value: Any) -> Any:
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def echo_json(value: Any, *, lines: bool = False) -> None:
    """Write `value` as JSON to stdout (`lines`: one compact object per line)."""
    if lines:
        for item in value:
            sys.stdout.write(json.dumps(item, default=_default, ensure_ascii=False) + "\n")
        return
    sys.stdout.write(json.dumps(value, default=_default, ensure_ascii=False, indent=2) + "\n")


def err(message: str) -> None:
    """One diagnostic line on stderr."""
    click.echo(f"certmgr: {message}", err=True)
