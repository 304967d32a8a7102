"""config.toml keys: unknown ones are warned about (file and key named) and ignored, a wrong
type is a one-line ConfigError (exit 2), and one string where a list is expected is a
one-element list."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from certmgr.config import load_settings
from certmgr.errors import ConfigError
from certmgr.scheduler import next_runs
from certmgr.services.alerts import AlertPolicy

NOW = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)


def _home(tmp_path: Path, toml: str) -> Path:
    (tmp_path / "config.toml").write_text(toml, encoding="utf-8")
    return tmp_path


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "certmgr.config" and r.levelno == logging.WARNING]


class TestUnknownKeys:
    """Each unknown key is one warning naming config.toml and the key, then ignored."""

    def test_top_level_and_section_keys(self, tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
        home = _home(tmp_path, 'admin = "pki@example.org"\nrenew_soon_days = 60\n'
                               '[smtp]\nhost = "smtp.example.org"\nhots = "typo"\n'
                               '[webhook.ops]\nurl = "https://h.example.org"\n'
                               'secret_file = "s"\nsecret = "inline"\n'
                               '[schedule]\ndigest = "45 8 * * *"\nscan = "0 1 * * *"\n')
        with caplog.at_level(logging.WARNING, logger="certmgr.config"):
            settings = load_settings(home=home, environ={})
        config = str(home / "config.toml")
        assert _warnings(caplog) == [
            f"{config}: unknown key 'admin' ignored (did you mean 'admins'?)",
            f"{config}: unknown key 'smtp.hots' ignored (did you mean 'host'?)",
            f"{config}: unknown key 'webhook.ops.secret' ignored (did you mean 'secret_file'?)",
            f"{config}: unknown key 'schedule.scan' ignored",
        ]
        assert settings.renew_soon_days == 60
        assert settings.extra == {"smtp": {"host": "smtp.example.org"},
                                  "webhook": {"ops": {"url": "https://h.example.org",
                                                      "secret_file": "s"}},
                                  "schedule": {"digest": "45 8 * * *"}}
        assert AlertPolicy.from_settings(settings).admins == ()

    def test_known_keys_raise_no_warning(self, tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
        home = _home(tmp_path, 'order_pending_days = 10\nescalate_after_days = 2\n'
                               'crl_urls = []\nbinding_rules = ["cn"]\n'
                               '[binding_map]\n"any-cn" = "bal@x.mssante.fr"\n'
                               '[alerts]\nlang = "en"\n')
        with caplog.at_level(logging.WARNING, logger="certmgr.config"):
            settings = load_settings(home=home, environ={})
        assert _warnings(caplog) == []
        assert settings.extra["binding_map"] == {"any-cn": "bal@x.mssante.fr"}

    def test_every_schedulable_job_is_a_known_schedule_key(
            self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        (tmp_path / "installation-id").write_text("config-test\n", encoding="ascii")
        jobs = {name for name, _at in next_runs(load_settings(home=tmp_path, environ={}),
                                                now=NOW)}
        home = _home(tmp_path, "[schedule]\n" + "".join(f'{j} = "every 60 s"\n' for j in jobs))
        with caplog.at_level(logging.WARNING, logger="certmgr.config"):
            settings = load_settings(home=home, environ={})
        assert _warnings(caplog) == []
        assert set(settings.extra["schedule"]) == jobs

    def test_the_cli_prints_one_line_on_stderr(self, tmp_path: Path) -> None:
        home = _home(tmp_path, 'escalation_contact = "astreinte@example.org"\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERTMGR_")}
        done = subprocess.run([sys.executable, "-m", "certmgr", "--home", str(home), "jobs"],
                              capture_output=True, text=True, env=env, check=False)
        warning = [line for line in done.stderr.splitlines() if "unknown key" in line]
        expected = (f"{home / 'config.toml'}: unknown key 'escalation_contact' ignored "
                    "(did you mean 'escalation_contacts'?)")
        assert warning == [expected]


class TestOneStringIsAList:
    """`admins = "x@y"` means one admin, never the characters of the address."""

    def test_string_lists(self, tmp_path: Path) -> None:
        home = _home(tmp_path, 'admins = "pki@example.org"\n'
                               'escalation_contacts = "astreinte@example.org"\n'
                               'crl_hosts = "IGC-Sante.Esante.Gouv.fr"\n'
                               'crl_urls = "http://igc-sante.esante.gouv.fr/x.crl"\n'
                               'binding_rules = "map"\nalert_thresholds = 30\n')
        settings = load_settings(home=home, environ={})
        policy = AlertPolicy.from_settings(settings)
        assert policy.admins == ("pki@example.org",)
        assert policy.escalation_contacts == ("astreinte@example.org",)
        assert settings.crl_hosts == ("igc-sante.esante.gouv.fr",)
        assert settings.extra["crl_urls"] == ["http://igc-sante.esante.gouv.fr/x.crl"]
        assert settings.extra["binding_rules"] == ["map"]
        assert settings.alert_thresholds == (30,)


class TestWrongTypes:
    """A value of the wrong type stops the command: one line naming the file and key."""

    @pytest.mark.parametrize(("toml", "message"), [
        ("admins = 3", "admins must be a list of strings"),
        ('admins = ["a@b", 2]', "admins must be a list of strings"),
        ("crl_hosts = [1]", "crl_hosts must be a list of strings"),
        ('order_pending_days = "14"', "order_pending_days must be a non-negative integer"),
        ("escalate_after_days = true", "escalate_after_days must be a non-negative integer"),
        ("critical_days = 1.5", "critical_days must be a non-negative integer"),
        ("alert_thresholds = [30, true]", "alert_thresholds must be a list of positive"),
        ('timezone = ["Europe/Paris"]', "timezone must be a string"),
        ('smtp = "smtp.example.org"', "smtp must be a table"),
        ('webhook = {ops = "https://x"}', "webhook.ops must be a table"),
        ("binding_map = 3", "binding_map must be a table"),
    ])
    def test_config_error(self, tmp_path: Path, toml: str, message: str) -> None:
        home = _home(tmp_path, toml + "\n")
        with pytest.raises(ConfigError) as info:
            load_settings(home=home, environ={})
        assert str(info.value).startswith(f"{home / 'config.toml'}: {message}")
        assert "\n" not in str(info.value)

    def test_the_cli_exits_2(self, tmp_path: Path) -> None:
        home = _home(tmp_path, 'admins = {to = "pki@example.org"}\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERTMGR_")}
        done = subprocess.run([sys.executable, "-m", "certmgr", "--home", str(home), "jobs"],
                              capture_output=True, text=True, env=env, check=False)
        assert done.returncode == 2
        assert done.stderr.splitlines() == [
            f"certmgr: error: {home / 'config.toml'}: admins must be a list of strings"]
