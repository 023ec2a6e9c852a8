"""Start-up benchmark: how long `bot ask "<a script question>"` takes, end to end, as a fresh process.

The pre-router answers the question with a local script (ops.disk-usage: no network), so no model is
needed. Arms (several runs each, interleaved, in a throw-away BOT_HOME):
- without ANTHROPIC_API_KEY
- with ANTHROPIC_API_KEY set (ANTHROPIC_BASE_URL at a closed local port: a model call would fail loudly)
- "eager": as with the key, but importing the orchestrator up front, as the bot did before the lazy import
Prints the medians and the with/without ratio against the target (≤ 1.25×). Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "how full are the disks"
TARGET = 1.25
EAGER = f"import sys; import bot.orchestrator; from bot.cli import main; sys.exit(main(['ask', {QUESTION!r}]))"


def _env(home: str, key: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "SLACK_", "BOT_"))}
    env["BOT_HOME"] = home
    env["BOT_CONFIG"] = os.path.join(home, "absent.yaml")
    if key:
        env["ANTHROPIC_API_KEY"] = "sk-ant-bench-not-a-real-key"
        env["ANTHROPIC_BASE_URL"] = "http://127.0.0.1:9"
    return env


def _time(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "ops.disk-usage" not in done.stdout:
        sys.exit(f"bench/startup.py: `bot ask` did not answer with the script (exit {done.returncode}): "
                 f"{(done.stderr or done.stdout).strip()[-300:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    bot = str(Path(sys.executable).with_name("bot"))
    arms = {
        "without ANTHROPIC_API_KEY": ([bot, "ask", QUESTION], False),
        "with ANTHROPIC_API_KEY": ([bot, "ask", QUESTION], True),
        "eager orchestrator import (before)": ([sys.executable, "-c", EAGER], True),
    }
    times: dict[str, list[float]] = {name: [] for name in arms}
    with tempfile.TemporaryDirectory(prefix="opsbot-bench-startup-") as home:
        for argv, key in arms.values():   # warm the file cache and the ledger's schema once
            _time(argv, _env(home, key))
        for _ in range(runs):
            for name, (argv, key) in arms.items():
                times[name].append(_time(argv, _env(home, key)))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"bot ask {QUESTION!r} (script tier, {runs} runs each, median / min / max):")
    for name, values in times.items():
        print(f"  {name:<38} {medians[name]:6.3f} s  {min(values):6.3f} s  {max(values):6.3f} s")
    base = medians["without ANTHROPIC_API_KEY"]
    ratio = medians["with ANTHROPIC_API_KEY"] / base
    verdict = "within" if ratio <= TARGET else "OVER"
    print(f"  with key / without key: {ratio:.2f}× ({verdict} the target of ≤ {TARGET}×)")
    print(f"  eager import / without key: {medians['eager orchestrator import (before)'] / base:.2f}×")


if __name__ == "__main__":
    main()
