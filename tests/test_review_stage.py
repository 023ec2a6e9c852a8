"""Cheap builds, premium reviews: the pipeline's review stage (blog-post has `review: true`), end to end
through the real SDK and the fake Messages API; verdicts are structured outputs."""

from __future__ import annotations

import json
from pathlib import Path

from bot import tier_events
from bot.stats import compute_stats, parse_since
from tests.fakes.anthropic_server import Failure, FakeAnthropic, Reply
from tests.test_cheap_tier import home  # noqa: F401  (fixture)
from tests.test_orchestrator import MID, PREMIUM, PerModel, ask, make_bot

DRAFT = "```html\n<!doctype html>\n<html lang=\"en\"><body style=\"color:red\"><h1>Draft</h1></body></html>\n```"
REDONE = "```html\n<!doctype html>\n<html lang=\"en\"><body><h1 class=\"post-title\">Redone</h1></body></html>\n```"


def pipeline_turns() -> list[Reply]:
    return [Reply.tool_use("run_pipeline", {"skill": "blog-post", "brief": "Deploy previews for every branch",
                                            "reason": "a blog post"}),
            Reply.text("# Deploy previews\nEvery branch gets a URL."),           # stage 1: content
            Reply.text(DRAFT)]                                                      # stage 2: the mid draft


def purposes(bot, request_id: str) -> list[tuple[str, str]]:
    return [(c["purpose"], c["model"]) for c in bot.ledger.llm_calls_for(request_id)]


def verdict(value: dict) -> Reply:
    return Reply.text(json.dumps(value))


def test_an_accepted_draft_is_the_answer(home: Path, fake_anthropic: FakeAnthropic) -> None:  # noqa: F811
    bot = make_bot(home, fake_anthropic)
    PerModel(fake_anthropic).on(MID, *pipeline_turns()).on(PREMIUM, verdict({"verdict": "accept", "reasons": []}))
    reply = ask(bot, "write a blog post about deploy previews")

    assert reply.outcome == "ok" and reply.tier == "pipeline"
    assert reply.artifact is not None and "<h1>Draft</h1>" in reply.artifact.content
    assert purposes(bot, reply.request_id) == [("orchestrator", MID), ("pipeline:stage1", MID),
                                               ("pipeline:build", MID), ("pipeline:review", PREMIUM)]
    review = next(r for r in fake_anthropic.message_requests if r.model == PREMIUM)
    config = review.body["output_config"]
    assert config["effort"] == "medium" and config["format"]["type"] == "json_schema"
    assert config["format"]["schema"]["properties"]["verdict"]["enum"] == ["accept", "reject"]
    assert "<draft>" in review.messages[0]["content"] and "<content>" in review.messages[0]["content"]
    assert not any(p in review.body for p in ("temperature", "top_p", "top_k", "tool_choice"))
    build = [r for r in fake_anthropic.message_requests if r.model == MID][2]
    assert build.body["output_config"] == {"effort": "medium"}
    events = tier_events.events_for(bot.ledger, reply.request_id)
    assert [(e["kind"], e["outcome"], e["model"]) for e in events] == [("review", "accept", PREMIUM)]


def test_a_rejected_draft_is_redone_once_by_premium_with_the_reasons(home: Path,  # noqa: F811
                                                                      fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic)
    reasons = ["body uses an inline style", "post-title class missing on the h1"]
    PerModel(fake_anthropic).on(MID, *pipeline_turns()).on(
        PREMIUM, verdict({"verdict": "reject", "reasons": reasons}), Reply.text(REDONE))
    reply = ask(bot, "write a blog post about deploy previews")

    assert reply.outcome == "ok" and reply.artifact is not None and "Redone" in reply.artifact.content
    assert "Draft" not in reply.artifact.content
    assert purposes(bot, reply.request_id)[-2:] == [("pipeline:review", PREMIUM), ("pipeline:redo", PREMIUM)]
    redo = [r for r in fake_anthropic.message_requests if r.model == PREMIUM][1]
    assert redo.body["output_config"] == {"effort": "high"} and "format" not in redo.body["output_config"]
    assert "rejected in review" in redo.messages[-1]["content"] and reasons[0] in redo.messages[-1]["content"]
    events = tier_events.events_for(bot.ledger, reply.request_id)
    assert [(e["outcome"], e["detail"]) for e in events] == [("reject", "; ".join(reasons))]
    assert any("rejected" in n for n in reply.notes)

    # one accept after the reject: the reject rate is 1 of 2
    PerModel(fake_anthropic).on(MID, *pipeline_turns()).on(PREMIUM, verdict({"verdict": "accept", "reasons": []}))
    ask(bot, "write another blog post about deploy previews")
    stats = compute_stats(bot.ledger, parse_since("1h"))
    assert stats["review"] == {"reviews": 2, "accepted": 1, "rejected": 1, "unavailable": 0, "reject_rate": 0.5}
    assert stats["reject_rate"] == 0.5


def test_without_a_verdict_the_draft_is_delivered_with_a_note(home: Path,  # noqa: F811
                                                              fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic)
    PerModel(fake_anthropic).on(MID, *pipeline_turns()).on(PREMIUM, Failure(400, message="bad"))
    reply = ask(bot, "write a blog post about deploy previews")
    assert reply.outcome == "ok" and "<h1>Draft</h1>" in reply.artifact.content
    assert "unreviewed draft" in reply.text
    events = tier_events.events_for(bot.ledger, reply.request_id)
    assert [e["outcome"] for e in events] == ["unavailable"]
    assert compute_stats(bot.ledger, parse_since("1h"))["review"]["reject_rate"] == 0.0


def test_bot_stats_shows_the_cheap_tier_escalation_and_reject_rates(home: Path, fake_anthropic: FakeAnthropic,  # noqa: F811
                                                                    monkeypatch, capsys) -> None:
    from bot.cli import main

    bot = make_bot(home, fake_anthropic)
    PerModel(fake_anthropic).on(MID, *pipeline_turns()).on(
        PREMIUM, verdict({"verdict": "reject", "reasons": ["wrong"]}), Reply.text(REDONE))
    ask(bot, "write a blog post about deploy previews")
    tier_events.record(bot.ledger, request_id=None, kind="subtask", tier="cheap", outcome="ok")
    tier_events.record(bot.ledger, request_id=None, kind="subtask", tier="cheap", outcome="escalated")
    monkeypatch.setenv("BOT_HOME", str(home / ".bot"))
    monkeypatch.setenv("BOT_CONFIG", str(home / "none.yaml"))
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert "cheap tier: 2 fan_out subtasks" in out and "escalation rate 50.0%" in out
    assert "reject rate 100.0%" in out
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["escalation_rate"] == 0.5 and stats["reject_rate"] == 1.0 and stats["cheap"]["subtasks"] == 2

    from bot.ops_commands import OpsCommands  # the same figures in Slack's /ops stats

    text = OpsCommands(bot).stats_text("24h")
    assert "cheap tier: 2 fan_out subtasks" in text and "escalation rate 50.0%" in text
    assert "reject rate 100.0%" in text
