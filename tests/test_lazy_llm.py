"""Lazy LLM import: a script answer never imports the orchestrator or the anthropic SDK, even with a key.

Run in a subprocess, because this test process has already imported both. The child runs `bot ask`
twice through the real CLI with ANTHROPIC_API_KEY set and ANTHROPIC_BASE_URL at the local fake: a
script question first (nothing of the LLM side imported), then a question that needs the model
(imported then, and answered by the fake over HTTP).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot.config import PROJECT_ROOT, Settings
from bot.pipeline import OpsBot
from bot.startup import create_bot
from tests.fakes.anthropic_server import FakeAnthropic

CHILD = """
import json, sys
from bot.cli import main

LLM_MODULES = ("anthropic", "bot.orchestrator", "bot.llm", "bot.tiers")
seen = {}
seen["script_rc"] = main(["ask", "how full are the disks"])
seen["after_script"] = [m for m in LLM_MODULES if m in sys.modules]
seen["llm_rc"] = main(["ask", "explain blue-green deploys in one sentence"])
seen["after_llm"] = [m for m in LLM_MODULES if m in sys.modules]
print("RESULT " + json.dumps(seen))
"""


def test_script_answer_imports_nothing_of_the_llm_until_a_request_needs_it(
        tmp_path: Path, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reply_text("Two environments; traffic switches at once.")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "SLACK_", "BOT_"))}
    env.update(BOT_HOME=str(tmp_path), BOT_CONFIG=str(tmp_path / "absent.yaml"),
               ANTHROPIC_API_KEY="sk-ant-test-lazy", ANTHROPIC_BASE_URL=fake_anthropic.base_url,
               PYTHONPATH=str(PROJECT_ROOT))
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    seen = json.loads(line.removeprefix("RESULT "))

    assert seen["script_rc"] == 0 and "ops.disk-usage" in done.stdout
    assert seen["after_script"] == [], f"imported for a script answer: {seen['after_script']}"
    assert seen["llm_rc"] == 0 and "traffic switches at once" in done.stdout
    assert {"anthropic", "bot.orchestrator"} <= set(seen["after_llm"])
    assert len(fake_anthropic.message_requests) == 1


def test_the_orchestrator_is_built_once_when_many_threads_need_it_at_the_same_time(
        tmp_path: Path, fake_anthropic: FakeAnthropic) -> None:
    settings = Settings(bot_home=tmp_path / ".bot", anthropic_api_key="test-key",
                        anthropic_base_url=fake_anthropic.base_url)
    bot = create_bot(settings, environ={})
    assert bot.llm_enabled and bot._orchestrator is None       # on, and not built by create_bot
    real_factory = bot.orchestrator_factory
    built = []

    def slow_factory(b: OpsBot):
        built.append(threading.get_ident())
        time.sleep(0.05)                                        # widen the window a second builder would use
        return real_factory(b)

    bot.orchestrator_factory = slow_factory
    start = threading.Barrier(8)
    seen: list[object] = []

    def need_it() -> None:
        start.wait()
        seen.append(bot.orchestrator)

    threads = [threading.Thread(target=need_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(built) == 1 and len(seen) == 8
    assert all(o is seen[0] for o in seen) and type(seen[0]).__name__ == "LLMOrchestrator"
