"""Write scripts: an ephemeral Confirm/Cancel for the requester only, run once, expiry, all in the ledger."""

from __future__ import annotations

import threading

from bot.slack import blocks as bk
from tests.fakes.slack_server import ALICE, BOB, GENERAL, FakeSlack
from tests.slack.helpers import block_texts, bot_posts, button, click, runs, thread_reply


def _prompt_via_run(fake: FakeSlack) -> dict:
    fake.send_slash_command("/run", 'demo.restart --service "api gateway"')
    return fake.wait_for(lambda: fake.responses)[0]


def _confirmation(sb, confirmation_id: str) -> dict:
    return next(sb.ledger.db["confirmations"].rows_where("id = ?", [confirmation_id]))


def test_confirm_by_the_requester_runs_it_once_and_someone_else_is_refused(connected, fake_slack: FakeSlack, root):
    prompt = _prompt_via_run(fake_slack)
    assert prompt["response_type"] == "ephemeral" and prompt["_context"]["user"] == ALICE
    text = block_texts(prompt)[0]
    assert '```demo.restart --service "api gateway"```' in text and f"Only <@{ALICE}> can confirm" in text
    confirmation_id = button(prompt, bk.CONFIRM_ACTION)["value"]
    assert button(prompt, bk.CANCEL_ACTION)["value"] == confirmation_id
    assert runs(root) == []

    before = click(fake_slack, bk.CONFIRM_ACTION, confirmation_id, BOB)
    refused = fake_slack.wait_for(lambda: fake_slack.responses[before:])[0]
    assert refused["text"] == f"Only <@{ALICE}> can confirm this." and not refused.get("replace_original")
    connected.drain()
    assert runs(root) == [] and _confirmation(connected, confirmation_id)["status"] == "pending"

    before = click(fake_slack, bk.CONFIRM_ACTION, confirmation_id, ALICE)
    result = fake_slack.wait_for(lambda: bot_posts(fake_slack))[0]
    section, context = block_texts(result)
    assert section == "restarted --service=api gateway"
    assert context.startswith(f"<@{ALICE}> via confirmation · script `demo.restart`")
    connected.drain()
    updates = [r["text"] for r in fake_slack.responses[before:]]
    assert updates[0].startswith(":hourglass_flowing_sand: Running `demo.restart") and "confirmed" in updates[-1]

    before = click(fake_slack, bk.CONFIRM_ACTION, confirmation_id, ALICE)   # a second click
    assert fake_slack.wait_for(lambda: fake_slack.responses[before:])[0]["text"] == "Already confirmed."
    connected.drain()
    assert runs(root) == ["--service=api gateway"]
    row = _confirmation(connected, confirmation_id)
    assert (row["status"], row["decided_by"]) == ("confirmed", ALICE)
    reasons = [d["reason"] for d in connected.ledger.decisions_for(row["request_id"])]
    assert any(f"{BOB} is not the requester" in r for r in reasons)
    assert connected.ledger.get_request(row["request_id"])["outcome"] == "ok"


def test_simultaneous_confirm_clicks_run_once(connected, fake_slack: FakeSlack, root):
    confirmation_id = button(_prompt_via_run(fake_slack), bk.CONFIRM_ACTION)["value"]
    threads = [threading.Thread(target=click, args=(fake_slack, bk.CONFIRM_ACTION, confirmation_id, ALICE))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fake_slack.wait_for(lambda: bot_posts(fake_slack))
    connected.drain()
    assert runs(root) == ["--service=api gateway"]


def test_write_asked_for_by_mention_prompts_the_requester_in_the_thread(connected, fake_slack: FakeSlack, root):
    event = fake_slack.app_mention("run demo.restart --service web")
    fake_slack.send_event(event)
    prompt = fake_slack.wait_for(lambda: fake_slack.ephemerals)[0]
    assert (prompt["recipient"], prompt["thread_ts"], prompt["channel"]) == (ALICE, event["ts"], GENERAL)
    confirmation_id = button(prompt, bk.CONFIRM_ACTION)["value"]
    click(fake_slack, bk.CONFIRM_ACTION, confirmation_id, ALICE, message_ts=prompt["ts"])
    reply = thread_reply(fake_slack, event)[0]
    assert block_texts(reply)[0] == "restarted --service=web"
    connected.drain()
    assert runs(root) == ["--service=web"]


def test_cancel_is_recorded_and_nothing_runs(connected, fake_slack: FakeSlack, root):
    confirmation_id = button(_prompt_via_run(fake_slack), bk.CANCEL_ACTION)["value"]
    before = click(fake_slack, bk.CANCEL_ACTION, confirmation_id, ALICE)
    response = fake_slack.wait_for(lambda: fake_slack.responses[before:])[0]
    assert response["replace_original"] and response["text"] == "Cancelled: `demo.restart` did not run."
    connected.drain()
    row = _confirmation(connected, confirmation_id)
    assert (row["status"], row["decided_by"]) == ("cancelled", ALICE)
    assert connected.ledger.get_request(row["request_id"])["outcome"] == "cancelled"
    assert runs(root) == []


def test_expired_confirmation_is_recorded_and_cannot_run(connected, fake_slack: FakeSlack, root):
    confirmation_id = button(_prompt_via_run(fake_slack), bk.CONFIRM_ACTION)["value"]
    connected.ledger.db.execute("UPDATE confirmations SET expires_at = '2000-01-01T00:00:00+00:00' WHERE id = ?",
                                [confirmation_id])
    assert connected.sweep()["expired"] == 1
    row = _confirmation(connected, confirmation_id)
    assert row["status"] == "expired"
    request = connected.ledger.get_request(row["request_id"])
    assert (request["outcome"], request["error"]) == ("cancelled", "confirmation expired")
    before = click(fake_slack, bk.CONFIRM_ACTION, confirmation_id, ALICE)
    assert fake_slack.wait_for(lambda: fake_slack.responses[before:])[0]["text"] == "Already expired."
    connected.drain()
    assert runs(root) == []


def test_expiry_is_checked_at_the_click_too(connected, fake_slack: FakeSlack, root):
    confirmation_id = button(_prompt_via_run(fake_slack), bk.CONFIRM_ACTION)["value"]
    connected.ledger.db.execute("UPDATE confirmations SET expires_at = '2000-01-01T00:00:00+00:00' WHERE id = ?",
                                [confirmation_id])
    before = click(fake_slack, bk.CONFIRM_ACTION, confirmation_id, ALICE)
    text = fake_slack.wait_for(lambda: fake_slack.responses[before:])[0]["text"]
    assert text.startswith("This confirmation expired")
    connected.drain()
    assert _confirmation(connected, confirmation_id)["status"] == "expired" and runs(root) == []
