"""The learning loop inside a running bot: 👎 → a negative, /ops learn → suggestions to apply or skip,
and the heartbeat's line about what could have cost 0 tokens.

Every change goes to learned.yaml (bot/learned.py) and then this process reloads its registry and
pre-router, so the change applies to the next message. Other replicas pick it up when they restart.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING

from bot.learned import LearnedNegative, LearnedWriteError, today, update_learned
from bot.registry import load_registry

if TYPE_CHECKING:
    from bot.jobs.checks import Check
    from bot.learning import LearnResult, Suggestion
    from bot.pipeline import OpsBot

log = logging.getLogger(__name__)

LEARN_WINDOW = dt.timedelta(days=30)
SKIPPED_STATE = "learning.skipped"


def is_admin(bot: OpsBot, user: str | None) -> bool:
    """BOT_ADMINS (comma-separated Slack user ids). The local operator (console, no user) is one."""
    return user is None or user in bot.settings.admins


def reload(bot: OpsBot) -> None:
    """Pick up learned.yaml in this process: a new registry and pre-router for the next message."""
    s = bot.settings
    bot.use_registry(load_registry(s.bot_registry, s.bot_skills, s.bot_scripts))


def record_negative(bot: OpsBot, request_id: str) -> str | None:
    """A 👎 on a script answer: its phrasing becomes a negative for that script. Returns the script, or None
    when the answer was not a routed script (an explicit `run`, a direct answer) or nothing was written."""
    request = bot.ledger.get_request(request_id)
    decisions = bot.ledger.decisions_for(request_id)
    first = decisions[0] if decisions else None
    if request is None or first is None or first["decided_by"] not in ("pre-router", "orchestrator"):
        return None
    runs = bot.ledger.script_runs_for(request_id)
    script = first["script"] or (runs[0]["script"] if len(runs) == 1 else None)
    if first["tier"] != "script" or not script or script not in bot.registry.scripts:
        return None
    text = (request.get("text") or "").strip()[:300]
    if not text:
        return None
    try:
        _, added = update_learned(bot.settings.bot_registry, negatives=[
            LearnedNegative(script=script, text=text, request=request_id, added=today())])
    except LearnedWriteError as exc:
        log.warning("could not record the 👎 on %s as a negative: %s", request_id, exc)
        return None
    if added:
        reload(bot)
        log.info("👎 on %s: %r is now a negative for %s", request_id, text, script)
    return script


def skipped(bot: OpsBot) -> set[str]:
    return skipped_in(bot.ledger)


def skipped_in(ledger) -> set[str]:
    """Suggestions an admin skipped in /ops learn (script|example), kept in the ledger's state table."""
    raw = ledger.get_state(SKIPPED_STATE)
    try:
        return set(json.loads(raw)) if raw else set()
    except ValueError:
        return set()


def suggestions(bot: OpsBot, since: dt.timedelta = LEARN_WINDOW) -> LearnResult:
    from bot.learning import corpus_dir, learn, load_corpus

    return learn(bot.ledger, bot.registry, dt.datetime.now(dt.UTC) - since,
                 corpus=load_corpus(corpus_dir(bot.settings.bot_registry)), skipped=skipped(bot))


def find(bot: OpsBot, key: str) -> Suggestion | None:
    return next((s for s in suggestions(bot).suggestions if s.key == key), None)


def apply_one(bot: OpsBot, key: str) -> str:
    """Apply the suggestion `key` (script|example) if it is still suggested; a line saying what happened."""
    from bot.learning import apply

    suggestion = find(bot, key)
    if suggestion is None:
        return "That suggestion is no longer open (applied, skipped, or refused since). `/ops learn` lists the current ones."
    try:
        added = apply(bot.settings.bot_registry, [suggestion])
    except LearnedWriteError as exc:
        return f"Could not write learned.yaml: {exc}"
    reload(bot)
    what = "Learned" if added else "Already in learned.yaml"
    return f"{what}: “{suggestion.example}” → `{suggestion.script}` now answers at 0 tokens."


def skip_one(bot: OpsBot, key: str, user: str | None) -> str:
    keys = skipped(bot) | {key}
    bot.ledger.set_state(SKIPPED_STATE, json.dumps(sorted(keys)), dt.datetime.now(dt.UTC).isoformat())
    script, _, example = key.partition("|")
    log.info("learn suggestion skipped by %s: %s", user, key)
    return f"Skipped: “{example}” will not be suggested for `{script}` again."


def zero_token_check(bot: OpsBot, now: dt.datetime) -> Check:
    """The heartbeat's line: requests of the last 7 days that a learned phrasing would answer at 0 tokens."""
    from bot.jobs.checks import Check
    from bot.learning import corpus_dir, learn, load_corpus

    result = learn(bot.ledger, bot.registry, now - dt.timedelta(days=7),
                   corpus=load_corpus(corpus_dir(bot.settings.bot_registry)), skipped=skipped(bot))
    n = sum(s.support for s in result.suggestions)
    return Check("learning", "ok", f"{n} requests this week could have been answered at 0 tokens — /ops learn",
                 data={"requests": n, "suggestions": len(result.suggestions)})
