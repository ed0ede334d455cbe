"""deploy/monitoring: the alert rules pass ``promtool check rules`` and their unit tests
(``promtool test rules``), the dashboard is provisioning-ready, and every metric name the
dashboard and the rules use is one a real gateway (with its desk and archiver) or a real
``parley worker`` actually serves after a few turns."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from channels.models import InboundMessage
from tests.conftest import REPO
from tests.deploy.metered_worker import MeteredWorker, total
from tests.e2e.desk_support import desk_database
from tests.processes import BOT, GatewayProcess, copy_bot, free_port
from workers.bus import conversation_key
from workers.inbox import enqueue

MONITORING = REPO / "deploy" / "monitoring"
RULES = MONITORING / "prometheus" / "alerts.yml"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "parley.json"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian: apt-get install prometheus; "
    ".ci/run installs it)")
_NAME = re.compile(r"\b(parley_[a-z0-9_]+)")
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count"),
             "gauge": ("",), "summary": ("_sum", "_count"), "info": ("_info",)}
# action_slow of a copy of the test bot asks the orders backend, which is not there.
_ORDERS_ACTION = '''

@action("action_slow")
def slow_orders(context):
    from integrations import IntegrationError
    try:
        context.clients["orders"].get_order("A1")
    except IntegrationError:
        context.dispatcher.text("The orders service is not available.")
    return []
'''


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


@needs_promtool
def test_the_rules_and_the_scrape_config_are_valid() -> None:
    for args in (("check", "rules", "alerts.yml"), ("check", "config", "prometheus.yml")):
        done = _promtool(*args, cwd=RULES.parent)
        assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_the_rules_unit_tests_pass() -> None:
    done = _promtool("test", "rules", "alerts_test.yml", cwd=RULES.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


@needs_promtool
def test_the_dashboards_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each panel query (Grafana's interval variable made a duration)."""
    exprs = [t["expr"].replace("$__rate_interval", "5m")
             for p in json.loads(DASHBOARD.read_text())["panels"] for t in p.get("targets", ())]
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query{i}", "expr": expr} for i, expr in enumerate(exprs)]}]}
    (tmp_path / "queries.yml").write_text(json.dumps(rules))  # JSON is YAML
    done = _promtool("check", "rules", "queries.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(exprs)} rules found" in done.stdout


def test_the_dashboard_is_provisioning_ready() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "parley-overview" and dashboard["title"] == "Parley"
    assert dashboard["id"] is None  # Grafana gives its own
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Gateway", "Workers", "Dispatcher (outbound)", "Desk", "Archive"]
    graphs = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in graphs:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert panel["targets"] and all(
            t["datasource"] == panel["datasource"] and t["expr"] for t in panel["targets"])
    provider = (MONITORING / "grafana" / "provisioning" / "dashboards.yml").read_text()
    assert "type: file" in provider and "path: /var/lib/grafana/dashboards/parley" in provider


@pytest.fixture
def exported(bot_model: Path, clean_redis: redis.Redis, tmp_path: Path) -> Iterator[set[str]]:
    """The sample names a real gateway (desk, webhooks, archiver on) and a real worker serve
    after a few turns: a greeting, a fallback, a failing action, a backend call to a
    backend that is down, and an inbox entry that cannot be decoded."""
    bot = copy_bot(BOT, tmp_path)
    with (bot / "actions.py").open("a") as actions:
        actions.write(_ORDERS_ACTION)
    messages = [("a", "/greet"), ("b", "zzqx blorf wibble"), ("c", "/crash"),
                ("d", "/slow"), ("e", "/greet")]
    for chat, text in messages:
        enqueue(clean_redis, InboundMessage(channel="webchat", account="t", chat=chat,
                                            user_id=chat, message_id=chat, text=text,
                                            received_at=time.time()))
    clean_redis.hset(conversation_key("webchat:t:e", "inbox"), "1", b"not a message")
    gateway = GatewayProcess(tmp_path / "gateway.log", {
        "PARLEY_DATABASE_URL": desk_database(tmp_path),
        "PARLEY_SESSION_SECRET": "monitoring-test-session-secret",
        # The helpdesk webhooks' counters exist only when webhooks are on.
        "PARLEY_DESK_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/hooks",
        "PARLEY_DESK_WEBHOOK_SECRET": "monitoring-test-webhook-secret"})
    worker = None
    try:
        worker = MeteredWorker(bot_model, tmp_path / "worker.log", concurrency=1, bot=bot,
                               env={"PARLEY_ORDERS_URL": f"http://127.0.0.1:{free_port()}"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and total(
                worker.samples(), "parley_worker_turns_total") < len(messages) - 1:
            time.sleep(0.2)
        with urllib.request.urlopen(f"{gateway.url}/metrics", timeout=5) as response:
            gateway_text = response.read().decode()
        yield _names(gateway_text) | _names(worker.scrape())
    finally:
        if worker is not None:
            worker.stop()
        gateway.stop()


def test_every_metric_the_dashboard_and_the_rules_use_is_exported(
        exported: set[str]) -> None:
    used = _used_names()
    assert {"parley_worker_turns_total", "parley_worker_backend_calls_total",
            "parley_worker_breaker_state", "parley_worker_dead_letter_stream_length",
            "parley_archive_backlog", "parley_handoff_sla_breaches_total",
            "parley_inbound_messages_total"} <= used  # the check checks something
    assert used - exported == set(), "used in deploy/monitoring, exported by nobody"
    assert "parley_worker_dead_letters_total" in exported  # the bad entry was given up on


def _used_names() -> set[str]:
    exprs = [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"]
             for t in p.get("targets", ())]
    exprs.append(RULES.read_text())
    return {name for expr in exprs for name in _NAME.findall(expr)}


def _names(text: str) -> set[str]:
    """Sample names in a scrape, and those of families declared but not yet observed."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ", 3)
            names.update(f"{family.removesuffix('_total')}{s}" if kind == "counter" else
                         f"{family}{s}" for s in _SUFFIXES.get(kind, ("",)))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


