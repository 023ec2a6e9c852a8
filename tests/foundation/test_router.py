"""The pre-router: explicit forms, patterns, similarity — and precision before recall."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import PROJECT_ROOT
from bot.registry import load_registry
from bot.router import PreRouter

REGISTRY = load_registry(PROJECT_ROOT / "registry")
ROUTER = PreRouter(REGISTRY)


def route(text):
    return ROUTER.route(text)


def test_explicit_form_wins_and_parses_args():
    decision = route("run ops.disk-usage --path /var/log")
    assert (decision.tier, decision.script, decision.explicit) == ("script", "ops.disk-usage", True)
    assert decision.args["path"] == "/var/log"
    assert route("/run ops.disk-usage --path=/tmp").args["path"] == "/tmp"


def test_explicit_form_with_bad_args_answers_with_usage():
    decision = route("run ops.disk-usage --colour red")
    assert decision.tier == "script" and decision.error
    assert "unknown argument --colour" in decision.error
    assert "usage:" in decision.usage


def test_explicit_unknown_script_is_an_error_not_a_guess():
    decision = route("run ops.disk-usag")
    assert decision.error and "no script `ops.disk-usag`" in decision.error
    assert decision.args == {}


def test_slack_mentions_are_ignored():
    decision = route("<@U0BOT123> how full is the disk?")
    assert (decision.tier, decision.script) == ("script", "ops.disk-usage")


@pytest.mark.parametrize("text", [
    "how do I check disk usage on linux?",
    "why is the disk filling up so fast?",
    "write a script that checks disk usage every hour",
    "explain what disk usage means",
    "how can we reduce disk usage",
    "what if the disk gets full?",
    "should we buy bigger disks?",
    "",
    "   ",
    "thanks!",
    "summarise this thread",
])
def test_near_misses_go_to_the_orchestrator(text):
    decision = route(text)
    assert decision.tier == "orchestrator", decision
    assert decision.script is None or decision.missing


def test_write_scripts_are_never_matched_implicitly():
    writes = [e for e in REGISTRY.scripts.values() if e.is_write]
    for entry in writes:
        for example in entry.examples or [entry.summary]:
            decision = route(example)
            assert decision.script != entry.name or decision.tier != "script", (entry.name, example)


def test_explicit_write_script_needs_confirmation():
    writes = [e for e in REGISTRY.scripts.values() if e.is_write]
    if not writes:
        pytest.skip("no write scripts registered")
    entry = writes[0]
    args = " ".join(f"--{a.name}=x1" for a in entry.args if a.required and a.type in ("string",))
    decision = route(f"run {entry.name} {args}")
    if decision.error is None:
        assert decision.needs_confirmation


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_nor_runs_a_write_script_unconfirmed(text):
    decision = route(text)
    assert decision.tier in ("script", "orchestrator")
    if decision.tier == "script" and decision.script and decision.error is None:
        entry = REGISTRY.scripts[decision.script]
        assert decision.needs_confirmation == entry.is_write


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(REGISTRY.scripts)), st.text(alphabet=st.characters(blacklist_categories=["Cs"]),
                                                          max_size=60))
def test_run_prefix_with_arbitrary_tail_never_crashes(name, tail):
    decision = route(f"run {name} {tail}")
    assert decision.tier == "script"
    if decision.error is None:
        assert decision.needs_confirmation == REGISTRY.scripts[name].is_write
