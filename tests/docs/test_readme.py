"""The README is the product's reference: these tests fail when a command, an option, a
configuration key or an environment variable is added without its line there, when a
documentation link breaks, or when an example stops matching the real command line."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import os
import re
import shlex
import tempfile
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from certmgr.cli import main
from certmgr.config import Settings, load_settings
from certmgr.scheduler import next_runs
from certmgr.services.alert_channels import alert_lang
from certmgr.services.binding import BindingRules

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SOURCES = (ROOT / "certmgr", ROOT / "tui")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_SHELL_OPERATORS = frozenset({"&&", "||", "|", ";"})
NOW = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.UTC)


@cache
def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _section(title: str) -> str:
    """The text of the `## title` section, up to the next `## ` heading."""
    text = _readme()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def _code_blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.DOTALL)


# ------------------------------------------------------------------------------ commands
def _walk() -> Iterator[tuple[str, click.Command]]:
    """Every command `certmgr --help` lists, recursively: ("mailbox add", command); a group
    is listed itself when it runs on its own (`certmgr jobs`)."""
    ctx = click.Context(main, info_name="certmgr")

    def walk(group: click.Group, path: tuple[str, ...]) -> Iterator[tuple[str, click.Command]]:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None, name
            full = (*path, name)
            if not isinstance(command, click.Group) or command.invoke_without_command:
                yield " ".join(full), command
            if isinstance(command, click.Group):
                yield from walk(command, full)

    return walk(main, ())


COMMANDS = dict(_walk())


def _reference_rows(path: str) -> str:
    """The README reference rows whose first cell is `certmgr PATH ...`, joined."""
    rows = [line for line in _readme().splitlines()
            if re.match(rf"\| `certmgr {re.escape(path)}[ `]", line)]
    return "\n".join(rows)


def _long_options(command: click.Command) -> list[str]:
    return [opt for param in command.params if isinstance(param, click.Option)
            for opt in (*param.opts, *param.secondary_opts)
            if opt.startswith("--") and opt != "--help"]


def _mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def test_the_walk_sees_every_command() -> None:
    assert {"verify", "mailbox add", "jobs", "jobs run", "order revocation-code",
            "crl refresh"} <= set(COMMANDS)
    assert "mailbox" not in COMMANDS  # a plain group is documented through its commands


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_has_a_reference_row_with_its_options(path: str) -> None:
    rows = _reference_rows(path)
    assert rows, f"README: no reference row for `certmgr {path}`"
    missing = [opt for opt in _long_options(COMMANDS[path]) if not _mentions(rows, opt)]
    assert not missing, f"README row of `certmgr {path}` lacks {missing}"


LONG_RUNNING = frozenset({"serve", "tui"})
"""The commands the README names as long-running, without `--json`."""


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_has_help_and_json_as_the_readme_says(path: str) -> None:
    result = CliRunner().invoke(main, [*path.split(), "--help"], prog_name="certmgr")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: certmgr {path} ")
    assert ("--json" in _long_options(COMMANDS[path])) is (path not in LONG_RUNNING), path


def test_global_options_and_exit_codes() -> None:
    reference = _section("Command reference")
    for opt in ("--home", "--db", "--debug", "--version", "--json"):
        assert _mentions(reference, opt), opt
    for code in range(4):
        assert f"\n| {code} | " in reference


# ------------------------------------------------------------------------- configuration
def _is_extra(node: ast.expr) -> bool:
    """`settings.extra`, or a local named `extra`: the config.toml keys Settings does not
    model."""
    return ((isinstance(node, ast.Attribute) and node.attr == "extra")
            or (isinstance(node, ast.Name) and node.id == "extra"))


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _section_of(node: ast.expr) -> str | None:
    """The [section] an expression reads: `_section(<extra>, "S")` or `<extra>.get("S", ..)`."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    if isinstance(func, ast.Name) and func.id == "_section" and len(node.args) >= 2:
        return _literal(node.args[1]) if _is_extra(node.args[0]) else None
    if isinstance(func, ast.Attribute) and func.attr == "get" and _is_extra(func.value):
        return _literal(node.args[0])
    return None


class _KeyFinder(ast.NodeVisitor):
    """Dotted config keys read from `Settings.extra`: `crl_urls`, `smtp.host`,
    `webhook.*.url`, `schedule.alerts`."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.sections: dict[str, str] = {}  # local variable -> the section it holds

    def _owner(self, node: ast.expr) -> str | None:
        if _is_extra(node):
            return ""
        section = _section_of(node)
        if section is not None:
            return section
        if isinstance(node, ast.Name):
            return self.sections.get(node.id)
        return None

    def _read(self, owner: ast.expr, key: str | None) -> None:
        prefix = self._owner(owner)
        if prefix is not None and key is not None:
            self.keys.add(f"{prefix}.{key}" if prefix else key)

    def visit_Assign(self, node: ast.Assign) -> None:
        section = _section_of(node.value)
        if section is not None:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.sections[target.id] = section
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        # `for name, table in _section(extra, "webhook").items()`: named sub-tables
        it = node.iter
        if (isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute)
                and it.func.attr == "items" and isinstance(node.target, ast.Tuple)
                and len(node.target.elts) == 2 and isinstance(node.target.elts[1], ast.Name)):
            section = _section_of(it.func.value)
            if section is not None:
                self.sections[node.target.elts[1].id] = f"{section}.*"
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        section = _section_of(node)
        if section is not None:
            self.keys.add(section)
        elif isinstance(func, ast.Attribute) and func.attr == "get" and node.args:
            self._read(func.value, _literal(node.args[0]))
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self._read(node.value, _literal(node.slice))
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        if (len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn))
                and _literal(node.left) is not None):
            self._read(node.comparators[0], _literal(node.left))
        self.generic_visit(node)


def _python_files() -> Iterator[Path]:
    for source in SOURCES:
        yield from sorted(source.rglob("*.py"))


def _schedulable_jobs() -> set[str]:
    """The jobs a `[schedule]` line may override: those the scheduler would run, asked of
    `certmgr.scheduler.next_runs` on a home that has its installation id."""
    with tempfile.TemporaryDirectory() as home:
        (Path(home) / "installation-id").write_text("docs-test\n", encoding="ascii")
        settings = load_settings(home=home, environ={})
        return {name for name, _at in next_runs(settings, now=NOW)}


@cache
def _config_keys_read() -> frozenset[str]:
    keys = {f.name for f in dataclasses.fields(Settings)} - {"home", "db_url", "extra"}
    for path in _python_files():
        finder = _KeyFinder()
        finder.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        keys |= finder.keys
    if "schedule" in keys:
        keys |= {f"schedule.{name}" for name in _schedulable_jobs()}
    return frozenset(keys)


@cache
def _readme_config() -> dict[str, object]:
    blocks = _code_blocks(_section("Configuration"), "toml")
    assert len(blocks) == 1, "the Configuration section has one config.toml example"
    return tomllib.loads(blocks[0])


def _documented(config: object, dotted: str) -> bool:
    head, _, rest = dotted.partition(".")
    if not isinstance(config, dict):
        return False
    if head == "*":
        return any(_documented(value, rest) for value in config.values()) if rest else bool(
            config)
    if head not in config:
        return False
    return True if not rest else _documented(config[head], rest)


def test_the_key_finder_sees_the_known_keys() -> None:
    assert {"crl_hosts", "crl_urls", "admins", "order_pending_days", "alerts.lang",
            "smtp.host", "webhook.*.url", "schedule.crl_refresh"} <= _config_keys_read()


@pytest.mark.parametrize("key", sorted(_config_keys_read()))
def test_every_config_key_the_code_reads_is_in_the_readme_example(key: str) -> None:
    assert _documented(_readme_config(), key), f"README config.toml example lacks {key}"


def test_the_readme_example_is_a_valid_config(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(_code_blocks(_section("Configuration"), "toml")[0],
                                          encoding="utf-8")
    settings = load_settings(home=tmp_path, environ={})
    assert settings.alert_thresholds == (120, 90, 60, 30, 14, 7, 3, 1)
    assert alert_lang(settings) == "fr"
    assert BindingRules.from_settings(settings) is not None
    assert {name for name, _at in next_runs(settings, now=NOW)} >= {"alerts", "heartbeat"}


@cache
def _env_vars_read() -> frozenset[str]:
    names: set[str] = set()
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = _literal(node) if isinstance(node, ast.Constant) else None
            if text is not None and re.fullmatch(r"CERTMGR_[A-Z0-9_]*", text):
                names.add(text)
    return frozenset(names)


def test_the_env_scan_sees_the_known_variables() -> None:
    assert {"CERTMGR_HOME", "CERTMGR_DB", "CERTMGR_PASSPHRASE"} <= _env_vars_read()


@pytest.mark.parametrize("name", sorted(_env_vars_read()))
def test_every_environment_variable_is_documented(name: str) -> None:
    assert name in _section("Configuration"), f"README Configuration lacks {name}"


# ---------------------------------------------------------------------------------- links
def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(line.lstrip("#")) for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("#")}


@pytest.mark.parametrize("target", sorted({t for t in _LINK.findall(_readme())
                                           if "://" not in t and not t.startswith("mailto:")}))
def test_every_link_resolves(target: str) -> None:
    file, _, anchor = target.partition("#")
    path = README if not file else (ROOT / file)
    assert path.exists(), f"README links to a missing {file}"
    if anchor:
        assert anchor in _anchors(path), f"no heading #{anchor} in {file or 'README.md'}"


def test_every_doc_is_linked() -> None:
    linked = {t.partition("#")[0] for t in _LINK.findall(_readme())}
    docs = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert docs
    assert docs <= linked, f"README does not link {sorted(docs - linked)}"


# ----------------------------------------------------------------------- examples, Quick start
def _invocations() -> Iterator[list[str]]:
    """The arguments of every `certmgr` run in the README's sh blocks (continuations joined,
    stopped at a shell operator, a redirection or a comment)."""
    for block in _code_blocks(_readme(), "sh"):
        for line in block.replace("\\\n", " ").splitlines():
            tokens = shlex.split(line, comments=True)
            for i, token in enumerate(tokens):
                if not re.fullmatch(r"(.*/bin/|.*\$\()?certmgr", token):
                    continue
                args: list[str] = []
                for arg in tokens[i + 1:]:
                    if arg in _SHELL_OPERATORS or arg[:1] in ">)" or arg[:2] == "2>":
                        break
                    args.append(arg.rstrip(")"))
                yield args


def _resolve(args: list[str]) -> tuple[click.Command, list[str]]:
    """The command `certmgr ARGS` runs, and the arguments left for it."""
    ctx = click.Context(main, info_name="certmgr")
    rest = list(args)
    while rest and rest[0].startswith("--"):
        flag = rest.pop(0)
        assert flag in {"--home", "--db", "--debug", "--version"}, flag
        if flag in {"--home", "--db"}:
            rest.pop(0)
    command: click.Command = main
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            break
        command, rest = sub, rest[1:]
    return command, rest


def test_examples_use_real_commands_and_options() -> None:
    runs = list(_invocations())
    assert len(runs) > 10
    for args in runs:
        command, rest = _resolve(args)
        assert command is not main, f"no such command: certmgr {' '.join(args)}"
        if isinstance(command, click.Group):
            assert command.invoke_without_command, f"incomplete: certmgr {' '.join(args)}"
        known = set(_long_options(command))
        unknown = [a.split("=")[0] for a in rest
                   if a.startswith("--") and a.split("=")[0] not in known]
        assert not unknown, f"certmgr {' '.join(args)}: unknown options {unknown}"


def test_quick_start_is_two_commands_that_exist() -> None:
    blocks = _code_blocks(_section("Quick start"), "sh")
    assert len(blocks) == 1
    install, tests = (shlex.split(line, comments=True) for line in blocks[0].splitlines())
    assert install[-3:] == [".venv/bin/certmgr", "demo", "--headless"]
    assert "pip" in " ".join(install)
    assert tests == ["./scripts/test"]
    script = ROOT / "scripts" / "test"
    assert script.is_file()
    assert os.access(script, os.X_OK)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^\./scripts/test\b", ci, flags=re.MULTILINE), ".ci/run must call it"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["scripts"]["certmgr"] == "certmgr.cli:run"
