"""bot/llm.py and bot/pricing.py: the real SDK against the local fake Messages API."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import anthropic
import pytest

from bot.config import Settings
from bot.ledger import Ledger
from bot.llm import LLM, LLMError, RetryPolicy, check_model, known_models
from bot.pricing import PriceTable, PricingError
from bot.redact import Redactor
from tests.fakes.anthropic_server import FakeAnthropic, Reply

MID = "claude-sonnet-5-5"
USER = [{"role": "user", "content": "hello"}]


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.db")


def make_llm(fake: FakeAnthropic, ledger: Ledger, *, retries: int = 2, timeout: float = 3.0, **kw) -> LLM:
    client = anthropic.Anthropic(api_key="test-key", base_url=fake.base_url, max_retries=0, timeout=timeout)
    policy = RetryPolicy(max_retries=retries, backoff_base_s=0.01, max_retry_wait_s=kw.pop("max_wait", 5.0))
    return LLM(client=client, pricing=PriceTable(), ledger=ledger, retry=policy, timeout_s=timeout, **kw)


# -- pricing ------------------------------------------------------------------------------------------


def test_pricing_known_dated_and_cache_prices() -> None:
    table = PriceTable()
    cost = table.cost("claude-opus-5-5", input_tokens=1_000_000, output_tokens=1_000_000,
                      cache_write_tokens=1_000_000, cache_read_tokens=1_000_000)
    assert cost == pytest.approx(4 + 20 + 5 + 0.2)                    # Opus 5.5's own rates, not Opus 5's
    assert table.price("claude-haiku-4-5-20251001") == table.price("claude-haiku-4-5")
    assert table.cost(MID, input_tokens=1000, output_tokens=100) == pytest.approx(0.002 + 0.001)


def test_every_price_cites_its_source_and_date() -> None:
    for model, price in PriceTable().prices.items():
        assert price.source.startswith("https://platform.claude.com/docs/") and "read 20" in price.source, model


def test_unknown_model_is_priced_like_its_class_with_a_warning(caplog) -> None:
    table = PriceTable()
    with caplog.at_level(logging.WARNING):
        assert table.price("claude-opus-9") == table.price("claude-opus-5-5")
        assert table.price("claude-opus-9") == table.price("claude-opus-5-5")
        most_expensive = max(table.prices.values(), key=lambda p: p.input + p.output)
        assert table.price("mystery-model") == most_expensive
    warnings = [r for r in caplog.records if "no price for model" in r.getMessage()]
    assert len(warnings) == 2                                   # once per model


def test_pricing_file_overrides(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("source: test sheet 2026-05-01\nmodels:\n  claude-opus-5-5: {input: 10, output: 50}\n"
                    "  custom-model: {input: 1, output: 2, cache_write: 0, cache_read: 0}\n")
    table = PriceTable.load(path)
    assert table.price("claude-opus-5-5").input == 10 and table.price("claude-opus-5-5").cache_read == 1.0
    assert table.price("custom-model").output == 2 and table.price(MID) == PriceTable().price(MID)
    assert table.source.startswith("test sheet 2026-05-01") and table.price("custom-model").source == \
        "test sheet 2026-05-01"
    path.write_text("models: [1, 2]\n")
    with pytest.raises(PricingError, match="BOT_PRICING_FILE"):
        PriceTable.load(path)


def test_default_models_are_current() -> None:
    settings = Settings(_env_file=None)
    for model in (settings.bot_model_mid, settings.bot_model_premium):
        assert model in known_models() and check_model(model, "X") is None
        assert "sonnet-4-5" not in model
    assert "deprecated" in (check_model("claude-sonnet-4-5", "BOT_MODEL_MID") or "")
    assert "not a model id" in (check_model("claude-nonsense", "BOT_MODEL_MID") or "")
    assert set(PriceTable().prices) >= {settings.bot_model_mid, settings.bot_model_premium}


# -- calls ----------------------------------------------------------------------------------------------


def test_call_records_tokens_cache_cost_latency_and_stop_reason(fake_anthropic: FakeAnthropic, ledger: Ledger) -> None:
    llm = make_llm(fake_anthropic, ledger)
    system = [{"type": "text", "text": "index line\n" * 200, "cache_control": {"type": "ephemeral"}}]
    first = llm.create(model=MID, system=system, messages=USER, max_tokens=2000, effort="low", purpose="test", request_id="r1")
    second = llm.create(model=MID, system=system, messages=USER, max_tokens=2000, effort="low", purpose="test", request_id="r1")

    assert first.usage.cache_write_tokens > 0 and second.usage.cache_read_tokens == first.usage.cache_write_tokens
    assert second.usage.cost_usd < first.usage.cost_usd
    rows = ledger.llm_calls_for("r1")
    assert [r["cache_write_tokens"] for r in rows] == [first.usage.cache_write_tokens, 0]
    assert [r["cache_read_tokens"] for r in rows] == [0, first.usage.cache_write_tokens]
    assert all(r["stop_reason"] == "end_turn" and r["latency_ms"] > 0 and r["error"] is None for r in rows)
    assert rows[0]["cost_usd"] == pytest.approx(first.usage.cost_usd)
    assert first.text == "echo: hello" and first.stop_reason == "end_turn"


def test_429_retry_after_is_honoured(fake_anthropic: FakeAnthropic, ledger: Ledger) -> None:
    slept: list[float] = []
    llm = make_llm(fake_anthropic, ledger, sleep=slept.append)
    fake_anthropic.fail(429, retry_after=1.5)
    fake_anthropic.reply_text("ok")
    response = llm.create(model=MID, messages=USER, max_tokens=2000, effort="low", purpose="test", request_id="r")
    assert response.text == "ok" and response.attempts == 2 and slept == [1.5]
    rows = ledger.llm_calls_for("r")
    assert "429 rate_limited" in rows[0]["error"] and rows[1]["error"] is None


def test_retry_after_beyond_the_cap_fails_fast(fake_anthropic: FakeAnthropic, ledger: Ledger) -> None:
    slept: list[float] = []
    llm = make_llm(fake_anthropic, ledger, max_wait=5.0, sleep=slept.append)
    fake_anthropic.fail(429, retry_after=3600)
    with pytest.raises(LLMError) as err:
        llm.create(model=MID, messages=USER, max_tokens=2000, effort="low", purpose="test")
    assert slept == [] and len(fake_anthropic.message_requests) == 1
    assert err.value.kind == "rate_limited" and err.value.unavailable


def test_529_retried_with_backoff_then_gives_up(fake_anthropic: FakeAnthropic, ledger: Ledger) -> None:
    slept: list[float] = []
    llm = make_llm(fake_anthropic, ledger, retries=2, sleep=slept.append)
    for _ in range(3):
        fake_anthropic.fail(529)
    with pytest.raises(LLMError) as err:
        llm.create(model=MID, messages=USER, max_tokens=2000, effort="low", purpose="test", request_id="r")
    assert err.value.kind == "overloaded" and err.value.status == 529 and err.value.attempts == 3
    assert len(slept) == 2 and slept[0] < slept[1] and "overloaded" in err.value.describe()
    assert len(ledger.llm_calls_for("r")) == 3


def test_400_is_not_retried(fake_anthropic: FakeAnthropic, ledger: Ledger) -> None:
    llm = make_llm(fake_anthropic, ledger)
    fake_anthropic.fail(400, message="messages: bad")
    with pytest.raises(LLMError) as err:
        llm.create(model=MID, messages=USER, max_tokens=2000, effort="low", purpose="test")
    assert err.value.kind == "bad_request" and not err.value.unavailable
    assert len(fake_anthropic.message_requests) == 1


def test_x_should_retry_false_is_respected(fake_anthropic: FakeAnthropic, ledger: Ledger) -> None:
    llm = make_llm(fake_anthropic, ledger)
    fake_anthropic.fail(529, headers={"x-should-retry": "false"})
    with pytest.raises(LLMError):
        llm.create(model=MID, messages=USER, max_tokens=2000, effort="low", purpose="test")
    assert len(fake_anthropic.message_requests) == 1


def test_timeout_is_per_call_and_not_retried(fake_anthropic: FakeAnthropic, ledger: Ledger) -> None:
    llm = make_llm(fake_anthropic, ledger, timeout=0.1)
    fake_anthropic.delay(1.0)
    with pytest.raises(LLMError) as err:
        llm.create(model=MID, messages=USER, max_tokens=2000, effort="low", purpose="test", request_id="r")
    assert err.value.kind == "timeout" and len(fake_anthropic.message_requests) == 1
    assert "timeout" in ledger.llm_calls_for("r")[0]["error"]


def test_connection_errors_are_retried(ledger: Ledger) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]           # nothing listens once closed
    client = anthropic.Anthropic(api_key="k", base_url=f"http://127.0.0.1:{port}", max_retries=0, timeout=1.0)
    slept: list[float] = []
    llm = LLM(client=client, pricing=PriceTable(), ledger=ledger, sleep=slept.append,
              retry=RetryPolicy(max_retries=2, backoff_base_s=0.01))
    with pytest.raises(LLMError) as err:
        llm.create(model=MID, messages=USER, max_tokens=2000, effort="low", purpose="test", request_id="r")
    assert err.value.kind == "connection" and len(slept) == 2 and len(ledger.llm_calls_for("r")) == 3


def test_prompts_are_redacted(fake_anthropic: FakeAnthropic, ledger: Ledger) -> None:
    llm = make_llm(fake_anthropic, ledger, redactor=Redactor(["hunter2-very-secret"]))
    llm.create(model=MID, system="key sk-ant-abcdefghijkl", max_tokens=2000, effort="low", purpose="test",
               messages=[{"role": "user", "content": [{"type": "text", "text": "pw hunter2-very-secret"}]}])
    body = str(fake_anthropic.message_requests[0].body)
    assert "hunter2-very-secret" not in body and "sk-ant-abcdefghijkl" not in body and "[REDACTED]" in body


def test_error_text_is_redacted_before_the_ledger(fake_anthropic: FakeAnthropic, ledger: Ledger) -> None:
    llm = make_llm(fake_anthropic, ledger, redactor=Redactor(["hunter2-very-secret"]))
    fake_anthropic.fail(400, message="gateway: header x-db-password=hunter2-very-secret not allowed")
    with pytest.raises(LLMError) as err:
        llm.create(model=MID, messages=USER, max_tokens=2000, effort="low", purpose="test", request_id="r")
    assert "hunter2" not in str(err.value) and "[REDACTED]" in ledger.llm_calls_for("r")[0]["error"]


def test_thinking_blocks_go_back_unmodified(fake_anthropic: FakeAnthropic, ledger: Ledger) -> None:
    """The API rejects a modified thinking block (its signature covers the text), so the redactor, which
    would rewrite a secret-looking word in it, leaves it alone - the text came from the model anyway."""
    llm = make_llm(fake_anthropic, ledger, redactor=Redactor(["postgres-prod-pw"]))
    fake_anthropic.enqueue(Reply(content=[
        {"type": "thinking", "thinking": "The DSN uses postgres-prod-pw; do not repeat it."},
        {"type": "text", "text": "Checking postgres-prod-pw."}]))
    first_turn = [{"role": "user", "content": "why does postgres-prod-pw fail?"}]
    first = llm.create(model=MID, max_tokens=2000, effort="low", purpose="test", messages=first_turn)
    thinking = first.message.content[0].model_dump(exclude_none=True)
    assert thinking["thinking"] == "The DSN uses postgres-prod-pw; do not repeat it."
    llm.create(model=MID, max_tokens=2000, effort="low", purpose="test", messages=[   # a 400 if it were altered
        *first_turn, first.message.to_param(), {"role": "user", "content": "go on"}])
    sent = fake_anthropic.message_requests[1].messages
    assert sent[1]["content"][0] == thinking
    assert "postgres-prod-pw" not in str([sent[0], sent[1]["content"][1], sent[2]])


def test_from_settings_honours_base_url_and_sdk_env(fake_anthropic: FakeAnthropic, ledger: Ledger, monkeypatch,
                                                     tmp_path: Path) -> None:
    settings = Settings(anthropic_api_key="k", anthropic_base_url=fake_anthropic.base_url, bot_home=tmp_path,
                        bot_llm_timeout_s=7.0, bot_llm_max_retries=4)
    llm = LLM.from_settings(settings, ledger=ledger)
    assert llm.client.max_retries == 0 and llm.timeout_s == 7.0 and llm.retry.max_retries == 4
    assert llm.create(model=MID, messages=USER, max_tokens=2000, effort="low", purpose="t").text == "echo: hello"

    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_anthropic.base_url)      # the SDK's own variable
    env_settings = Settings(anthropic_api_key="k", bot_home=tmp_path)
    assert env_settings.anthropic_base_url == fake_anthropic.base_url
    plain = Settings(anthropic_api_key="k", anthropic_base_url=None, bot_home=tmp_path)
    llm = LLM.from_settings(plain, ledger=ledger)
    assert str(llm.client.base_url).rstrip("/") == fake_anthropic.base_url


def test_deprecated_model_is_logged_at_start(ledger: Ledger, caplog, tmp_path: Path) -> None:
    settings = Settings(anthropic_api_key="k", bot_model_mid="claude-sonnet-4-5", bot_home=tmp_path,
                        anthropic_base_url="http://127.0.0.1:9")
    with caplog.at_level(logging.WARNING):
        LLM.from_settings(settings, ledger=ledger)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("BOT_MODEL_MID=claude-sonnet-4-5 is deprecated (end of life November 30th, 2026); set a current "
               "id such as claude-sonnet-5-5" in w for w in warnings), warnings
    assert not any("BOT_MODEL_PREMIUM" in w for w in warnings)


def test_from_settings_redacts_without_being_given_a_redactor(fake_anthropic: FakeAnthropic, ledger: Ledger,
                                                               monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEMO_TOKEN", "hunter2-very-secret")
    settings = Settings(anthropic_api_key="sk-ant-test-key-1234", anthropic_base_url=fake_anthropic.base_url,
                        bot_home=tmp_path)
    llm = LLM.from_settings(settings, ledger=ledger)
    llm.create(model=MID, max_tokens=2000, effort="low", purpose="test",
               messages=[{"role": "user", "content": "pw hunter2-very-secret, key sk-ant-test-key-1234"}])
    body = str(fake_anthropic.message_requests[0].body)
    assert "hunter2-very-secret" not in body and "sk-ant-test-key-1234" not in body and "[REDACTED]" in body


def test_count_tokens_uses_the_api(fake_anthropic: FakeAnthropic, ledger: Ledger) -> None:
    llm = make_llm(fake_anthropic, ledger)
    n = llm.count_tokens(model=MID, system="You are opsbot.", messages=USER)
    assert n == fake_anthropic.requests[-1].input_tokens and n > 0
