"""The fake Anthropic API's wire plumbing, driven by the real `anthropic` SDK (2.x) over 127.0.0.1.

These tests use the lenient fake (model_behaviour=False: no thinking, no 5.5 rules) to check the
protocol itself; tests/test_fake_models.py checks how it behaves like the 5.5 models.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tests.fakes.anthropic_server import FakeAnthropic, Reply, estimate_input_tokens

MODEL = "claude-sonnet-5-5"
USER = [{"role": "user", "content": "how many open PRs?"}]


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(model_behaviour=False) as fake:
        yield fake


def client_for(
    fake: FakeAnthropic, *, max_retries: int = 0, timeout: float = 5.0, **kw: Any
) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="test-key", base_url=fake.base_url, max_retries=max_retries, timeout=timeout, **kw
    )


def test_text_reply_with_usage_and_recorded_request(
    fake_anthropic: FakeAnthropic, anthropic_client: anthropic.Anthropic
) -> None:
    fake_anthropic.reply_text("3 open PRs", usage={"output_tokens": 7})
    msg = anthropic_client.messages.create(
        model=MODEL, max_tokens=100, system="You are opsbot.", messages=USER
    )

    assert msg.content[0].type == "text" and msg.content[0].text == "3 open PRs"
    assert msg.id.startswith("msg_") and msg.model == MODEL and msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens == 7
    assert msg.usage.cache_creation_input_tokens == 0 and msg.usage.cache_read_input_tokens == 0
    req = fake_anthropic.requests[-1]
    assert req.had_key and "anthropic-version" in req.headers and "authorization" not in req.headers
    assert req.model == MODEL and req.system == "You are opsbot."
    assert msg.usage.input_tokens == req.input_tokens == estimate_input_tokens(req.body or {})


def test_default_reply_echoes(anthropic_client: anthropic.Anthropic) -> None:
    msg = anthropic_client.messages.create(model=MODEL, max_tokens=100, messages=USER)
    assert msg.content[0].text == "echo: how many open PRs?"  # type: ignore[union-attr]


def test_tool_use_round_trip(fake_anthropic: FakeAnthropic, anthropic_client: anthropic.Anthropic) -> None:
    tools = [{"name": "run_script", "description": "Run a script", "input_schema": {"type": "object"}}]
    fake_anthropic.reply_tool_use("run_script", {"name": "github/prs"}, text="Checking.")
    fake_anthropic.reply_text("There are 3.")

    first = anthropic_client.messages.create(model=MODEL, max_tokens=100, tools=tools, messages=USER)
    assert first.stop_reason == "tool_use"
    call = first.content[1]
    assert call.type == "tool_use" and call.name == "run_script" and call.input == {"name": "github/prs"}
    assert call.id.startswith("toolu_")

    result = {"type": "tool_result", "tool_use_id": call.id, "content": "3"}
    history = [*USER, first.to_param(), {"role": "user", "content": [result]}]
    second = anthropic_client.messages.create(model=MODEL, max_tokens=100, tools=tools, messages=history)

    assert second.content[0].text == "There are 3."  # type: ignore[union-attr]
    sent = fake_anthropic.requests[-1]
    assert sent.tools[0]["name"] == "run_script"
    assert sent.messages[-1]["content"][0] == result


def test_unmatched_tool_result_is_a_400(anthropic_client: anthropic.Anthropic) -> None:
    orphan = [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "3"}]}
    ]
    with pytest.raises(anthropic.BadRequestError) as err:
        anthropic_client.messages.create(model=MODEL, max_tokens=100, messages=orphan)
    assert err.value.type == "invalid_request_error" and "toolu_x" in (err.value.api_message or "")


def test_responder_routes_on_request(
    fake_anthropic: FakeAnthropic, anthropic_client: anthropic.Anthropic
) -> None:
    fake_anthropic.set_responder(lambda body: Reply.text(f"I am {body['model']}"))
    msg = anthropic_client.messages.create(model="claude-opus-5-5", max_tokens=100, messages=USER)
    assert msg.content[0].text == "I am claude-opus-5-5"  # type: ignore[union-attr]


def test_prompt_cache_creation_then_read(anthropic_client: anthropic.Anthropic) -> None:
    system = [
        {"type": "text", "text": "Index: " + "script line\n" * 50, "cache_control": {"type": "ephemeral"}}
    ]
    first = anthropic_client.messages.create(model=MODEL, max_tokens=100, system=system, messages=USER)
    second = anthropic_client.messages.create(model=MODEL, max_tokens=100, system=system, messages=USER)

    cached = first.usage.cache_creation_input_tokens
    assert cached and cached > first.usage.input_tokens > 0 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == cached and second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens == first.usage.input_tokens


def test_prompt_cache_reads_longest_seen_prefix(anthropic_client: anthropic.Anthropic) -> None:
    cc = {"type": "ephemeral"}
    tools = [{"name": "run_script", "input_schema": {"type": "object"}, "cache_control": cc}]
    first = anthropic_client.messages.create(
        model=MODEL, max_tokens=10, tools=tools, system=[{"type": "text", "text": "A" * 400}], messages=USER
    )
    second = anthropic_client.messages.create(  # same tools, new system: only the tools prefix is read
        model=MODEL, max_tokens=10, tools=tools, system="B" * 400, messages=USER, cache_control=cc
    )
    assert first.usage.cache_creation_input_tokens == second.usage.cache_read_input_tokens
    assert second.usage.cache_creation_input_tokens and second.usage.cache_creation_input_tokens > 100
    assert second.usage.input_tokens == 0  # top-level cache_control marks the last block


def test_prompt_cache_finds_the_previous_turn_behind_a_moving_breakpoint(anthropic_client: anthropic.Anthropic) -> None:
    cc = {"type": "ephemeral"}
    system = [{"type": "text", "text": "Index: " + "script line\n" * 50, "cache_control": cc}]
    turn1 = [{"role": "user", "content": [{"type": "text", "text": "question " * 80, "cache_control": cc}]}]
    first = anthropic_client.messages.create(model=MODEL, max_tokens=10, system=system, messages=turn1)
    turn2 = [{"role": "user", "content": [{"type": "text", "text": "question " * 80}]},   # marker moved on
             {"role": "assistant", "content": "Checking."},
             {"role": "user", "content": [{"type": "text", "text": "result " * 80, "cache_control": cc}]}]
    second = anthropic_client.messages.create(model=MODEL, max_tokens=10, system=system, messages=turn2)
    far = [*turn2[:2], *({"role": r, "content": "x"} for _ in range(10) for r in ("user", "assistant")),
           {"role": "user", "content": [{"type": "text", "text": "late " * 80, "cache_control": cc}]}]
    third = anthropic_client.messages.create(model=MODEL, max_tokens=10, system=system, messages=far)

    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens   # looked back
    assert second.usage.cache_creation_input_tokens > 0 and second.usage.input_tokens == 0
    # more than 20 blocks behind the breakpoint: only the system breakpoint's own entry is found
    assert third.usage.cache_read_input_tokens < first.usage.cache_creation_input_tokens


def test_429_with_retry_after_is_retried_after_that_wait(fake_anthropic: FakeAnthropic, monkeypatch) -> None:
    fake_anthropic.fail(429, retry_after=0.05)  # SDK honours retry-after > 0 as-is; 0 means backoff (~0.5 s)
    fake_anthropic.reply_text("ok after retry")
    with client_for(fake_anthropic, max_retries=2) as client:
        waits: list[float] = []
        sdk_wait = client._calculate_retry_timeout
        monkeypatch.setattr(client, "_calculate_retry_timeout", lambda *a, **kw: waits.append(sdk_wait(*a, **kw))
                            or waits[-1])
        msg = client.messages.create(model=MODEL, max_tokens=100, messages=USER)

    assert msg.content[0].text == "ok after retry"  # type: ignore[union-attr]
    assert [r.headers["x-stainless-retry-count"] for r in fake_anthropic.requests] == ["0", "1"]
    assert waits == [0.05]  # the fake's retry-after header, not the SDK's own backoff


def test_x_should_retry_false_stops_retries(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.fail(429, headers={"x-should-retry": "false"})
    with client_for(fake_anthropic, max_retries=2) as client, pytest.raises(anthropic.RateLimitError) as err:
        client.messages.create(model=MODEL, max_tokens=100, messages=USER)
    assert err.value.type == "rate_limit_error" and len(fake_anthropic.requests) == 1


def test_529_raises_overloaded(fake_anthropic: FakeAnthropic, anthropic_client: anthropic.Anthropic) -> None:
    fake_anthropic.fail(529)
    with pytest.raises(anthropic.OverloadedError) as err:
        anthropic_client.messages.create(model=MODEL, max_tokens=100, messages=USER)
    assert isinstance(err.value, anthropic.InternalServerError) and err.value.status_code == 529
    assert err.value.type == "overloaded_error" and err.value.request_id


def test_delay_beyond_timeout_raises_api_timeout(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.delay(1.0)
    with client_for(fake_anthropic, timeout=0.1) as client, pytest.raises(anthropic.APITimeoutError):
        client.messages.create(model=MODEL, max_tokens=100, messages=USER)


def test_count_tokens(fake_anthropic: FakeAnthropic, anthropic_client: anthropic.Anthropic) -> None:
    tools = [{"name": "run_script", "description": "Run a script", "input_schema": {"type": "object"}}]
    count = anthropic_client.messages.count_tokens(
        model=MODEL, system="You are opsbot.", tools=tools, messages=USER
    )
    assert count.input_tokens == estimate_input_tokens(
        {"system": "You are opsbot.", "tools": tools, "messages": USER}
    )
    assert fake_anthropic.requests[-1].path == "/v1/messages/count_tokens"
    assert fake_anthropic.pending == 0  # scripted turns are for /v1/messages only


def test_a_denser_tokenizer_counts_more_everywhere() -> None:
    body = {"system": "You are opsbot. " * 40, "messages": USER}
    with FakeAnthropic(chars_per_token=2.0) as dense, client_for(dense) as client:
        counted = client.messages.count_tokens(model=MODEL, **body).input_tokens
        used = client.messages.create(model=MODEL, max_tokens=10, **body).usage.input_tokens
    assert counted == used == estimate_input_tokens(body, 2.0) >= 2 * estimate_input_tokens(body) - 3


def test_missing_key_is_401(fake_anthropic: FakeAnthropic) -> None:
    # The SDK refuses to send without credentials, so omit the Authorization header it would add.
    client = client_for(fake_anthropic, default_headers={"Authorization": anthropic.omit})
    with client, pytest.raises(anthropic.AuthenticationError) as err:
        client.messages.create(model=MODEL, max_tokens=100, messages=USER)
    assert err.value.type == "authentication_error" and not fake_anthropic.requests[-1].had_key


def test_stream_is_server_sent_events(fake_anthropic: FakeAnthropic, anthropic_client: anthropic.Anthropic) -> None:
    fake_anthropic.reply_text("x" * 1000)
    fake_anthropic.reply_tool_use("run_script", {"name": "stripe.mrr"})
    with anthropic_client.messages.stream(model=MODEL, max_tokens=1000, messages=USER) as stream:
        kinds = [event.type for event in stream]
        message = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert {"content_block_start", "content_block_delta", "content_block_stop", "message_delta"} <= set(kinds)
    assert message.content[0].text == "x" * 1000 and message.stop_reason == "end_turn"  # type: ignore[union-attr]
    with anthropic_client.messages.stream(model=MODEL, max_tokens=1000, messages=USER) as stream:
        tool = stream.get_final_message()
    assert tool.content[0].input == {"name": "stripe.mrr"} and tool.stop_reason == "tool_use"  # type: ignore[union-attr]


def test_base_url_from_env(fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_anthropic.base_url)
    with anthropic.Anthropic(api_key="test-key", max_retries=0) as client:
        assert [m.id for m in client.models.list()] == fake_anthropic.models
    assert fake_anthropic.requests[-1].path == "/v1/models"


def test_context_manager_outside_pytest() -> None:
    with FakeAnthropic(model_behaviour=False) as fake:
        fake.reply_text("hi")
        with client_for(fake) as client:
            assert client.messages.create(model=MODEL, max_tokens=10, messages=USER).content[0].text == "hi"  # type: ignore[union-attr]
    with pytest.raises(RuntimeError):
        _ = fake.base_url
