"""The script runner: no shell, env allowlist, process-group timeout, output cap, redaction, exit codes."""

from __future__ import annotations

import json
import os
import time

import pytest

from bot.ledger import Ledger
from bot.registry import load_registry
from bot.runner import Runner
from tests.foundation.helpers import ECHO_ARGS, write_registry, write_script


def make_runner(tmp_path, scripts: dict[str, str], entries: list[dict], environ=None, cap=64 * 1024):
    for name, body in scripts.items():
        write_script(tmp_path, name, body)
    write_registry(tmp_path, entries)
    registry = load_registry(tmp_path / "registry")
    assert registry.problems == []
    ledger = Ledger(tmp_path / "ledger.db")
    return Runner(registry, ledger, output_cap=cap, environ=environ or {"PATH": os.environ["PATH"]}), registry, ledger


def test_arguments_are_passed_literally_never_through_a_shell(tmp_path):
    runner, registry, _ = make_runner(tmp_path, {"demo.echo": ECHO_ARGS}, [
        {"name": "demo.echo", "summary": "echo args", "args": [{"name": "text"}, {"name": "other"}]}])
    entry = registry.scripts["demo.echo"]
    nasty = "a b 'quoted' \"dq\"; rm -rf / $(touch pwned) `id` | cat > x"
    args = entry.validate_args({"text": nasty, "other": "--json"})
    result = runner.run(entry, args)
    assert result.ok, result.stderr
    assert json.loads(result.stdout)["argv"] == [f"--text={nasty}", "--other=--json"]
    assert not (tmp_path / "scripts" / "pwned").exists()


def test_only_declared_env_reaches_the_script(tmp_path):
    environ = {"PATH": os.environ["PATH"], "DEMO_TOKEN": "declared-secret-value", "DEMO_REGION": "eu",
               "OTHER_TOKEN": "not-for-you-1234", "DEMO_API_URL": "http://127.0.0.1:9", "HOME": "/tmp"}
    runner, registry, _ = make_runner(tmp_path, {"demo.echo": ECHO_ARGS}, [
        {"name": "demo.echo", "summary": "echo env", "env": ["DEMO_TOKEN"], "env_optional": ["DEMO_REGION"]}],
        environ=environ)
    result = runner.run(registry.scripts["demo.echo"], {})
    seen = json.loads(result.stdout)["env"]
    assert "OTHER_TOKEN" not in seen
    assert {"DEMO_TOKEN", "DEMO_REGION", "DEMO_API_URL", "PATH", "HOME", "LANG"} <= set(seen)
    assert set(seen) - {"DEMO_TOKEN", "DEMO_REGION", "DEMO_API_URL", "PATH", "HOME", "LANG", "PWD", "LC_CTYPE",
                        "_"} == set()


def test_timeout_kills_the_whole_process_tree(tmp_path):
    pidfile = tmp_path / "child.pid"
    body = f"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
open({str(pidfile)!r}, "w").write(str(child.pid))
print("started", flush=True)
time.sleep(60)
"""
    runner, registry, ledger = make_runner(tmp_path, {"demo.hang": body}, [
        {"name": "demo.hang", "summary": "hangs", "timeout_s": 0.5}])
    started = time.monotonic()
    result = runner.run(registry.scripts["demo.hang"], {})
    assert time.monotonic() - started < 6
    assert result.status == "timeout"
    assert "took longer than 0.5s" in result.message()
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.05)
    assert not _alive(child), "grandchild that ignored SIGTERM survived"
    row = next(ledger.db["script_runs"].rows)
    assert row["status"] == "timeout" and row["script"] == "demo.hang"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_output_is_capped_and_marked(tmp_path):
    runner, registry, ledger = make_runner(tmp_path, {"demo.flood": "import sys\nsys.stdout.write('x' * 500000)\n"},
                                           [{"name": "demo.flood", "summary": "floods"}], cap=4096)
    result = runner.run(registry.scripts["demo.flood"], {})
    assert result.ok and result.truncated
    assert result.stdout.startswith("x" * 4096)
    assert result.stdout.endswith("[output truncated at 4096 bytes]")
    assert result.output_bytes == 500000
    row = next(ledger.db["script_runs"].rows)
    assert row["truncated"] == 1 and row["output_bytes"] == 500000


@pytest.mark.parametrize("token", [
    "xoxb-1234567890-abcdefghijkl", "sk_live_51HabcdefGHIJKL", "ghp_" + "a" * 36, "sk-ant-api03-abcdefghijkl",
    "xapp-1-A0123-456-abcdef0123"])
def test_token_shaped_strings_are_redacted(tmp_path, token):
    body = f"import sys\nprint('token is {token} ok')\nprint('{token}', file=sys.stderr)\nsys.exit(4)\n"
    runner, registry, ledger = make_runner(tmp_path, {"demo.leak": body},
                                           [{"name": "demo.leak", "summary": "leaks", "args": [{"name": "t"}]}])
    result = runner.run(registry.scripts["demo.leak"], {"t": token})
    assert token not in result.stdout + result.stderr + result.message()
    assert "[REDACTED]" in result.stdout
    rows = json.dumps(list(ledger.db["script_runs"].rows))
    assert token not in rows


def test_declared_secret_values_are_redacted(tmp_path):
    environ = {"PATH": os.environ["PATH"], "DEMO_PASSWORD_PLAIN": "hunter2-but-longer", "DEMO_KEY": "plainvalue99"}
    body = "import os\nprint(os.environ['DEMO_KEY'], os.environ.get('DEMO_PASSWORD_PLAIN'))\n"
    runner, registry, _ = make_runner(tmp_path, {"demo.env": body},
                                      [{"name": "demo.env", "summary": "prints env", "env": ["DEMO_KEY"]}],
                                      environ=environ)
    result = runner.run(registry.scripts["demo.env"], {})
    assert "plainvalue99" not in result.stdout
    assert "[REDACTED] None" in result.stdout


@pytest.mark.parametrize(("code", "status", "phrase"), [
    (2, "usage", "usage: `demo.fail"),
    (3, "config", "is not configured: missing credentials: set DEMO_TOKEN"),
    (4, "upstream_error", "Demo API error in `demo.fail`"),
    (5, "upstream_timeout", "did not answer"),
    (7, "error", "failed (exit 7)"),
])
def test_exit_codes_become_clear_messages(tmp_path, code, status, phrase):
    message = {3: "missing credentials: set DEMO_TOKEN", 5: "demo GET /x: did not answer within 3s"}.get(
        code, "demo GET /v1/things: HTTP 500: boom")
    body = f"import sys\nprint('demo.fail: {message}', file=sys.stderr)\nsys.exit({code})\n"
    runner, registry, _ = make_runner(tmp_path, {"demo.fail": body}, [{"name": "demo.fail", "summary": "fails"}])
    entry = registry.scripts["demo.fail"]
    result = runner.run(entry, {})
    assert result.status == status
    assert phrase in result.message(entry)
