"""One line, never a traceback, for every bad setting, file and environment fault; exit 2 for
configuration; the request still gets a reply when one can be sent."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import PROJECT_ROOT, load_settings
from bot.pipeline import OpsBot
from bot.request import Incoming
from tests.foundation.helpers import write_registry

ECHO = "#!/bin/sh\necho \"got $*\"\n"


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("BOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BOT_CONFIG", str(tmp_path / "none.yaml"))
    for var in ("ANTHROPIC_API_KEY", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "BOT_PRICING_FILE"):
        monkeypatch.delenv(var, raising=False)


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


# -- BOT_HOME ---------------------------------------------------------------------------------------


def test_bot_home_that_is_a_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("BOT_HOME", str(tmp_path / "afile"))
    assert main(["run", "ops.system-load"]) == 2
    assert one_line(capsys) == f"bot: BOT_HOME {tmp_path / 'afile'} is a file, not a directory; set BOT_HOME to a " \
                                "writable directory"


def test_bot_home_whose_parent_cannot_be_created(monkeypatch, capsys):
    monkeypatch.setenv("BOT_HOME", "/proc/no-such-dir/home")
    assert main(["ask", "how full is the disk?"]) == 2
    assert one_line(capsys).startswith("bot: BOT_HOME /proc/no-such-dir/home (/proc/no-such-dir) cannot be created")


def _without_privilege() -> list[str]:
    """Run as someone file permissions apply to: as root, without the capabilities that bypass them."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def _bot(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": str(home.parent), "BOT_HOME": str(home),
           "BOT_CONFIG": str(home.parent / "none.yaml")}
    return subprocess.run([*_without_privilege(), sys.executable, "-m", "bot", *args], cwd=PROJECT_ROOT, env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("variant", ["read-only dir", "read-only ledger", "unwritable parent"])
def test_bot_home_not_writable(tmp_path, variant):
    home = tmp_path / "home"
    if variant == "read-only ledger":
        assert _bot(["run", "ops.system-load"], home).returncode == 0     # a ledger, then made read-only
        for path in home.glob("ledger.db*"):
            path.chmod(0o444)
    else:
        home.mkdir()
        if variant == "unwritable parent":
            home = home / "sub" / "bot"
        os.chmod(tmp_path / "home", 0o555)
    try:
        proc = _bot(["run", "ops.system-load"], home)
    finally:
        os.chmod(tmp_path / "home", 0o755)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"bot: BOT_HOME {home}")


# -- files that settings name ----------------------------------------------------------------------


@pytest.mark.parametrize(("content", "expected"), [
    (None, "No such file or directory"),
    (b"models: [unclosed", "BOT_PRICING_FILE"),
    (b"\xff\xfe models: {}", "can't decode byte 0xff"),
    (b"models: 3", "expected `models:` mapping"),
])
def test_pricing_file_missing_or_invalid(tmp_path, monkeypatch, capsys, content, expected):
    path = tmp_path / "pricing.yaml"
    if content is not None:
        path.write_bytes(content)
    monkeypatch.setenv("BOT_PRICING_FILE", str(path))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key-1234567890")
    assert main(["ask", "why is the sky blue"]) == 2
    line = one_line(capsys)
    assert line.startswith(f"bot: BOT_PRICING_FILE {path}") and expected in line
    monkeypatch.delenv("ANTHROPIC_API_KEY")                # a bad setting is one without a key too
    assert main(["ask", "how full are the disks"]) == 2
    assert one_line(capsys).startswith(f"bot: BOT_PRICING_FILE {path}")


def test_a_registry_file_that_is_not_utf8_is_a_problem_not_a_crash(tmp_path, monkeypatch, capsys):
    shutil.copytree(PROJECT_ROOT / "registry", tmp_path / "registry")
    (tmp_path / "registry" / "broken.yaml").write_bytes(b"scripts:\n  - name: caf\xe9.x\n")
    monkeypatch.setenv("BOT_REGISTRY", str(tmp_path / "registry"))
    assert main(["route", "how full is the disk?"]) == 0                    # other commands keep working
    assert "ops.disk-usage" in capsys.readouterr().out
    assert main(["registry", "check"]) == 1
    err = capsys.readouterr().err
    assert "registry/broken.yaml" in err and "not UTF-8 text" in err and "Traceback" not in err


# -- the ledger: disk full, locked -----------------------------------------------------------------


@pytest.fixture
def opsbot(tmp_path) -> OpsBot:
    (tmp_path / "scripts" / "demo").mkdir(parents=True)
    (tmp_path / "scripts" / "demo" / "echo").write_text(ECHO)
    (tmp_path / "scripts" / "demo" / "echo").chmod(0o755)
    write_registry(tmp_path, [{"name": "demo.echo", "summary": "echo", "side_effects": "read",
                               "args": [{"name": "text"}]}])
    settings = load_settings(bot_home=tmp_path / "home", bot_registry=tmp_path / "registry",
                             bot_scripts=tmp_path / "scripts", bot_skills=tmp_path / "skills")
    return OpsBot(settings, environ={"PATH": os.environ["PATH"]})


def test_disk_full_still_answers(opsbot, caplog):
    db = opsbot.ledger.db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")                         # SQLite's own "disk is full"
    replies = [opsbot.handle(Incoming(f"run demo.echo --text {'x' * 3000}{i}", user="U1", source="cli"))
               for i in range(30)]
    full = [r for r in replies if r.outcome == "error"]
    assert full, "the ledger never filled up"
    assert "my disk is full" in full[-1].text
    assert "Traceback" not in caplog.text and "disk holding the ledger" in caplog.text


def test_ledger_locked_past_the_busy_timeout_still_answers(opsbot, caplog):
    opsbot.ledger.db.execute("PRAGMA busy_timeout = 50")                  # the wait, shortened for the test
    other = sqlite3.connect(opsbot.ledger.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        reply = opsbot.handle(Incoming("run demo.echo --text hi", user="U1", source="slack"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert reply.outcome == "error" and "my ledger is busy; try again in a moment" in reply.text
    assert "Traceback" not in caplog.text and "is locked by another process" in caplog.text


# -- NUL bytes -------------------------------------------------------------------------------------


def test_nul_byte_in_an_argument_is_a_usage_error(opsbot, caplog):
    reply = opsbot.handle(Incoming("run demo.echo --text 'a\x00b'", user="U1", source="slack"))
    assert reply.outcome == "refused" and "NUL byte" in reply.text
    assert "Traceback" not in caplog.text
    run = next(opsbot.ledger.db["script_runs"].rows)
    assert run["status"] == "usage"


def test_nul_byte_in_the_console(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bot"], input="run ops.dns-lookup --name 'a\x00b'\nquit\n",  # noqa: S603
                          text=True, capture_output=True, timeout=60, cwd=PROJECT_ROOT,
                          env={"PATH": os.environ["PATH"], "BOT_HOME": str(tmp_path / "h"), "HOME": str(tmp_path)})
    assert proc.returncode == 0
    assert "NUL byte" in proc.stdout and "Traceback" not in proc.stderr


def test_nul_byte_from_the_model_run_script_tool(tmp_path, fake_anthropic, caplog):
    from tests.test_orchestrator import ask, make_bot, write_home

    bot = make_bot(write_home(tmp_path), fake_anthropic)
    fake_anthropic.reply_tool_use("run_script", {"name": "demo.prs", "args": {"repo": "org/a\x00pp"},
                                                 "reason": "PRs"})
    fake_anthropic.reply_text("That repository name is not valid.")
    reply = ask(bot, "anything worth reviewing in org/app today? which PR first?")
    assert reply.text == "That repository name is not valid."
    result = fake_anthropic.message_requests[1].messages[-1]["content"][0]
    assert result["is_error"] and "NUL byte" in str(result["content"])
    assert "Traceback" not in caplog.text


def test_console_output_has_no_terminal_escapes(tmp_path):
    """A script's colours and cursor moves never reach the terminal; mrkdwn entities show as text."""
    script = tmp_path / "scripts" / "demo" / "color"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\nprintf '\\033[31mred\\033[0m \\033[2J<b> & done\\n'\n")
    script.chmod(0o755)
    write_registry(tmp_path, [{"name": "demo.color", "summary": "colours", "side_effects": "read"}])
    (tmp_path / "skills").mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "BOT_HOME": str(tmp_path / "h"),
           "BOT_REGISTRY": str(tmp_path / "registry"), "BOT_SCRIPTS": str(tmp_path / "scripts"),
           "BOT_SKILLS": str(tmp_path / "skills"), "BOT_CONFIG": str(tmp_path / "none.yaml")}
    proc = subprocess.run([sys.executable, "-m", "bot", "run", "demo.color"], cwd=PROJECT_ROOT, env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr
    assert "red <b> & done" in proc.stdout
