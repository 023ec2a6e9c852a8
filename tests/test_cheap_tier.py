"""The cheap specialist tier end to end: OpsBot → orchestrator → fan_out → real anthropic SDK → fake API.

Concurrency is proved at the fake, not by timing: the cheap model's answers wait on a barrier that only
opens when every subtask's request is in flight at once (a sequential fan_out breaks it), and the
fake's own count of requests in flight is checked.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from bot import tier_events
from bot.stats import compute_stats, parse_since
from tests.fakes.anthropic_server import FakeAnthropic, Reply
from tests.fakes.schemas import ACTION_ITEMS_SCHEMA as SCHEMA
from tests.test_orchestrator import MID, ask, decision, make_bot, tool_results, write_home

CHEAP = "claude-haiku-5-5"
REJECTED_PARAMS = ("temperature", "top_p", "top_k")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return write_home(tmp_path)


def valid(n: int) -> str:
    return json.dumps({"summary": f"channel {n} shipped", "action_items": [{"owner": f"U{n}", "task": "deploy"}]})


def task_number(body: dict[str, Any]) -> int:
    return int(re.search(r"Subtask (\d+) of", json.dumps(body["messages"][0]["content"])).group(1))


class Scripted:
    """Responder: the orchestrator's turns in order (mid model), cheap answers by a function of the request."""

    def __init__(self, fake: FakeAnthropic, mid: list[Any], cheap):
        self.mid = list(mid)
        self.cheap = cheap
        self.lock = threading.Lock()
        fake.set_responder(self)

    def __call__(self, body: dict[str, Any]) -> Any:
        if body["model"] == CHEAP:
            return self.cheap(body)
        if "output_config" in body and "format" in body["output_config"]:   # an escalated subtask
            return Reply.text(valid(100 + task_number(body)))
        with self.lock:
            return self.mid.pop(0)


def fan_out_call(tasks: list[dict[str, Any]], schema: dict[str, Any] = SCHEMA) -> Reply:
    return Reply.tool_use("fan_out", {"tasks": tasks, "output_schema": schema, "reason": "one per channel"})


def channels(n: int) -> list[dict[str, Any]]:
    return [{"brief": f"Summarise channel #{i}: decisions and action items", "input": f"messages of #{i}"}
            for i in range(1, n + 1)]


def test_fan_out_runs_its_subtasks_in_parallel_on_the_cheap_model(home: Path, fake_anthropic: FakeAnthropic
                                                                  ) -> None:
    bot = make_bot(home, fake_anthropic)
    barrier = threading.Barrier(4, timeout=5)   # opens only when all four subtasks are in flight together

    def cheap(body: dict[str, Any]) -> Reply:
        barrier.wait()
        return Reply.text(valid(task_number(body)))

    Scripted(fake_anthropic, [fan_out_call(channels(4)), Reply.text("All four channels shipped.")], cheap)
    reply = ask(bot, "summarise #1 #2 #3 #4 for me")

    assert fake_anthropic.errors == []           # no responder broke: the barrier saw 4 at once
    assert fake_anthropic.max_in_flight >= 4
    assert reply.outcome == "ok" and reply.text == "All four channels shipped."
    assert reply.tier == "cheap" and reply.models == [MID, CHEAP]
    row = decision(bot, reply.request_id)
    assert row["tier"] == "cheap" and row["decided_by"] == "orchestrator" and row["reason"] == "one per channel"

    cheap_calls = [r for r in fake_anthropic.message_requests if r.model == CHEAP]
    assert sorted(task_number(r.body) for r in cheap_calls) == [1, 2, 3, 4]
    for sent in cheap_calls:
        config = sent.body["output_config"]
        assert config["effort"] == "low"
        assert config["format"]["type"] == "json_schema"
        assert config["format"]["schema"]["additionalProperties"] is False     # the API's subset
        assert not any(p in sent.body for p in REJECTED_PARAMS)
        assert "tool_choice" not in sent.body and "thinking" not in sent.body
        assert sent.messages[-1]["role"] == "user"                             # no prefill
    results = json.loads(tool_results(fake_anthropic.message_requests[-1])[0]["content"]
                         .split("<fan_out>\n", 1)[1].rsplit("\n</fan_out>", 1)[0])["results"]
    assert [r["output"]["action_items"][0]["owner"] for r in results] == ["U1", "U2", "U3", "U4"]
    events = tier_events.events_for(bot.ledger, reply.request_id)
    assert [e["outcome"] for e in events] == ["ok"] * 4 and {e["model"] for e in events} == {CHEAP}
    purposes = [c["purpose"] for c in bot.ledger.llm_calls_for(reply.request_id)]
    assert purposes.count("fan_out") == 4 and "fan_out:escalate" not in purposes


def test_a_subtask_that_fails_its_schema_twice_is_escalated_to_the_mid_model(home: Path,
                                                                               fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic)

    def cheap(body: dict[str, Any]) -> Reply:
        if task_number(body) == 2:    # schema-valid for the decoder, but empty: minLength is the gate's job
            return Reply.text(json.dumps({"summary": "", "action_items": []}))
        return Reply.text(valid(task_number(body)))

    Scripted(fake_anthropic, [fan_out_call(channels(3)), Reply.text("Done.")], cheap)
    reply = ask(bot, "summarise #1 #2 #3")

    assert reply.outcome == "ok" and reply.tier == "cheap" and reply.models == [MID, CHEAP]
    calls = bot.ledger.llm_calls_for(reply.request_id)
    assert [(c["purpose"], c["model"]) for c in calls if c["purpose"].startswith("fan_out")].count(
        ("fan_out:escalate", MID)) == 1
    assert sum(c["purpose"] == "fan_out:retry" for c in calls) == 1
    retry = next(r for r in fake_anthropic.message_requests
                 if r.model == CHEAP and len(r.messages) == 3)
    assert retry.messages[1]["role"] == "assistant" and "failed validation: summary:" in \
        retry.messages[2]["content"]
    escalated = next(r for r in fake_anthropic.message_requests if r.model == MID and "output_config" in r.body
                     and "format" in r.body["output_config"])
    assert escalated.body["output_config"]["effort"] == "medium" and task_number(escalated.body) == 2

    events = tier_events.events_for(bot.ledger, reply.request_id)
    assert [e["outcome"] for e in events] == ["ok", "escalated", "ok"]
    assert events[1]["model"] == MID and "summary" in events[1]["detail"]
    content = tool_results(fake_anthropic.message_requests[-1])[0]["content"]
    assert '"via": "escalated"' in content and "channel 102 shipped" in content

    stats = compute_stats(bot.ledger, parse_since("1h"))
    assert stats["by_tier"]["cheap"]["requests"] == 1
    assert stats["cheap"] == {"subtasks": 3, "ok": 2, "retried": 0, "escalated": 1, "failed": 0,
                              "escalation_rate": round(1 / 3, 4)}
    assert stats["escalation_rate"] == round(1 / 3, 4)


def test_a_retry_with_the_error_fixes_invalid_json(home: Path, fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic)
    seen: list[int] = []

    def cheap(body: dict[str, Any]) -> Reply:
        seen.append(len(body["messages"]))
        return Reply.text('{"summary": "cut') if len(body["messages"]) == 1 else Reply.text(valid(1))

    Scripted(fake_anthropic, [fan_out_call(channels(1)), Reply.text("ok")], cheap)
    reply = ask(bot, "summarise #1")
    assert seen == [1, 3]
    assert [e["outcome"] for e in tier_events.events_for(bot.ledger, reply.request_id)] == ["retried"]
    assert "not valid JSON" in fake_anthropic.message_requests[2].messages[2]["content"]


def test_bad_fan_out_calls_are_answered_with_one_clear_line_and_run_nothing(home: Path,
                                                                           fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic)
    Scripted(fake_anthropic, [fan_out_call(channels(9)), fan_out_call(channels(2), {"type": "array"}),
                              fan_out_call([{"brief": "x", "input": {"script": "stripe.refund",
                                                                     "args": {"charge": "ch_1"}}}]),
                              Reply.text("I'll do it myself.")], lambda body: Reply.text(valid(0)))
    reply = ask(bot, "summarise lots of channels")
    errors = [tool_results(r)[0]["content"] for r in fake_anthropic.message_requests[1:4]]
    assert errors[0].startswith("fan_out: at most 8 tasks per fan_out (got 9)")
    assert errors[1].startswith('fan_out: output_schema must be a JSON schema object with "type": "object"')
    assert "fan_out runs read scripts only" in errors[2]
    assert all(e.endswith("Nothing was run.") for e in errors)
    assert not any(r.model == CHEAP for r in fake_anthropic.message_requests)
    assert not (home / "scripts" / "stripe" / "REFUNDED").exists()
    assert reply.text == "I'll do it myself."


def test_a_task_input_can_be_a_read_script_run_for_that_subtask(home: Path, fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic)
    tasks = [{"brief": f"Triage the PRs of {repo}", "input": {"script": "demo.prs", "args": {"repo": repo}}}
             for repo in ("org/a", "org/b")]
    Scripted(fake_anthropic, [fan_out_call(tasks), Reply.text("Both triaged.")],
             lambda body: Reply.text(valid(task_number(body))))
    reply = ask(bot, "triage the PRs of org/a and org/b")
    cheap_inputs = sorted(json.dumps(r.messages[0]["content"]) for r in fake_anthropic.message_requests
                          if r.model == CHEAP)
    assert "3 open PRs in --repo=org/a" in cheap_inputs[0] and "3 open PRs in --repo=org/b" in cheap_inputs[1]
    assert [r["script"] for r in bot.ledger.script_runs_for(reply.request_id)] == ["demo.prs", "demo.prs"]
    mid_requests = [r for r in fake_anthropic.message_requests if r.model == MID]
    assert "3 open PRs" not in json.dumps(mid_requests[-1].messages)   # mid reads only the JSON
    assert reply.text == "Both triaged."


def test_a_subtask_that_never_validates_is_reported_failed(home: Path, fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic)

    class Never(Scripted):
        def __call__(self, body: dict[str, Any]) -> Any:
            if "format" in (body.get("output_config") or {}):
                return Reply.text("not json", stop_reason="end_turn")
            return super().__call__(body)

    Never(fake_anthropic, [fan_out_call(channels(1)), Reply.text("Sorry, that failed.")], None)
    reply = ask(bot, "summarise #1")
    assert [e["outcome"] for e in tier_events.events_for(bot.ledger, reply.request_id)] == ["failed"]
    result = tool_results(fake_anthropic.message_requests[-1])[0]
    assert result.get("is_error") is True and '"ok": false' in result["content"]
    assert compute_stats(bot.ledger, parse_since("1h"))["escalation_rate"] == 1.0


FAN_OUT_SKILLS = ("channel-digest", "meeting-action-items", "sentry-triage")


@pytest.mark.parametrize("name", FAN_OUT_SKILLS)
def test_fan_out_skills_carry_a_schema_the_gate_and_the_api_accept(name: str) -> None:
    from bot.config import PROJECT_ROOT
    from bot.registry import load_registry
    from bot.tiers.cheap import SchemaGate
    from tests.fakes.anthropic_server import _check_output_config

    skill = load_registry(PROJECT_ROOT / "registry", PROJECT_ROOT / "skills", PROJECT_ROOT / "scripts",
                          check_paths=False).skills[name]
    body = skill.body()
    assert "`fan_out`" in body and "## Quality checks" in body
    schema = json.loads(re.search(r"```json\n(.*?)\n\s*```", body, re.S).group(1))
    gate = SchemaGate(schema)
    _check_output_config({"output_config": {"format": {"type": "json_schema", "schema": gate.sent}}})


def test_part_gives_each_task_its_piece_of_one_long_input(home: Path, fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic)
    transcript = "\n".join(f"Speaker {i % 3}: line {i}" for i in range(1, 41))
    tasks = [{"brief": "Extract action items", "input": "[[request]]", "part": [k, 4]} for k in range(1, 5)]
    Scripted(fake_anthropic, [fan_out_call(tasks), Reply.text("Items.")], lambda body: Reply.text(valid(1)))
    ask(bot, transcript)
    inputs = {task_number(r.body): r.messages[0]["content"] for r in fake_anthropic.message_requests
              if r.model == CHEAP}
    assert "[part 1 of 4, lines 1-" in inputs[1] and "<input>\n[part 1 of 4" in inputs[1]
    assert re.search(r"\[part 4 of 4, lines \d+-40\]", inputs[4]) and inputs[4].rstrip().endswith("line 40\n</input>")
    sizes = [len(inputs[k]) for k in range(1, 5)]
    assert max(sizes) < 1.5 * min(sizes)                            # near-equal pieces
    seen = [line for k in range(1, 5) for line in inputs[k].splitlines() if line.startswith("Speaker")]
    assert seen == transcript.splitlines()                          # every line once, in order


def test_a_cheap_model_api_error_is_retried_then_escalated(home: Path, fake_anthropic: FakeAnthropic) -> None:
    from tests.fakes.anthropic_server import Failure

    bot = make_bot(home, fake_anthropic)
    Scripted(fake_anthropic, [fan_out_call(channels(2)), Reply.text("ok")],
             lambda body: Failure(400, message="bad schema") if task_number(body) == 1 else Reply.text(valid(2)))
    reply = ask(bot, "summarise #1 #2")
    events = tier_events.events_for(bot.ledger, reply.request_id)
    assert [(e["outcome"], e["model"]) for e in events] == [("escalated", MID), ("ok", CHEAP)]
    assert events[0]["detail"].count("rejected the request (400)") == 2
    assert reply.outcome == "ok" and bot.ledger.decisions_for(reply.request_id)[0]["tier"] == "cheap"
