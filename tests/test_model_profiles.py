"""bot/models.py: nothing a model rejects is ever sent (property tests over models and tiers), with
the fake's own reading of the docs (tests/fakes/anthropic_models.py) as the judge."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.llm import LLM
from bot.models import EFFORTS, PROFILES, conform, profile
from bot.pricing import PriceTable
from bot.tiers.budgets import Budgets
from tests.fakes import anthropic_models as m55
from tests.fakes.anthropic_server import FakeAnthropic

KNOWN = sorted(set(PROFILES) | set(m55.RULES))
MODELS = st.one_of(st.sampled_from(KNOWN), st.sampled_from(["claude-sonnet-5-5-20261001", "claude-opus-6",
                                                            "claude-haiku-5-7", "claude-next", "my-proxy-model"]))
TIER_BUDGETS = Budgets.from_settings(Settings())
TIERS = [TIER_BUDGETS.orchestrator, TIER_BUDGETS.premium, TIER_BUDGETS.stage1, TIER_BUDGETS.stage2]
EXTRAS = st.fixed_dictionaries({}, optional={
    "temperature": st.sampled_from([0.0, 0.2, 1.0]), "top_p": st.sampled_from([0.9, 1.0]), "top_k": st.just(5),
    "thinking": st.sampled_from([{"type": "enabled", "budget_tokens": 2048}, {"type": "disabled"},
                                 {"type": "adaptive"}]),
    "tool_choice": st.sampled_from([{"type": "any"}, {"type": "tool", "name": "run_script"}, {"type": "auto"},
                                    {"type": "none"}])})


def request(model: str, max_tokens: int, extras: dict, prefill: bool) -> dict:
    messages = [{"role": "user", "content": "hi"}]
    if prefill:
        messages.append({"role": "assistant", "content": "{"})
    return {"model": model, "max_tokens": max_tokens, "messages": messages, **extras}


@settings(max_examples=300, deadline=None)
@given(model=MODELS, tier=st.sampled_from(TIERS), effort=st.sampled_from(EFFORTS), extras=EXTRAS,
       prefill=st.booleans(), max_tokens=st.integers(1, 400_000))
def test_conform_never_leaves_what_the_model_rejects(model, tier, effort, extras, prefill, max_tokens) -> None:
    sent, _ = conform(request(model, max(tier.max_tokens, max_tokens), extras, prefill), effort)
    prof = profile(model)
    if model in m55.RULES:
        m55.check_request(sent)                      # the docs' rules, as the fake reads them
    assert sent["messages"][-1]["role"] == "user" or "prefill" not in prof.rejects
    assert sent["max_tokens"] <= prof.max_output
    if "sampling" in prof.rejects:
        assert not {"temperature", "top_p", "top_k"} & set(sent)
    if not prof.thinking_off:
        assert (sent.get("thinking") or {}).get("type") != "disabled"
    if "tool_choice.forced" in prof.rejects:
        assert (sent.get("tool_choice") or {}).get("type") not in ("any", "tool")
    effort_sent = (sent.get("output_config") or {}).get("effort")
    assert effort_sent is None or effort_sent in prof.efforts


def test_unknown_models_get_the_strictest_profile() -> None:
    strict = profile("some-proxy-model")
    assert {"sampling", "prefill", "thinking.enabled", "thinking.disabled", "tool_choice.forced"} <= strict.rejects
    assert strict.max_nonstreaming <= min(p.max_nonstreaming for p in PROFILES.values())
    assert profile("claude-sonnet-5-5-20261001").default_effort == "high"       # a dated id: its row


def test_profiles_cite_their_pages() -> None:
    for prof in PROFILES.values():
        assert "platform.claude.com/docs" in prof.source and "read 20" in prof.source
    assert profile("claude-sonnet-5-5").default_effort == "high"
    assert profile("claude-opus-5-5").default_effort == profile("claude-haiku-5-5").default_effort == "medium"
    assert profile("claude-opus-5-5").min_cache_tokens == 512 and not profile("claude-opus-5-5").thinking_off


@pytest.fixture(scope="module")
def fake() -> FakeAnthropic:
    with FakeAnthropic() as f:
        yield f


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model=st.sampled_from(sorted(m55.RULES)), tier=st.sampled_from(TIERS), extras=EXTRAS, prefill=st.booleans())
def test_every_tier_on_every_55_model_is_accepted_by_the_api(fake: FakeAnthropic, model, tier,
                                                             extras, prefill) -> None:
    import anthropic
    llm = LLM(anthropic.Anthropic(api_key="k", base_url=fake.base_url, max_retries=0), PriceTable())
    body = request(model, tier.max_tokens, extras, prefill)
    body.pop("model"), body.pop("max_tokens")
    choice = body.pop("tool_choice", None)
    body.pop("temperature", None), body.pop("top_p", None), body.pop("top_k", None), body.pop("thinking", None)
    tools = [{"name": "run_script", "description": "x", "input_schema": {"type": "object"}}] if choice else None
    response = llm.create(model=model, max_tokens=tier.max_tokens, effort=tier.effort, purpose="property",
                          tools=tools, tool_choice=choice, **body)
    assert response.message.content[0].type == "thinking"
    sent = fake.message_requests[-1].body
    assert sent["output_config"]["effort"] == tier.effort


def test_pricing_reread(tmp_path: Path) -> None:
    table = PriceTable()
    assert table.price("claude-sonnet-5-5").cache_read == 0.10
    small = table.cost("claude-haiku-5-5", input_tokens=50_000, output_tokens=1_000)
    big = table.cost("claude-haiku-5-5", input_tokens=150_000, output_tokens=1_000)
    assert small == pytest.approx((50_000 * 0.10 + 1_000 * 0.50) / 1e6)
    assert big == pytest.approx((150_000 * 0.50 + 1_000 * 2.50) / 1e6)
