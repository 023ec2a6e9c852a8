"""Small pieces of the Slack side, without a server."""

from __future__ import annotations

import threading
import time

import pytest
from slack_sdk.errors import SlackApiError

from bot.ratelimit import UserRateLimiter
from bot.request import Artifact, Reply
from bot.slack import blocks as bk
from bot.slack.delivery import AckGate, dedupe_key
from bot.slack.directory import TTLCache
from bot.slack.webclient import make_web_client
from tests.fakes.slack_server import GENERAL, FakeSlack


def test_rate_limiter_refills_per_user():
    now = [0.0]
    limiter = UserRateLimiter(2, clock=lambda: now[0])
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("a") == pytest.approx(30.0)       # one token every 30 s at 2/min
    assert limiter.take("b") == 0
    now[0] = 30.0
    assert limiter.take("a") == 0 and limiter.take("a") > 0


def test_ttl_cache_expires_and_evicts():
    now = [0.0]
    cache = TTLCache(max_entries=2, clock=lambda: now[0])
    cache.set("a", 1, 10)
    cache.set("b", 2, 10)
    cache.set("c", 3, 10)
    assert cache.get("a") is None and cache.get("b") == 2
    now[0] = 11
    assert cache.get("b") is None


def test_dedupe_keys():
    assert dedupe_key({"type": "event_callback", "event_id": "Ev1"}) == "slack:event:Ev1"
    assert dedupe_key({"command": "/run", "trigger_id": "t1"}) == "slack:trigger:t1"
    assert dedupe_key({"type": "block_actions", "trigger_id": "t2"}) == "slack:trigger:t2"
    assert dedupe_key({"type": "url_verification"}) is None


def test_long_text_is_split_at_lines_and_summarised():
    text = "\n".join(f"line {i:04d} " + "x" * 60 for i in range(200))
    chunks = bk.split_text(text)
    assert all(len(c) <= bk.SECTION_LIMIT for c in chunks) and "".join(chunks).count("line") == 200
    reply = Reply(text, "r1", tier="script", script="demo.big", artifact=Artifact("big.txt", text))
    assert bk.is_long(reply)
    summary = bk.long_summary(reply, "big.txt", text)
    assert summary.startswith("```line 0000") and "(200 lines, " in summary and len(summary) < 1000


def test_ack_gate_holds_work_while_acks_are_in_flight():
    gate = AckGate(max_wait_s=5)
    started = threading.Event()
    with gate:
        worker = threading.Thread(target=lambda: (gate.wait(), started.set()))
        worker.start()
        assert not started.wait(0.05)
    assert started.wait(2)
    worker.join()
    quick = time.monotonic()
    gate.wait()                                   # nothing in flight: no wait at all
    assert time.monotonic() - quick < 0.01


def test_retry_after_longer_than_the_cap_fails_fast(fake_slack: FakeSlack):
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=3600)
    client = make_web_client(fake_slack.bot_token, fake_slack.api_url)
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel=GENERAL, text="x")
    assert limited.value.response.status_code == 429
    assert len(fake_slack.calls_to("chat.postMessage")) == 1      # given up at once: no wait, no retry
