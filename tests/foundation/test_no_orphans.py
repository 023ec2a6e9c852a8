"""No process outlives its run: background children, double forks, setsid, kills, timeouts, the bot's death."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot import reaper
from bot.ledger import Ledger
from bot.registry import load_registry
from bot.runner import Runner
from tests.foundation.helpers import write_registry

pytestmark = pytest.mark.skipif(not reaper.available(), reason="needs Linux /proc and prctl")

PROJECT = Path(__file__).resolve().parents[2]


def _bash(root: Path, name: str, body: str) -> None:
    service, action = name.split(".", 1)
    path = root / "scripts" / service / action
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


def leftovers(token: str) -> list[int]:
    """Live (not zombie) processes whose command line carries `token`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in cmdline and state not in ("Z", "X"):
            found.append(int(name))
    return found


def wait_gone(token: str, within: float = 3.0) -> list[int]:
    deadline = time.monotonic() + within
    while (left := leftovers(token)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


@pytest.fixture
def token():
    # A unique sleep length names this test's processes in /proc; whatever is left is killed at the end.
    value = f"{3000 + secrets.randbelow(5000)}.{secrets.randbelow(10**6):06d}"
    yield value
    for pid in leftovers(value):
        os.kill(pid, signal.SIGKILL)


SHAPES = {
    # a background child, then exit 0
    "demo.background": "sleep {t} &\necho started\n",
    # a background child, then an error exit
    "demo.error": "sleep {t} &\necho boom >&2\nexit 4\n",
    # a child in a session of its own (leaves the process group)
    "demo.setsid": "setsid sleep {t} &\necho started\n",
    # the classic daemon: fork, setsid, fork again; the intermediate exits at once
    "demo.daemon": "python3 -c 'import os,time\nif os.fork()==0:\n os.setsid()\n if os.fork()==0:\n  os.execvp(\"sleep\",[\"sleep\",\"{t}\"])\n os._exit(0)\n' \necho started\n",
    # the script killed mid-run, its child still running
    "demo.killed": "sleep {t} &\nkill -9 $$\n",
    # a child that ignores SIGTERM, and a script that overstays its timeout
    "demo.hang": "bash -c 'trap \"\" TERM; sleep {t}' &\nsetsid sleep {t} &\nsleep {t}\n",
}


def make(tmp_path: Path, token: str, timeout_s: float = 0.4):
    for name, body in SHAPES.items():
        _bash(tmp_path, name, body.format(t=token))
    write_registry(tmp_path, [{"name": name, "summary": name, "side_effects": "read",
                               **({"timeout_s": timeout_s} if name == "demo.hang" else {})} for name in SHAPES])
    registry = load_registry(tmp_path / "registry")
    assert registry.problems == []
    runner = Runner(registry, Ledger(tmp_path / "ledger.db"), environ={"PATH": os.environ["PATH"]})
    return runner, registry


@pytest.mark.parametrize(("script", "status"), [
    ("demo.background", "ok"), ("demo.error", "upstream_error"), ("demo.setsid", "ok"), ("demo.daemon", "ok"),
    ("demo.killed", "error")])
def test_nothing_outlives_the_run(tmp_path, token, script, status):
    runner, registry = make(tmp_path, token)
    started = time.monotonic()
    result = runner.run(registry.scripts[script], {})
    assert result.status == status, result.stderr
    assert time.monotonic() - started < 2, "the run waited on a leftover child's pipe"
    assert leftovers(token) == [], f"{script} left processes behind"
    if script == "demo.killed":
        assert result.exit_code == -signal.SIGKILL      # the script's own death is reported as before


def test_timeout_clears_children_that_ignore_sigterm_or_left_the_group(tmp_path, token):
    runner, registry = make(tmp_path, token)
    result = runner.run(registry.scripts["demo.hang"], {})
    assert result.status == "timeout"
    assert leftovers(token) == []


def test_twenty_runs_with_background_children_timeouts_and_kills_leave_nothing(tmp_path, token):
    runner, registry = make(tmp_path, token, timeout_s=0.3)
    names = ["demo.background", "demo.error", "demo.setsid", "demo.daemon", "demo.killed"] * 4
    names[::5] = ["demo.hang"] * 4                       # four timeouts among them
    results: list = []
    threads = [threading.Thread(target=lambda n=n: results.append(runner.run(registry.scripts[n], {})))
               for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 20
    assert sorted(r.status for r in results).count("timeout") == 4
    assert leftovers(token) == []
    zombies = [pid for pid in reaper.descendants(os.getpid())
               if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"]
    assert zombies == []


def _bot_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "skills").mkdir(exist_ok=True)
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "BOT_HOME": str(tmp_path / "home"),
            "BOT_REGISTRY": str(tmp_path / "registry"), "BOT_SCRIPTS": str(tmp_path / "scripts"),
            "BOT_SKILLS": str(tmp_path / "skills"), "BOT_CONFIG": str(tmp_path / "none.yaml")}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_when_the_bot_dies_its_runs_die_too(tmp_path, token, sig):
    _bash(tmp_path, "demo.long", f"sleep {token} &\nsetsid sleep {token} &\necho started\nsleep {token}\n")
    write_registry(tmp_path, [{"name": "demo.long", "summary": "long", "side_effects": "read", "timeout_s": 60}])
    bot = subprocess.Popen([sys.executable, "-m", "bot", "run", "demo.long"], cwd=PROJECT, env=_bot_env(tmp_path),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while len(leftovers(token)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(leftovers(token)) == 3
        bot.send_signal(sig)
        bot.wait(10)
        assert wait_gone(token) == []
    finally:
        bot.kill()
        bot.wait()
