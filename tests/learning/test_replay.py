"""`bot replay` re-routes recorded requests under today's registry and flags possible regressions."""

from __future__ import annotations

from bot.learn_ops import reload
from bot.replay import replay
from bot.request import Incoming
from tests.learning.small import month_ago, small_bot, write_small
from tests.learning.test_learn_rules import ask

ROOMY = "how roomy are the host's drives?"
SPACE = "any space left on the host's drives"


def test_replay_reports_changes_zero_token_gains_and_regressions(tmp_path, fake_anthropic):
    write_small(tmp_path)
    bot = small_bot(tmp_path, fake_anthropic)
    scripted = bot.handle(Incoming("how full is the disk", source="slack", user="U1"))    # unchanged
    other = ask(bot, fake_anthropic, ROOMY, "demo.load")            # the model answered with another script
    down = ask(bot, fake_anthropic, SPACE, "demo.disk")
    bot.ledger.set_feedback(down.request_id, "down")                 # … and this answer got a 👎
    ask(bot, fake_anthropic, "tell me a joke about disks", "demo.disk")
    assert replay(bot.ledger, bot.registry, month_ago()).to_json() == {
        "requests": 4, "changed": 0, "now_zero_token": 0, "regressions": 0, "changes": []}

    # A registry edit: a hand-written learned example that catches both drive phrasings for demo.disk.
    (tmp_path / "registry" / "learned.yaml").write_text(
        "examples:\n  - {script: demo.disk, text: how roomy are the host's drives}\n"
        "  - {script: demo.disk, text: any space left on the host's drives}\n")
    reload(bot)
    result = replay(bot.ledger, bot.registry, month_ago())
    data = result.to_json()
    assert (data["requests"], data["changed"], data["now_zero_token"], data["regressions"]) == (4, 2, 2, 2)
    assert {(c["request"], c["was"], c["now"]) for c in data["changes"]} == {
        (other.request_id, "orchestrator", "demo.disk"), (down.request_id, "orchestrator", "demo.disk")}
    why = {c.past.id: c.regression for c in result.regressions}
    assert why[other.request_id] == "answered by demo.load, would now run demo.disk"
    assert why[down.request_id].startswith("a person gave 👎")
    assert scripted.request_id not in {c["request"] for c in data["changes"]}
    bot.ledger.close()
