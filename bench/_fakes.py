"""Shared helpers for bench/context.py and bench/cost.py: the real bot, the real catalog and skills,
stub script executables (no credentials, no network), and the local fake Anthropic server.

Token counting is stated in every output: the API's counter when ANTHROPIC_API_KEY is set (context
only), otherwise the offline estimate the fake server also uses — ceil(compact JSON chars / 4) per
tool, system block and content block.
"""

from __future__ import annotations

import itertools
import math
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.entries import ScriptEntry  # noqa: E402
from bot.pipeline import OpsBot  # noqa: E402
from bot.prompts import ROLE  # noqa: E402
from bot.registry import Registry, load_registry  # noqa: E402
from bot.startup import create_bot  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic  # noqa: E402

CATALOG_TARGET = 61
OFFLINE_METHOD = "offline estimate: ceil(compact-JSON chars / 4) per tool, system block and message block"
PESSIMISTIC_CHARS_PER_TOKEN = 3.2

WORDS = ("the deploy on main failed after the migration so we rolled back and the error rate went down "
         "while checkout latency stayed high for customers in the eu region until the cache warmed up again "
         "and the on-call engineer opened an incident to track the follow-up work for next sprint").split()


def filler(tokens: int, seed: int = 0) -> str:
    """Plausible prose of about `tokens` tokens (4 chars each), deterministic."""
    out, size = [], 0
    for word in itertools.islice(itertools.cycle(WORDS[seed % len(WORDS):] + WORDS[: seed % len(WORDS)]), 100_000):
        out.append(word)
        size += len(word) + 1
        if size >= tokens * 4:
            break
    return " ".join(out).capitalize() + "."


def diff_text(lines: int) -> str:
    body = []
    for i in range(lines):
        body.append(f"+    total = sum(item.price * item.qty for item in cart.items if item.sku != 'gift-{i}')")
    return f"diff --git a/app/cart.py b/app/cart.py\n@@ -10,6 +10,{lines} @@ def total(cart):\n" + "\n".join(body)


def load_catalog(pad_to: int = CATALOG_TARGET) -> tuple[Registry, int]:
    """The real registry and skills; when fewer than `pad_to` scripts exist yet, synthetic entries that
    copy real summaries (and args) fill the gap, so the index is measured at full size. Returns padding."""
    registry = load_registry(ROOT / "registry", ROOT / "skills", ROOT / "scripts", check_paths=False)
    real = list(registry.scripts.values())
    pad = max(0, pad_to - len(real))
    for i in range(pad):
        model = real[i % len(real)]
        data = model.model_dump()
        data["name"] = f"pad{i // 26}.{model.name.split('.', 1)[1]}-{chr(97 + i % 26)}"
        data["patterns"] = []
        registry.scripts[data["name"]] = ScriptEntry.model_validate(data)
    return registry, pad


def naive_prompt(registry: Registry) -> tuple[str, list[dict[str, Any]]]:
    """Everything up front: every skill body in the system prompt and every script as its own tool with
    its full description and argument schema (tool names cannot contain dots)."""
    system = ROLE + "\n\n# Skills\n" + "\n\n".join(
        f"## Skill: {s.name} ({s.tier})\n{s.body()}" for s in registry.skills.values())
    tools = [{"name": e.name.replace(".", "__"),
              "description": f"{e.summary}. {e.description}".strip()
                             + (" Changes things: needs the user's confirmation." if e.is_write else ""),
              "input_schema": e.tool_schema()} for e in registry.scripts.values()]
    return system, tools


def count_pessimistic(system: Any, tools: list[dict[str, Any]]) -> int:
    import json

    chars = len(json.dumps(tools, separators=(",", ":"))) + len(json.dumps(system, separators=(",", ":")))
    return math.ceil(chars / PESSIMISTIC_CHARS_PER_TOKEN)


def stub_text(entry: ScriptEntry) -> str:
    """What a script's stub prints: a plausible answer of ~150 tokens, deterministic."""
    return textwrap.fill(f"{entry.summary}: " + filler(140, seed=len(entry.name)), 100)


def write_stub_scripts(registry: Registry, folder: Path) -> None:
    """One executable per script that prints its stub_text: no network, no secrets."""
    for entry in registry.scripts.values():
        path = folder / entry.name.replace(".", "/", 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\ncat <<'EOF'\n" + stub_text(entry) + "\nEOF\n")
        path.chmod(0o755)


class BenchBot:
    """The real OpsBot (real registry and skills, stub scripts) talking to a FakeAnthropic."""

    def __init__(self, fake: FakeAnthropic, **settings: Any):
        self.tmp = tempfile.TemporaryDirectory(prefix="opsbot-bench-")
        home = Path(self.tmp.name)
        registry = load_registry(ROOT / "registry", ROOT / "skills", ROOT / "scripts", check_paths=False)
        write_stub_scripts(registry, home / "scripts")
        values: dict[str, Any] = {
            "bot_home": home / ".bot", "bot_registry": ROOT / "registry", "bot_skills": ROOT / "skills",
            "bot_scripts": home / "scripts", "anthropic_api_key": "bench-key", "anthropic_base_url": fake.base_url,
            "bot_daily_budget_usd": "none", "bot_llm_max_retries": 0,
            "bot_user_rate_per_min": 1_000_000}     # one user sends the whole mix: no per-user LLM limit
        values.update(settings)
        self.bot: OpsBot = create_bot(Settings(**values), environ={})

    def close(self) -> None:
        self.bot.ledger.close()
        self.tmp.cleanup()


def percentile(values: list[float], q: float) -> float:
    """The q-quantile of `values` (linear interpolation), NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
