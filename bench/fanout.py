"""fan_out vs the mid model in sequence: 8 subtasks, cost and wall time.

Both arms do the same 8 subtasks (summarise one channel's messages into a JSON object: summary +
action items) with the same prompt, the same structured-output schema and the same answer sizes,
through the real `anthropic` SDK and our LLM class (retries, redaction, ledger, pricing table)
against the local fake Messages API, which answers at a fixed rate per output token
(`seconds_per_output_token`, the same for every model):

- fan_out: the cheap tier as the orchestrator runs it (bot/tiers/cheap.py) — all 8 subtasks at once on
  BOT_MODEL_CHEAP at low effort, each through the JSON-schema gate;
- sequence: the mid model (BOT_MODEL_MID) doing the 8 subtasks one after another, as the orchestrator
  would without fan_out (the most favourable case for it: no growing conversation).

Cost is each arm's ledger rows priced by bot/pricing.py; wall time is measured around each arm. The
orchestrator's own turns (deciding, writing the final answer) are the same in both and left out.
Targets: fan_out ≤ 0.3 × the sequence on both cost and wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anthropic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._fakes import OFFLINE_METHOD, filler  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.ledger import Ledger  # noqa: E402
from bot.llm import LLM, RetryPolicy  # noqa: E402
from bot.pricing import PriceTable  # noqa: E402
from bot.prompts import quote  # noqa: E402
from bot.tiers.cheap import CHEAP_EFFORT, CHEAP_MAX_TOKENS, CHEAP_ROLE, FanOut, SchemaGate, Task  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic, Reply  # noqa: E402
from tests.fakes.schemas import ACTION_ITEMS_SCHEMA as SCHEMA  # noqa: E402

TARGET = 0.3


def answer(tokens: int, seed: int) -> str:
    """A schema-valid answer of about `tokens` output tokens (the fake counts 4 characters a token)."""
    items = [{"owner": f"<@U{seed}{i}>", "task": filler(12, seed=seed + i)} for i in range(3)]
    head = json.dumps({"summary": "", "action_items": items})
    return json.dumps({"summary": filler(max(10, tokens - len(head) // 4), seed=seed), "action_items": items})


def arm(fake: FakeAnthropic, run) -> tuple[float, float, int]:
    """(wall seconds, USD, output tokens) of one arm, from its own ledger."""
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp) / "fanout.db")
        llm = LLM(client=anthropic.Anthropic(api_key="bench", base_url=fake.base_url, max_retries=0, timeout=60),
                  pricing=PriceTable(), ledger=ledger, retry=RetryPolicy(max_retries=0))
        started = time.perf_counter()
        run(llm)
        wall = time.perf_counter() - started
        rows = list(ledger.db["llm_calls"].rows)
        ledger.close()
    assert rows and not any(r["error"] for r in rows), [r["error"] for r in rows if r["error"]]
    return wall, sum(r["cost_usd"] for r in rows), sum(r["output_tokens"] for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--input-tokens", type=int, default=1500, help="each subtask's input (channel messages)")
    parser.add_argument("--output-tokens", type=int, default=300, help="each subtask's JSON answer")
    parser.add_argument("--ms-per-token", type=float, default=2.0, help="the fake's generation rate")
    opts = parser.parse_args()

    settings = Settings(_env_file=None)
    cheap, mid = settings.bot_model_cheap, settings.bot_model_mid
    tasks = [Task(i, f"Summarise channel #team-{i}: decisions and action items with owners",
                  filler(opts.input_tokens, seed=i)) for i in range(1, opts.tasks + 1)]
    gate = SchemaGate(SCHEMA)
    by_task = {t.index: answer(opts.output_tokens, t.index) for t in tasks}

    def responder(body: dict[str, Any]) -> Reply:
        index = int(json.dumps(body["messages"][0]["content"]).split("Subtask ", 1)[1].split(" ", 1)[0])
        return Reply.text(by_task[index])

    def fan_out(llm: LLM) -> None:
        results = FanOut(llm, cheap_model=cheap, mid_model=mid).run(tasks, gate, request_id="fan-out")
        assert all(r.status == "ok" and r.model == cheap for r in results), [r.error for r in results]

    def sequence(llm: LLM) -> None:
        for task in tasks:   # what the mid model would do without fan_out: one subtask after another
            response = llm.create(
                model=mid, purpose="sequence", request_id="sequence", system=CHEAP_ROLE, max_tokens=CHEAP_MAX_TOKENS,
                messages=[{"role": "user", "content": f"Subtask {task.index} of {len(tasks)}: {task.brief}\n\n"
                                                      + quote("input", task.text)}],
                effort=CHEAP_EFFORT, output_format={"type": "json_schema", "schema": gate.sent})
            assert gate.problem(response)[1] is None

    with FakeAnthropic(seconds_per_output_token=opts.ms_per_token / 1000) as fake:
        fake.set_responder(responder)
        fan_wall, fan_cost, fan_out_tokens = arm(fake, fan_out)
        parallel = fake.max_in_flight
        fake.reset()
        fake.set_responder(responder)
        seq_wall, seq_cost, seq_out_tokens = arm(fake, sequence)

    cost_ratio, wall_ratio = fan_cost / seq_cost, fan_wall / seq_wall
    print(f"{opts.tasks} subtasks · ~{opts.input_tokens:,} input and ~{opts.output_tokens} output tokens each · "
          f"fake answers at {opts.ms_per_token:g} ms per output token · token counting: {OFFLINE_METHOD}")
    print(f"prices: bot/pricing.py — {PriceTable().source}")
    print()
    print(f"{'arm':<44}{'wall s':>8}{'cost $':>11}{'out tokens':>12}")
    print(f"{'fan_out on ' + cheap + f' (up to {parallel} in flight)':<44}{fan_wall:>8.2f}{fan_cost:>11.5f}"
          f"{fan_out_tokens:>12,}")
    print(f"{mid + ' in sequence':<44}{seq_wall:>8.2f}{seq_cost:>11.5f}{seq_out_tokens:>12,}")
    print()
    for label, ratio in (("cost ratio (fan_out / sequence)", cost_ratio), ("wall-time ratio", wall_ratio)):
        print(f"  {label:<34}{ratio:>6.2f}   target ≤ {TARGET}  {'OK' if ratio <= TARGET else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
