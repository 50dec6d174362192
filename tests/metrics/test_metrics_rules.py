"""examples/prometheus holds a valid scrape config, recording and alert rules, and
promtool unit tests that fire every alert (and keep quiet on a healthy shard)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from metrics_procs import need

from birbctl.protocol.opcodes import CLOSE_POLICIES, CloseAction

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prometheus"
RULES = EXAMPLES / "birbctl.rules.yml"
ALERTS = EXAMPLES / "birbctl.alerts.yml"
TESTS = EXAMPLES / "birbctl.tests.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need("promtool"), *args],
        cwd=EXAMPLES, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_rules_pass_promtool_check_rules() -> None:
    result = promtool("check", "rules", RULES.name, ALERTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_scrape_config_passes_promtool_check_config() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def alert_names() -> set[str]:
    return set(re.findall(r"^\s+- alert: (\w+)$", ALERTS.read_text(), re.MULTILINE))


def test_every_alert_is_fired_by_a_unit_test_and_quiet_on_the_healthy_shard() -> None:
    """Read as text (no YAML parser among the test dependencies): a firing case is
    `alertname: X` followed by a non-empty exp_alerts list, a quiet one `exp_alerts: []`."""
    text = TESTS.read_text()
    fired = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels", text))
    healthy = text.split("  - name: a healthy shard", 1)[1].split("\n  - name: ", 1)[0]
    quiet = set(re.findall(r"alertname: (\w+), exp_alerts: \[\]", healthy))
    assert len(alert_names()) == 6
    assert fired == alert_names() == quiet


def test_the_fatal_close_alert_names_exactly_the_fatal_codes() -> None:
    fatal = {str(code) for code, p in CLOSE_POLICIES.items() if p.action is CloseAction.FATAL}
    found = re.search(r'code=~"([0-9|]+)"', ALERTS.read_text())
    assert found is not None
    assert set(found.group(1).split("|")) == fatal
