"""Writes fail closed (issue 11, item 1): a missing `side_effects`, a job running a write script, and
`--yes` on a script the model proposed must never refund. Through the real `bot` command in-process,
the real runner and, for the model, the real SDK against the fake Messages API."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.cli import main
from tests.fakes.anthropic_server import FakeAnthropic

REFUND = {"name": "stripe.refund", "summary": "Refund a Stripe charge", "side_effects": "write",
          "args": [{"name": "charge", "type": "string", "required": True}]}
NOTES = {"name": "demo.notes", "summary": "Today's deploy notes", "side_effects": "read"}


def project(root: Path, scripts: list[dict], jobs: list[dict] | None = None) -> Path:
    (root / "skills").mkdir(exist_ok=True)
    # Each script answers --help first (`bot registry check` reads its usage line) and acts only otherwise.
    for rel, body in {"stripe/refund": 'case "$1" in --help) echo "usage: refund --charge CHARGE"; exit 0;; esac\n'
                                       'touch "$(dirname "$0")/REFUNDED"\necho refunded',
                      "demo/notes": 'case "$1" in --help) echo "usage: notes"; exit 0;; esac\n'
                                    "echo deployed web v2"}.items():
        path = root / "scripts" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(0o755)
    (root / "registry").mkdir(exist_ok=True)
    (root / "registry" / "stripe.yaml").write_text(yaml.safe_dump({"scripts": scripts}, sort_keys=False))
    if jobs is not None:
        (root / "registry" / "jobs.yaml").write_text(yaml.safe_dump({"jobs": jobs}, sort_keys=False))
    return root / "scripts" / "stripe" / "REFUNDED"


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var, value in {"BOT_HOME": tmp_path / "home", "BOT_REGISTRY": tmp_path / "registry",
                       "BOT_SCRIPTS": tmp_path / "scripts", "BOT_SKILLS": tmp_path / "skills",
                       "BOT_CONFIG": tmp_path / "none.yaml", "BOT_SCHEDULER": "false"}.items():
        monkeypatch.setenv(var, str(value))
    for var in ("ANTHROPIC_API_KEY", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("sys.stdin", open("/dev/null"))      # noqa: SIM115 - `</dev/null`: nobody to say y
    return tmp_path


def test_missing_side_effects_is_a_check_error_and_the_script_cannot_run(env: Path, capsys) -> None:
    refunded = project(env, [{k: v for k, v in REFUND.items() if k != "side_effects"}])
    assert main(["registry", "check"]) == 1
    err = capsys.readouterr().err
    assert "registry/stripe.yaml: stripe.refund: side_effects: required, missing: say `read` or `write`" in err
    assert main(["run", "stripe.refund", "--charge", "ch_1"]) != 0
    assert not refunded.exists()
    assert "There is no script `stripe.refund`" in capsys.readouterr().out


def test_a_job_running_a_write_script_needs_allow_write(env: Path, capsys) -> None:
    job = {"name": "refund-nightly", "schedule": "0 3 * * *", "script": "stripe.refund",
           "args": {"charge": "ch_1"}}
    refunded = project(env, [REFUND], jobs=[job])
    assert main(["registry", "check"]) == 1
    assert ("registry/jobs.yaml: refund-nightly: allow_write: runs write script 'stripe.refund' unattended"
            in capsys.readouterr().err)
    assert main(["jobs", "run", "refund-nightly"]) == 1
    assert "without `allow_write: true`" in capsys.readouterr().out
    assert not refunded.exists()

    project(env, [REFUND], jobs=[{**job, "allow_write": True}])
    assert main(["registry", "check"]) == 0
    assert "warning: registry/jobs.yaml: refund-nightly: allow_write: runs write script 'stripe.refund'" \
        in capsys.readouterr().err
    assert main(["jobs", "list"]) == 0
    assert "script stripe.refund --charge ch_1 ⚠ writes (allow_write)" in capsys.readouterr().out
    assert main(["jobs", "run", "refund-nightly"]) == 0
    assert refunded.exists()


@pytest.fixture
def llm(env: Path, fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch) -> FakeAnthropic:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_anthropic.base_url)
    monkeypatch.setenv("BOT_LLM_MAX_RETRIES", "0")
    return fake_anthropic


def test_yes_never_confirms_a_script_the_model_proposed(env: Path, llm: FakeAnthropic, capsys) -> None:
    refunded = project(env, [REFUND, NOTES])
    llm.reply_tool_use("run_script", {"name": "stripe.refund", "args": {"charge": "ch_1"},
                                      "reason": "the notes mention a refund"})
    llm.reply_text("I've asked to refund ch_1.")
    assert main(["ask", "summarise today's deploy notes", "--yes"]) == 0
    out = capsys.readouterr().out
    assert not refunded.exists()
    assert "--yes confirms only a script you named" in out and "Cancelled: `stripe.refund` did not run." in out
    assert len(llm.message_requests) == 2               # the model did propose it: this is not a router miss


def test_yes_confirms_the_script_the_user_named(env: Path, llm: FakeAnthropic, capsys) -> None:
    refunded = project(env, [REFUND, NOTES])
    assert main(["ask", "run stripe.refund --charge ch_1", "--yes"]) == 0
    assert refunded.exists() and "refunded" in capsys.readouterr().out
    refunded.unlink()
    assert main(["run", "--yes", "stripe.refund", "--charge", "ch_2"]) == 0
    assert refunded.exists()
    refunded.unlink()
    assert main(["run", "stripe.refund", "--charge", "ch_3"]) == 0     # no --yes, no terminal: cancelled
    assert not refunded.exists() and llm.message_requests == []
