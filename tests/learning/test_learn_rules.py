"""`bot learn`'s rules, one test each: what becomes a suggestion (with placeholders), and every refusal
with its reason. History is made by the real orchestrator on the fake Messages API, as in production."""

from __future__ import annotations

import pytest

from bot.learn_ops import record_negative, reload
from bot.learning import apply, learn
from tests.learning.small import month_ago, small_bot, write_small

ROOMY = "how roomy are the host's drives?"
LINGER = "stuff waiting to merge in acme/api"


@pytest.fixture
def bot(tmp_path, fake_anthropic):
    write_small(tmp_path)
    bot = small_bot(tmp_path, fake_anthropic)
    yield bot
    bot.ledger.close()


def ask(bot, fake, text, script, args=None, **incoming):
    """The pre-router misses `text`; the model runs `script` with `args` (or proposes a write)."""
    from bot.request import Incoming

    fake.reply_tool_use("run_script", {"name": script, "args": args or {}, "reason": "that script answers it"})
    fake.reply_text("Here it is.")
    incoming.setdefault("user", "U1")
    return bot.handle(Incoming(text, source="slack", **incoming))


def run_learn(bot, corpus=None):
    return learn(bot.ledger, bot.registry, month_ago(), corpus=corpus or [])


def whys(result) -> dict[str, str]:
    return {r["text"]: r["why"] for r in result.refused}


def test_argument_values_become_placeholders_and_the_phrasing_then_routes_any_value(bot, fake_anthropic):
    assert bot.router.route(LINGER).tier == "orchestrator"
    reply = ask(bot, fake_anthropic, LINGER, "demo.prs", {"repo": "acme/api"})
    result = run_learn(bot)
    [s] = result.suggestions
    assert (s.script, s.example, s.requests, s.support) == ("demo.prs", "stuff waiting to merge in {repo}",
                                                             [reply.request_id], 1)
    assert apply(bot.settings.bot_registry, result.suggestions) == 1
    reload(bot)
    assert not bot.registry.problems
    decision = bot.router.route("stuff waiting to merge in globex/shop")
    assert (decision.tier, decision.script, decision.args["repo"]) == ("script", "demo.prs", "globex/shop")


def test_write_scripts_are_refused(bot, fake_anthropic):
    reply = ask(bot, fake_anthropic, "bounce the web service", "demo.restart", {"service": "web"})
    assert reply.confirmation is not None                       # a write asks the requester first …
    done = bot.resolve_confirmation(reply.confirmation.id, __import__("bot.request").request.Incoming("", user="U1"), True)
    assert done.outcome == "ok"                                 # … and then ran, successfully
    result = run_learn(bot)
    assert result.suggestions == []
    assert "demo.restart is a write script" in whys(result)["bounce the web service"]


def test_arguments_the_pre_router_cannot_extract_are_refused(bot, fake_anthropic):
    text = "can you see if db1.acme.io answers on 5432"
    ask(bot, fake_anthropic, text, "demo.port", {"host": "db1.acme.io", "port": 5432})
    result = run_learn(bot)
    assert result.suggestions == []
    assert whys(result)[text].startswith("the pre-router cannot extract its arguments")
    assert "--port 5432" in whys(result)[text]


def test_a_change_to_a_labelled_corpus_item_is_refused_unless_it_makes_it_right(bot, fake_anthropic):
    ask(bot, fake_anthropic, ROOMY, "demo.disk")
    handoff = [{"text": "how roomy is the host", "script": None, "file": "demo.yaml"}]
    result = run_learn(bot, handoff)
    assert result.suggestions == []
    assert whys(result)[ROOMY].startswith("would change the decision of corpus item 'how roomy is the host' "
                                          "(demo.yaml): orchestrator → demo.disk")
    labelled = [{"text": "how roomy is the host", "script": "demo.disk", "file": "demo.yaml"}]
    assert [s.script for s in run_learn(bot, labelled).suggestions] == ["demo.disk"]


def test_a_collision_with_another_scripts_example_is_refused(bot, fake_anthropic):
    from bot.request import Incoming

    down = bot.handle(Incoming("disk usage please", source="slack", user="U1"))
    bot.ledger.set_feedback(down.request_id, "down")
    record_negative(bot, down.request_id)              # now the pre-router hands it to the model …
    ask(bot, fake_anthropic, "disk usage please", "demo.load")   # … which picks another script
    result = run_learn(bot)
    assert result.suggestions == []
    assert whys(result)["disk usage please"] == "collides with an example of demo.disk: 'disk usage'"


def test_thumbs_down_corrections_follow_ups_and_failed_or_several_runs_are_not_candidates(bot, fake_anthropic):
    down = ask(bot, fake_anthropic, ROOMY, "demo.disk")
    bot.ledger.set_feedback(down.request_id, "down")
    ask(bot, fake_anthropic, "tell me about the drives", "demo.disk", channel="C1", thread_ts="1.1")
    ask(bot, fake_anthropic, "no, I meant the memory", "demo.load", channel="C1", thread_ts="1.1")
    ask(bot, fake_anthropic, "anything lingering for review", "demo.port", {"host": "x"})  # bad args: no run
    result = run_learn(bot)
    assert result.suggestions == []
    assert whys(result) == {"no, I meant the memory": "a follow-up in a thread: it leans on earlier messages"}
    assert result.candidates == 1


def test_a_thumbs_down_becomes_a_negative_the_router_and_the_learner_respect(bot, fake_anthropic):
    from bot.request import Incoming

    reply = bot.handle(Incoming("Disk usage please", source="slack", user="U1"))
    assert reply.tier == "script" and reply.script == "demo.disk" and reply.tokens == 0
    bot.ledger.set_feedback(reply.request_id, "down")
    assert record_negative(bot, reply.request_id) == "demo.disk"
    text = (bot.settings.bot_registry / "learned.yaml").read_text()
    assert "negatives:" in text and "Disk usage please" in text and reply.request_id in text
    assert "demo.disk" in bot.router.route("disk usage, please!").reason     # no longer run at 0 tokens …
    assert bot.router.route("disk usage, please!").tier == "orchestrator"
    assert bot.router.route("how full is the disk").script == "demo.disk"    # … other phrasings still are
    ask(bot, fake_anthropic, "disk usage please", "demo.disk")               # the model picks it again
    result = run_learn(bot)
    assert whys(result) == {"disk usage please": "a person gave 👎 to demo.disk for this phrasing"}
    explicit = bot.handle(Incoming("run demo.disk", source="slack", user="U1"))
    bot.ledger.set_feedback(explicit.request_id, "down")
    assert record_negative(bot, explicit.request_id) is None                 # an explicit run is not routing


def test_the_heartbeat_line_counts_this_weeks_learnable_requests(bot, fake_anthropic):
    import datetime as dt

    from bot.learn_ops import zero_token_check

    ask(bot, fake_anthropic, LINGER, "demo.prs", {"repo": "acme/api"})
    ask(bot, fake_anthropic, LINGER.replace("acme/api", "acme/web"), "demo.prs", {"repo": "acme/web"})
    ask(bot, fake_anthropic, "bounce the web service", "demo.restart", {"service": "web"})   # never learnable
    check = zero_token_check(bot, dt.datetime.now(dt.UTC))
    assert (check.name, check.status) == ("learning", "ok")
    assert check.detail == "2 requests this week could have been answered at 0 tokens — /ops learn"


def test_a_ledger_written_without_defaults_is_read_as_the_runner_saw_it(bot):
    """Rows recorded through the ledger API directly (args as given, no defaults) are learned the same."""
    ledger = bot.ledger
    rid = ledger.start_request(source="cli", text=LINGER, user="me")
    ledger.record_decision(rid, tier="script", decided_by="orchestrator", reason="prs", script="demo.prs")
    ledger.record_llm_call(request_id=rid, model="claude-sonnet-5-5", purpose="orchestrator", input_tokens=1800)
    ledger.record_script_run(request_id=rid, script="demo.prs", args={"repo": "acme/api"}, exit_code=0,
                             status="ok", duration_ms=5, output_bytes=10, truncated=False)
    ledger.finish_request(rid, "ok")
    [s] = run_learn(bot).suggestions
    assert (s.script, s.example, s.requests) == ("demo.prs", "stuff waiting to merge in {repo}", [rid])
