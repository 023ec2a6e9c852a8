"""Code goes straight to premium: the 0-token detector (bot.code_detect) and the route it drives, end to end
through the real SDK and the fake Messages API (the mid model is never called)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.code_detect import MIN_LINES, THRESHOLDS, detect
from tests.fakes.anthropic_server import FakeAnthropic
from tests.test_cheap_tier import home  # noqa: F401  (fixture)
from tests.test_orchestrator import MID, PREMIUM, PerModel, ask, decision, make_bot

DIFF = textwrap.dedent("""\
    can you check this before I merge?
    diff --git a/app/billing.py b/app/billing.py
    index 3f2a1b0..9c4d2e1 100644
    --- a/app/billing.py
    +++ b/app/billing.py
    @@ -10,7 +10,8 @@ def charge(customer, amount):
         if amount <= 0:
             raise ValueError("amount must be positive")
    -    fee = amount * 0.029
    +    fee = round(amount * 0.029, 2)
    +    log.info("fee %s", fee)
         return stripe.charge(customer, amount + fee)
    """)
PY_TRACE = textwrap.dedent("""\
    prod is throwing this since the deploy:
    Traceback (most recent call last):
      File "/app/worker.py", line 88, in run
        result = handler(job)
      File "/app/handlers.py", line 41, in handle
        user = users[job["user_id"]]
    KeyError: 'user_id'
    """)
NODE_TRACE = textwrap.dedent("""\
    TypeError: Cannot read properties of undefined (reading 'id')
        at getUser (/srv/app/src/users.js:42:17)
        at async Promise.all (index 0)
        at async handler (/srv/app/src/routes/users.js:12:5)
        at /srv/app/node_modules/express/lib/router/layer.js:95:5
    """)
JAVA_TRACE = textwrap.dedent("""\
    Exception in thread "main" java.lang.NullPointerException: name is null
        at com.acme.billing.Invoice.total(Invoice.java:57)
        at com.acme.billing.Runner.main(Runner.java:14)
    Caused by: java.lang.IllegalStateException: closed
        at com.acme.db.Pool.get(Pool.java:33)
        ... 3 more
    """)
GO_PANIC = textwrap.dedent("""\
    panic: runtime error: index out of range [3] with length 3

    goroutine 1 [running]:
    main.pick(...)
        /home/dev/app/main.go:12
    main.main()
        /home/dev/app/main.go:8 +0x1d
    exit status 2
    """)
CODE = textwrap.dedent("""\
    why is this slow?
    def top_customers(rows):
        seen = {}
        for row in rows:
            if row["id"] not in seen:
                seen[row["id"]] = sorted(r for r in rows if r["id"] == row["id"])
        return list(seen.values())[:10]
    """)
PROSE = [
    "what's the MRR this month and how does it compare to last month?",
    "Can you summarise the incident from last night?\nWho was on call?\nWhat broke first?\n"
    "Did we roll back?\nWhat are the follow-ups?\nWho owns them?",
    "Release plan:\n- freeze on Monday\n- QA on Tuesday and Wednesday\n- ship Thursday morning\n"
    "- announce in #general\n- retro next week",
    "why does `charge()` in billing.py round the fee?\nI thought we fixed that.\nIt was in PR #123.\n"
    "Maybe it regressed?\nCan you check the history?",
]


@pytest.mark.parametrize(("text", "rule"), [(DIFF, "diff"), (PY_TRACE, "stack_trace"), (NODE_TRACE, "stack_trace"),
                                            (JAVA_TRACE, "stack_trace"), (GO_PANIC, "stack_trace"), (CODE, "code")])
def test_code_diffs_and_traces_are_detected_with_their_rule(text: str, rule: str) -> None:
    verdict = detect(text)
    assert verdict.is_code and verdict.rule == rule
    assert verdict.share >= THRESHOLDS[rule] == verdict.threshold
    assert f"rule={rule}" in verdict.reason and f"threshold={THRESHOLDS[rule]:.2f}" in verdict.reason


@pytest.mark.parametrize("text", PROSE)
def test_prose_and_short_messages_are_not_code(text: str) -> None:
    assert not detect(text).is_code


def test_a_short_paste_stays_with_the_orchestrator() -> None:
    short = "\n".join(PY_TRACE.splitlines()[:MIN_LINES - 1])
    assert not detect(short).is_code and "under" in detect(short).reason


def test_a_stack_trace_goes_to_premium_without_the_mid_model(home: Path,  # noqa: F811
                                                            fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic)
    PerModel(fake_anthropic).on(PREMIUM, *[])
    fake_anthropic.reply_text("`users` has no key `user_id`: the job payload changed in the deploy. Fix: …")
    thread = [{"user": f"U{i}", "text": f"older message {i}"} for i in range(12)]
    reply = ask(bot, PY_TRACE, thread=thread)

    assert reply.outcome == "ok" and reply.text.startswith("`users` has no key")
    assert reply.tier == "premium" and reply.decided_by == "pre-router" and reply.models == [PREMIUM]
    assert [r.model for r in fake_anthropic.message_requests] == [PREMIUM]    # the mid model never read it
    row = decision(bot, reply.request_id)
    assert row["tier"] == "premium" and row["decided_by"] == "pre-router" and row["skill"] == "debug-helper"
    assert "rule=stack_trace" in row["reason"] and f"threshold={THRESHOLDS['stack_trace']:.2f}" in row["reason"]
    assert [c["model"] for c in bot.ledger.llm_calls_for(reply.request_id)] == [PREMIUM]

    sent = fake_anthropic.message_requests[0]
    user = sent.messages[0]["content"]
    assert "KeyError: 'user_id'" in user and "older message 11" in user
    assert "older message 0" not in user                       # pruned: only the last few thread messages
    system = sent.system[0]["text"]
    assert "# Skill: debug-helper" in system and "run_script" not in str(sent.body.get("tools"))
    assert "Scripts (run_script" not in system             # no index: pruned context
    assert "mostly a stack trace" in system and "mostly a stack trace" not in user   # the rule's standing task


def test_a_diff_goes_to_premium_with_the_code_review_skill(home: Path,  # noqa: F811
                                                          fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic)
    fake_anthropic.reply_text("Looks right; add a test for the rounding.")
    reply = ask(bot, DIFF)
    assert reply.tier == "premium" and [r.model for r in fake_anthropic.message_requests] == [PREMIUM]
    row = decision(bot, reply.request_id)
    assert row["skill"] == "code-review" and "rule=diff" in row["reason"]

    fake_anthropic.reply_text("Still right.")
    again = ask(bot, DIFF.replace("0.029", "0.031"))             # another diff: the same skill and task
    first, second = (bot.ledger.llm_calls_for(r.request_id)[0] for r in (reply, again))
    assert fake_anthropic.message_requests[1].system[0]["cache_control"] == {"type": "ephemeral"}
    assert first["cache_write_tokens"] > 0 and second["cache_read_tokens"] == first["cache_write_tokens"]


def test_prose_still_goes_to_the_orchestrator(home: Path, fake_anthropic: FakeAnthropic) -> None:  # noqa: F811
    bot = make_bot(home, fake_anthropic)
    fake_anthropic.reply_text("Blue-green runs two environments.")
    reply = ask(bot, PROSE[1])
    assert reply.tier == "direct" and [r.model for r in fake_anthropic.message_requests] == [MID]


def test_a_stack_trace_spends_nothing_when_llm_spend_is_off(home: Path,  # noqa: F811
                                                           fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic, bot_daily_budget_usd=0)
    reply = ask(bot, PY_TRACE)
    assert reply.outcome == "refused" and "BOT_DAILY_BUDGET_USD=0" in reply.text
    assert fake_anthropic.message_requests == []


def test_the_code_route_runs_at_bot_effort_code_and_delegation_keeps_premium_effort(
        home: Path, fake_anthropic: FakeAnthropic) -> None:  # noqa: F811
    bot = make_bot(home, fake_anthropic)                         # defaults: BOT_EFFORT_CODE=medium, premium high
    fake_anthropic.reply_text("Looks right.")
    ask(bot, DIFF)
    fake_anthropic.reply_tool_use("delegate_premium", {"task": "Design the retry policy for billing.",
                                                        "skills": [], "context": "", "reason": "hard design"})
    fake_anthropic.reply_text("Use exponential backoff with jitter.")
    ask(bot, "design a retry policy for our billing calls, it is subtle")
    assert fake_anthropic.pending == 0
    efforts = [(r.model, r.body["output_config"]["effort"]) for r in fake_anthropic.message_requests]
    assert efforts[0] == (PREMIUM, "medium")                     # the pasted diff: fully specified
    assert (PREMIUM, "high") in efforts[1:]                      # the orchestrator judged it hard

    fake_anthropic.reset()
    bot = make_bot(home, fake_anthropic, bot_effort_code="xhigh")
    fake_anthropic.reply_text("Looks right.")
    ask(bot, DIFF)
    assert fake_anthropic.message_requests[0].body["output_config"]["effort"] == "xhigh"
