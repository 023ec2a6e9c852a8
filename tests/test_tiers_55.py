"""The tiers against a Messages API that behaves like the 5.5 models (tests/fakes/anthropic_models.py):
adaptive thinking spends max_tokens by effort, rejected parameters are a 400, cut answers can be
continued, thinking blocks must come back unchanged. Every answer reaches the user whole; every call
names its effort; the API refuses no call.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.pipeline import OpsBot
from bot.request import Incoming
from tests.fakes import anthropic_models as m55
from tests.fakes.anthropic_server import FakeAnthropic, Malformed, Reply
from tests.test_orchestrator import MID, PREMIUM, PerModel, ask, make_bot, write_home


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return write_home(tmp_path)


def words(n_tokens: int, *, code: bool = False) -> str:
    """About `n_tokens` tokens by the fake's count (4 characters a token), ending in a marker line."""
    line = "    value = compute(item) if flag else None  # step\n" if code else "The deploy went fine today. "
    body = line * (n_tokens * 4 // len(line))
    return body + ("# END OF MODULE" if code else "THE END.")


def assert_no_call_refused_and_all_name_effort(bot: OpsBot, fake: FakeAnthropic, request_id: str) -> None:
    calls = bot.ledger.llm_calls_for(request_id)
    assert calls and all(c["error"] is None for c in calls), calls
    assert all(c["effort"] in m55.EFFORTS for c in calls)
    for sent in fake.message_requests:
        assert sent.body["output_config"]["effort"] in m55.EFFORTS
        m55.check_request(sent.body)               # the fake's own rules: nothing it would reject


def test_a_1200_token_direct_answer_reaches_the_user_whole(home: Path, fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic)
    answer = words(1_200)
    fake_anthropic.reply_text(answer)
    reply = ask(bot, "write up today's deploy for the changelog")
    assert reply.text == answer and reply.outcome == "ok" and reply.tier == "direct"
    assert not any("limit" in n for n in reply.notes)
    assert_no_call_refused_and_all_name_effort(bot, fake_anthropic, reply.request_id)
    assert fake_anthropic.message_requests[0].body["output_config"]["effort"] == "low"


def test_a_script_tool_loop_keeps_the_signed_thinking(home: Path, fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic)
    fake_anthropic.reply_tool_use("run_script", {"name": "demo.prs", "args": {"repo": "org/app"}})
    fake_anthropic.reply_text("There are 3 open PRs; #1 fixes login.")
    reply = ask(bot, "anything worth reviewing in org/app today?")
    assert reply.text == "There are 3 open PRs; #1 fixes login." and reply.script == "demo.prs"
    assert_no_call_refused_and_all_name_effort(bot, fake_anthropic, reply.request_id)
    second = fake_anthropic.message_requests[1].messages
    assert second[1]["role"] == "assistant" and second[1]["content"][0]["type"] == "thinking"


def test_a_6000_token_premium_code_answer_streams_and_reaches_the_user_whole(
        home: Path, fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic)
    module = "```python\n" + words(6_000, code=True) + "\n```"
    PerModel(fake_anthropic).on(MID, Reply.tool_use("delegate_premium", {
        "task": "Write the retry module.", "context": "[[request]]"})).on(PREMIUM, Reply.text(module))
    reply = ask(bot, "write a python module that retries HTTP calls with jittered backoff")
    assert reply.tier == "premium" and reply.models == [MID, PREMIUM]
    assert reply.text == module and "# END OF MODULE" in reply.text
    assert_no_call_refused_and_all_name_effort(bot, fake_anthropic, reply.request_id)
    premium = [r for r in fake_anthropic.message_requests if r.model == PREMIUM][0]
    assert premium.body["stream"] is True and premium.body["output_config"]["effort"] == "high"
    assert premium.body["max_tokens"] >= 20_000
    calls = {c["purpose"]: c for c in bot.ledger.llm_calls_for(reply.request_id)}
    assert calls["premium"]["streamed"] == 1 and calls["premium"]["stop_reason"] == "end_turn"


def test_a_cut_answer_is_continued_with_a_new_user_turn_never_a_prefill(
        home: Path, fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic, bot_max_tokens_orchestrator=1_500)
    answer = words(3_000)
    fake_anthropic.reply_text(answer)
    reply = ask(bot, "write up today's deploy in full detail")
    assert reply.text == answer.strip() and not any("limit" in n for n in reply.notes)
    calls = bot.ledger.llm_calls_for(reply.request_id)
    assert [c["continuation"] for c in calls] == [0, 1, 2]
    assert [c["stop_reason"] for c in calls] == ["max_tokens", "max_tokens", "end_turn"]
    for sent in fake_anthropic.message_requests[1:]:
        assert sent.messages[-1]["role"] == "user" and sent.messages[-2]["role"] == "assistant"


def test_an_answer_still_cut_goes_out_as_a_file_with_a_clear_note(home: Path, fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic, bot_max_tokens_orchestrator=1_100, bot_llm_max_continuations=1)
    fake_anthropic.reply_text(words(5_000))
    reply = ask(bot, "write everything")
    assert reply.artifact is not None and "cut at the output limit" in reply.artifact.content
    assert "incomplete" in reply.text and reply.artifact.filename in reply.text


def test_thinking_spends_max_tokens_by_effort_so_a_small_budget_is_cut_before_the_tool(
        fake_anthropic: FakeAnthropic) -> None:
    """What the issue saw with max_tokens 2,048 at Sonnet 5.5's default effort (high): no tool call."""
    import anthropic
    fake_anthropic.reply_tool_use("run_script", {"name": "demo.prs"})
    client = anthropic.Anthropic(api_key="k", base_url=fake_anthropic.base_url, max_retries=0)
    message = client.messages.create(model=MID, max_tokens=2_048, messages=[{"role": "user", "content": "prs?"}])
    assert message.stop_reason == "max_tokens" and [b.type for b in message.content] == ["thinking"]
    assert message.usage.output_tokens == 2_048


def test_a_malformed_premium_response_is_recorded_and_falls_back_to_mid(
        home: Path, fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic)
    PerModel(fake_anthropic).on(MID, Reply.tool_use("delegate_premium", {"task": "Explain the trace."}),
                                Reply.text("The mid model's explanation.")).on(PREMIUM, Malformed())
    reply = ask(bot, "why does this crash?")
    assert reply.text.startswith("The mid model's explanation.") and reply.outcome == "ok"
    assert any("malformed" in n for n in reply.notes)
    rows = bot.ledger.llm_calls_for(reply.request_id)
    premium = [r for r in rows if r["purpose"] == "premium"]
    assert premium and "malformed" in premium[0]["error"]
    assert [r["purpose"] for r in rows][-1] == "premium:fallback"


def test_malformed_json_of_the_wrong_shape_is_an_llm_error_not_a_crash(
        home: Path, fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic)
    fake_anthropic.enqueue(Malformed(json.dumps({"ok": True}), "application/json"))
    reply = ask(bot, "hello there, how are deploys going?")
    assert reply.outcome == "error" and "malformed" in reply.text
    assert "malformed" in bot.ledger.llm_calls_for(reply.request_id)[0]["error"]
    fake_anthropic.enqueue(Malformed("not json at all {", "application/json"))
    again = ask(bot, "and now?")
    assert again.outcome == "error" and "malformed" in bot.ledger.llm_calls_for(again.request_id)[0]["error"]


def test_a_skill_may_ask_for_more_effort(home: Path, fake_anthropic: FakeAnthropic, tmp_path: Path) -> None:
    skills = tmp_path / "skills" / "deep-dive"
    skills.mkdir(parents=True)
    (skills / "SKILL.md").write_text("---\nname: deep-dive\ndescription: Careful analysis\neffort: xhigh\n---\nThink.\n")
    bot = make_bot(home, fake_anthropic, bot_skills=tmp_path / "skills")
    fake_anthropic.reply_tool_use("load_skill", {"name": "deep-dive"})
    fake_anthropic.reply_text("Analysed.")
    reply = ask(bot, "do a deep dive on the outage")
    assert reply.text == "Analysed."
    assert [r.body["output_config"]["effort"] for r in fake_anthropic.message_requests] == ["low", "xhigh"]


def test_console_progress_line(home: Path, fake_anthropic: FakeAnthropic) -> None:
    from bot.progress import Progress, ProgressState

    shown: list[ProgressState] = []

    class Sink:
        def show(self, state: ProgressState) -> None:
            shown.append(state)

    bot = make_bot(home, fake_anthropic)
    PerModel(fake_anthropic).on(MID, Reply.tool_use("delegate_premium", {"task": "Write it."})).on(
        PREMIUM, Reply.text(words(2_000)))
    reply = bot.handle(Incoming("write the module", user="U1", source="console",
                                progress=Progress(Sink(), interval_s=0)))
    assert reply.tier == "premium" and shown
    assert shown[0].tier == "premium model" and shown[-1].output_tokens > 1_000
    assert "tokens so far" in shown[-1].line()


def test_every_documented_stop_reason_ends_in_a_clear_reply(home: Path, fake_anthropic: FakeAnthropic) -> None:
    bot = make_bot(home, fake_anthropic)
    fake_anthropic.reply_text("", stop_reason="refusal")
    refused = ask(bot, "help me get into my ex's email account")
    assert refused.outcome == "refused" and "declined" in refused.text

    fake_anthropic.reply_text("Looking into it", stop_reason="pause_turn")
    fake_anthropic.reply_text("Here is the whole answer.")
    paused = ask(bot, "what changed in the deploy pipeline this week and why")
    assert paused.text == "Looking into it\nHere is the whole answer." and paused.outcome == "ok"   # nothing lost
    resumed = fake_anthropic.message_requests[-1]
    assert resumed.messages[-1]["role"] == "user"               # never a final assistant turn

    fake_anthropic.reply_text("A partial view.", stop_reason="model_context_window_exceeded")
    full = ask(bot, "read everything we have ever logged")
    assert full.text.startswith("A partial view.") and any("context window" in n for n in full.notes)
    for request_id in (refused.request_id, paused.request_id, full.request_id):
        assert all(c["error"] is None for c in bot.ledger.llm_calls_for(request_id))


def test_the_console_shows_a_rich_progress_line(home: Path, fake_anthropic: FakeAnthropic, monkeypatch) -> None:
    import io

    from rich.console import Console

    from bot import console as console_mod

    seen: list[str] = []
    original = console_mod.ConsoleStatus.show

    def spy(self, state) -> None:
        original(self, state)
        seen.append(str(self.status.status))

    bot = make_bot(home, fake_anthropic)
    PerModel(fake_anthropic).on(MID, Reply.tool_use("delegate_premium", {"task": "Write it."})).on(
        PREMIUM, Reply.text(words(1_500)))
    term = Console(file=io.StringIO(), force_terminal=True, width=120)
    monkeypatch.setattr(console_mod.ConsoleStatus, "show", spy)     # records what the real line showed
    reply = console_mod.ask(bot, "write the module", term)
    assert reply.tier == "premium" and seen and "premium model" in seen[-1] and "tokens so far" in seen[-1]
