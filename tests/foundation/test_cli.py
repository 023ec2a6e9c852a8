"""The `bot` command, in-process, against the real registry and a temporary BOT_HOME."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from bot.cli import main
from bot.config import PROJECT_ROOT


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("BOT_HOME", str(tmp_path / "home"))
    for var in ("ANTHROPIC_API_KEY", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "GITHUB_TOKEN", "STRIPE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "home"


def test_ask_answers_from_a_script_at_zero_tokens_and_records_it(capsys, home):
    assert main(["ask", "how full is the disk?"]) == 0
    out = capsys.readouterr().out
    assert "% used" in out
    assert "script `ops.disk-usage` · 0 tokens" in out
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["requests"] == 1 and stats["zero_token_share"] == 1.0
    tier = stats["by_tier"]["script"]
    assert {"requests", "input_tokens", "output_tokens", "cost_usd", "errors", "p50_ms", "p95_ms"} <= set(tier)
    assert tier["requests"] == 1 and tier["input_tokens"] == 0


def test_route_reads_stdin_and_prints_json_lines(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("how full is the disk?\nwhy is the disk full?\n\n"))
    assert main(["route"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["text"], d["tier"], d["script"]) for d in lines] == [
        ("how full is the disk?", "script", "ops.disk-usage"),
        ("why is the disk full?", "orchestrator", None)]
    assert {"text", "tier", "script", "args", "score", "reason"} <= set(lines[0])


def test_run_validates_arguments_with_usage(capsys):
    assert main(["run", "ops.disk-usage", "--colour", "red"]) == 1
    out = capsys.readouterr().out
    assert "unknown argument --colour" in out and "usage:" in out


def test_scripts_lists_credential_status_never_values(monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_supersecretvalue1234567890abcdef")
    assert main(["scripts", "--json"]) == 0
    raw = capsys.readouterr().out
    catalog = json.loads(raw)
    assert "ghp_supersecret" not in raw
    ops = {e["name"]: e for e in catalog["ops"]}
    assert ops["ops.disk-usage"]["credentials"] == "configured"
    assert {e["credentials"] for e in catalog["github"]} == {"configured"}
    assert {e["credentials"] for e in catalog["stripe"]} == {"missing STRIPE_API_KEY"}


def test_invalid_config_is_one_clear_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setenv("BOT_DAILY_BUDGET_USD", "lots")
    assert main(["stats"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bot: invalid configuration: BOT_DAILY_BUDGET_USD")
    assert "Traceback" not in err


def test_stats_rejects_a_bad_since(capsys):
    assert main(["stats", "--since", "yesterday"]) == 2
    assert "expected e.g. 30m, 24h or 7d" in capsys.readouterr().err


def test_console_runs_the_same_pipeline_from_stdin(home):
    proc = subprocess.run([sys.executable, "-m", "bot"], input="how full is the disk?\n/ops scripts ops\n"  # noqa: S603
                          "/ops jobs list\nquit\n", text=True,
                          capture_output=True, timeout=60, cwd=PROJECT_ROOT,
                          env={"PATH": "/usr/bin:/bin", "BOT_HOME": str(home), "HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    assert "opsbot console" in proc.stdout
    assert "script `ops.disk-usage` · 0 tokens" in proc.stdout
    assert "*ops.port-check* — " in proc.stdout and "usage: `ops.port-check" in proc.stdout
    assert "heartbeat" in proc.stdout  # /ops jobs list from the console's own scheduler


def test_stats_table_shows_tokens_and_cost_per_model(capsys, home):
    from bot.ledger import Ledger

    ledger = Ledger(home / "ledger.db")
    rid = ledger.start_request(source="cli", text="draft the postmortem")
    ledger.record_decision(rid, tier="direct", decided_by="orchestrator", reason="skill postmortem-draft")
    ledger.record_llm_call(request_id=rid, model="claude-sonnet-5-5", purpose="orchestrator", input_tokens=1800,
                           output_tokens=400, cache_read_tokens=1500, cost_usd=0.0123)
    ledger.finish_request(rid, "ok", latency_ms=2100)
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert "LLM calls by model" in out and "claude-sonnet-5-5" in out
    assert "1,800" in out and "$0.0123" in out
