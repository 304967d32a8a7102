"""The operations kit in deploy/: Prometheus rules, systemd unit, cron and logrotate files.

The rules file is checked by `promtool check rules` when promtool is on PATH; in every case a
schema test checks its structure and that it only uses metric names and labels that certmgr
exports (PyYAML when importable, else a strict parser of the block-YAML subset the file uses).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "certmgr-alerts.yml"
UNIT = DEPLOY / "certmgr.service"
CRON = DEPLOY / "certmgr-check.cron"
LOGROTATE = DEPLOY / "logrotate.d" / "certmgr"
OPERATIONS = ROOT / "docs" / "operations.md"

_TARGET_LABELS = frozenset({"job", "instance"})
METRICS: dict[str, frozenset[str]] = {
    "up": frozenset(),
    "certmgr_certificate_not_after_timestamp_seconds": frozenset(
        {"mailbox", "structure", "serial"}),
    "certmgr_mailboxes": frozenset({"status"}),
    "certmgr_crl_next_update_timestamp_seconds": frozenset({"issuer"}),
    "certmgr_crl_last_fetch_success_timestamp_seconds": frozenset({"issuer"}),
    "certmgr_last_scan_timestamp_seconds": frozenset(),
    "certmgr_job_failures_total": frozenset({"job"}),
    "certmgr_probe_success": frozenset({"mailbox", "endpoint"}),
    "certmgr_probe_tls_version": frozenset({"mailbox", "endpoint"}),
    "certmgr_probe_server_cert_not_after_timestamp_seconds": frozenset({"mailbox", "endpoint"}),
    "certmgr_probe_server_cert_days_left": frozenset({"mailbox", "endpoint"}),
}
_DURATION = re.compile(r"^\d+[smhdwy]$")
_METRIC = re.compile(r"\b(up|certmgr_[a-z_]+)\b")
_LABEL_REF = re.compile(r"\$labels\.([A-Za-z_]+)")


# ---------------------------------------------------------------- a strict mini YAML reader


def _scalar(text: str) -> Any:
    text = text.strip()
    if text.startswith('"'):
        return json.loads(text)  # the file's double-quoted strings use no YAML-only escape
    if text.startswith("'"):
        assert text.endswith("'"), f"unterminated string: {text}"
        return text[1:-1].replace("''", "'")
    text = re.sub(r"\s+#.*$", "", text)
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    assert not text.startswith(("{", "[", "|", ">", "&", "*", "!")), f"unsupported: {text}"
    return text


def _block(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[Any, int]:
    if lines[i][1].startswith("- "):
        items: list[Any] = []
        while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
            lines[i] = (indent + 2, lines[i][1][2:])
            item, i = _block(lines, i, indent + 2)
            items.append(item)
        return items, i
    mapping: dict[str, Any] = {}
    while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("- "):
        key, sep, rest = lines[i][1].partition(":")
        assert sep, f"not a key: {lines[i][1]}"
        assert re.fullmatch(r"[A-Za-z_][\w-]*", key), f"not a key: {lines[i][1]}"
        assert key not in mapping, f"duplicate key {key}"
        if rest.strip():
            mapping[key], i = _scalar(rest), i + 1
        else:
            assert i + 1 < len(lines), f"{key} has no value"
            assert lines[i + 1][0] >= indent, f"{key} has no value"
            mapping[key], i = _block(lines, i + 1, lines[i + 1][0])
    return mapping, i


def load_yaml(text: str) -> Any:
    try:
        import yaml  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415
    except ImportError:
        pass
    else:
        return yaml.safe_load(text)
    lines = [(len(raw) - len(raw.lstrip(" ")), raw.strip()) for raw in text.splitlines()
             if raw.strip() and not raw.lstrip().startswith("#")]
    assert all("\t" not in raw for raw in text.splitlines()), "tabs are not YAML indentation"
    value, end = _block(lines, 0, lines[0][0])
    assert end == len(lines), f"unparsed from line: {lines[end][1]}"
    return value


class TestMiniYaml:
    """The fallback reader is strict enough to catch a broken file."""

    def test_nested_structure(self) -> None:
        text = 'a:\n  - b: 1\n    c: "x: y"\n  - b: two\n'
        assert load_yaml(text) == {"a": [{"b": 1, "c": "x: y"}, {"b": "two"}]}

    def test_bad_indentation_is_refused(self) -> None:
        with pytest.raises(AssertionError):
            load_yaml("a:\n  b: 1\n c: 2\n")


# ---------------------------------------------------------------- Prometheus rules


def _rules() -> list[dict[str, Any]]:
    document = load_yaml(RULES.read_text(encoding="utf-8"))
    assert set(document) == {"groups"}
    return [rule for group in document["groups"] for rule in group["rules"]]


class TestPrometheusRules:
    """deploy/prometheus/certmgr-alerts.yml."""

    @pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not on PATH")
    def test_promtool_accepts_the_rules(self) -> None:
        promtool = shutil.which("promtool")
        assert promtool is not None
        result = subprocess.run([promtool, "check", "rules", str(RULES)],
                                capture_output=True, text=True, check=False, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_groups_have_unique_names_and_rules(self) -> None:
        groups = load_yaml(RULES.read_text(encoding="utf-8"))["groups"]
        names = [g["name"] for g in groups]
        assert len(names) == len(set(names))
        assert all(set(g) == {"name", "rules"} and g["rules"] for g in groups)

    def test_every_rule_is_a_complete_alert(self) -> None:
        rules = _rules()
        alerts = [r["alert"] for r in rules]
        assert len(alerts) == len(set(alerts)), "duplicate alert names"
        for rule in rules:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}
            assert {"summary", "description"} <= set(rule["annotations"])
            if "for" in rule:
                assert _DURATION.match(str(rule["for"])), rule["for"]

    def test_expressions_use_only_certmgr_metrics_and_labels(self) -> None:
        for rule in _rules():
            expr = str(rule["expr"])
            assert expr.count("(") == expr.count(")"), expr
            assert expr.count("{") == expr.count("}"), expr
            for duration in re.findall(r"\[([^\]]+)\]", expr):
                assert _DURATION.match(duration), duration
            metrics = set(_METRIC.findall(expr))
            unknown = metrics - set(METRICS)
            assert metrics, rule["alert"]
            assert not unknown, f"{rule['alert']}: unknown metrics {unknown}"
            by = re.search(r"\bby \(([^)]*)\)", expr)
            labels = (frozenset(x.strip() for x in by.group(1).split(",")) if by else
                      frozenset().union(*(METRICS[m] for m in metrics)) | _TARGET_LABELS)
            for selector in re.findall(r"\{([^}]*)\}", expr):
                for name in re.findall(r"([a-z_]+)\s*(?:=~|!~|!=|=)", selector):
                    assert name in labels, f"{rule['alert']}: no label {name}"
            used = {ref for text in rule["annotations"].values()
                    for ref in _LABEL_REF.findall(text)}
            assert used <= labels, f"{rule['alert']}: annotations use {used - labels}"

    def test_every_exported_metric_has_a_rule(self) -> None:
        used = {m for rule in _rules() for m in _METRIC.findall(str(rule["expr"]))}
        assert used == set(METRICS)


# ---------------------------------------------------------------- systemd, cron, logrotate


def _unit_directives() -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a directive: {line}"
        directives.setdefault(key, []).append(value)
    return directives


class TestSystemdUnit:
    def test_hardening(self) -> None:
        d = _unit_directives()
        expected = {
            "User": ["certmgr"], "ProtectSystem": ["strict"],
            "ReadWritePaths": ["/var/lib/certmgr"], "NoNewPrivileges": ["yes"],
            "PrivateTmp": ["yes"], "ProtectHome": ["yes"], "CapabilityBoundingSet": [""],
            "RestrictAddressFamilies": ["AF_INET AF_INET6 AF_UNIX"],
            "Environment": ["CERTMGR_HOME=/var/lib/certmgr"],
        }
        for key, value in expected.items():
            assert d.get(key) == value, key

    def test_passphrase_comes_from_a_credential(self) -> None:
        d = _unit_directives()
        name, _, _path = d["LoadCredential"][0].partition(":")
        (exec_start,) = d["ExecStart"]
        assert " serve " in f"{exec_start} "
        assert f"--passphrase-file ${{CREDENTIALS_DIRECTORY}}/{name}" in exec_start
        assert "CERTMGR_PASSPHRASE" not in UNIT.read_text(encoding="utf-8")

    @pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                        reason="systemd-analyze is not on PATH")
    def test_systemd_analyze_verify(self, tmp_path: Path) -> None:
        unit = tmp_path / "certmgr.service"
        # verify checks that the executable exists: point it at one that does
        unit.write_text(UNIT.read_text(encoding="utf-8").replace(
            "/opt/certmgr/bin/certmgr", shutil.which("true") or "/bin/true"), encoding="utf-8")
        result = subprocess.run(["systemd-analyze", "verify", str(unit)],
                                capture_output=True, text=True, check=False, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "Unknown key" not in result.stderr, result.stderr


class TestCronAndLogrotate:
    def test_cron_entries(self) -> None:
        entries = [line for line in CRON.read_text(encoding="utf-8").splitlines()
                   if line.strip() and not line.startswith("#")
                   and not re.match(r"^[A-Z_]+=", line)]
        assert entries
        for entry in entries:
            fields = entry.split(None, 6)
            assert len(fields) == 7, entry
            assert all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]), entry
            assert fields[5] == "certmgr"
            assert "certmgr check" in fields[6]
            assert "%" not in fields[6].replace("\\%", ""), "cron turns % into a newline"

    def test_logrotate_block(self) -> None:
        text = "\n".join(line for line in LOGROTATE.read_text(encoding="utf-8").splitlines()
                         if not line.lstrip().startswith("#"))
        assert text.count("{") == 1
        assert text.count("}") == 1
        assert re.search(r"^/var/log/certmgr/\S+ \{", text, re.MULTILINE)
        assert re.search(r"^\s+create 0640 certmgr ", text, re.MULTILINE)


class TestOperationsGuide:
    def test_names_the_kit_and_the_renewal_steps(self) -> None:
        text = OPERATIONS.read_text(encoding="utf-8")
        for needle in ("deploy/certmgr.service", "deploy/certmgr-check.cron",
                       "deploy/logrotate.d/certmgr", "deploy/prometheus/certmgr-alerts.yml",
                       "Demander", "Retirer", "code de révocation", "certmgr csr new",
                       "certmgr order revocation-code", "certmgr order mark", "certmgr import",
                       "certmgr export", "certmgr probe", "certmgr backup"):
            assert needle in text, needle

    def test_probe_reference_matches_the_command(
            self, capsys: pytest.CaptureFixture[str]) -> None:
        from certmgr.cli import run  # noqa: PLC0415 - only this test needs the CLI

        with pytest.raises(SystemExit) as info:
            run(["probe", "--help"])
        assert info.value.code == 0
        helptext = capsys.readouterr().out
        text = OPERATIONS.read_text(encoding="utf-8")
        synopsis = text[text.index("### `certmgr probe` reference"):]
        documented = set(re.findall(r"\[(--[a-z-]+)", synopsis))
        assert documented >= {"--starttls", "--trust", "--crl", "--cert", "--mailbox", "--json"}
        for option in documented:
            assert option in helptext, f"docs/operations.md documents {option}"
