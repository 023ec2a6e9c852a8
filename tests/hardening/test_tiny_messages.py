"""Precision on tiny messages (issue 11, item 2): acknowledgements, single words, bare verbs and emoji
never run a script; only `run NAME` or a registry pattern matching the whole message can."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.config import PROJECT_ROOT, load_settings
from bot.pipeline import OpsBot
from bot.registry import load_registry
from bot.request import Incoming
from bot.router import PreRouter
from bot.tiny_messages import content_words, is_acknowledgement

REGISTRY = load_registry(PROJECT_ROOT / "registry")
ROUTER = PreRouter(REGISTRY)
TINY = yaml.safe_load((PROJECT_ROOT / "bench" / "corpus" / "tiny.yaml").read_text())


def route_lines(monkeypatch: pytest.MonkeyPatch, capsys, lines: list[str]) -> list[dict]:
    """`printf '…' | bot route`, in-process: one JSON decision per line."""
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"{line}\n" for line in lines)))
    assert main(["route"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_filler_words_from_the_issue_route_to_no_script(monkeypatch, capsys) -> None:
    decisions = route_lines(monkeypatch, capsys, ["ok", "got it", "run", "done"])
    assert [d["text"] for d in decisions] == ["ok", "got it", "run", "done"]
    assert [d["script"] for d in decisions] == [None] * 4
    assert {d["tier"] for d in decisions} == {"orchestrator"}


def test_the_tiny_corpus_routes_none_to_a_script(monkeypatch, capsys) -> None:
    assert len(TINY) >= 60 and all(item["script"] is None for item in TINY)
    decisions = route_lines(monkeypatch, capsys, [item["text"] for item in TINY])
    assert len(decisions) == len(TINY)
    assert [d["text"] for d in decisions if d["tier"] == "script"] == []


def test_whole_message_patterns_and_the_explicit_form_still_work_on_short_text() -> None:
    assert ROUTER.route("ABC-991").script == "jira.issue"              # a pattern matches it whole
    assert ROUTER.route("MRR?").script == "stripe.mrr"
    assert ROUTER.route("run ops.system-load").script == "ops.system-load"
    assert ROUTER.route("uptime?").script == "ops.system-load"


def test_acknowledgements_are_recognised_and_requests_are_not() -> None:
    for text in ("ok", "thanks!", "got it, thanks", "👍", "ok 👍", ":+1:", "thank you so much", "cool"):
        assert is_acknowledgement(text), text
    for text in ("ok run ops.disk-usage", "yes", "?", "done", "thanks, now show open prs", "ok what is the mrr"):
        assert not is_acknowledgement(text), text


WORDS = sorted({w for vocab in ROUTER._vocab.values() for w in vocab if w.isalpha()})
FILLER = ["ok", "thanks", "please", "the", "is", "it", "what", "now", "yes", "hey", "got", "cool", "my"]
PIECES = st.one_of(st.sampled_from(WORDS), st.sampled_from(FILLER),
                   st.sampled_from(["👍", "🙏", "✅", ":+1:", "?", "!", "...", "#ops", "<@U123>"]),
                   st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=8))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(PIECES, min_size=1, max_size=4), st.sampled_from([" ", ", ", "  "]),
       st.sampled_from(["", "?", "!", "."]))
def test_fewer_than_two_content_words_never_route_to_a_script_unless_a_pattern_matches_whole(
        pieces: list[str], sep: str, end: str) -> None:
    text = sep.join(pieces) + end
    assume(len(content_words(text)) < 2)
    decision = ROUTER.route(text)
    if decision.tier == "script" and not decision.explicit:
        bare = " ".join(text.split()).rstrip(" ?!.")
        assert any(pattern.fullmatch(bare) for _, pattern in ROUTER._patterns), (text, decision.reason)


@pytest.fixture
def bot(tmp_path: Path) -> OpsBot:
    (tmp_path / "home").mkdir()
    settings = load_settings(bot_home=tmp_path / "home", bot_registry=PROJECT_ROOT / "registry",
                             bot_scripts=PROJECT_ROOT / "scripts", bot_skills=PROJECT_ROOT / "skills",
                             anthropic_api_key=None)
    return OpsBot(settings, environ={"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home")})


def test_an_acknowledgement_is_answered_at_zero_tokens_and_runs_nothing(bot: OpsBot) -> None:
    for text in ("ok", "thanks 👍", "got it"):
        reply = bot.handle(Incoming(text, user="U1", channel="C1", source="slack"))
        assert (reply.text, reply.outcome, reply.tier, reply.tokens) == ("👍", "ok", "none", 0)
        row = bot.ledger.decisions_for(reply.request_id)[0]
        assert (row["tier"], row["decided_by"], row["script"]) == ("none", "pre-router", None)
    assert list(bot.ledger.db["script_runs"].rows) == []
