"""Confirming a write: who may, and the states a confirmation goes through — once, for every front end.

A write script never runs without its requester's yes, whoever proposed it (a person, the model or a
thread follow-up). Slack's Confirm/Cancel buttons, the console's y/N and `bot ask --yes` all come here.

    pending ──confirm (requester, in time)──► confirmed   the write runs, once: the claim is atomic in
       │                                                   the ledger, so a double click or a second
       ├──cancel (requester)─────────────────► cancelled   replica finds it already handled
       ├──past TTL (a click, or the sweep)───► expired
       └──script gone / bad args─────────────► refused
    a click by anyone else: refused for them, still pending for the requester
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from bot.entries import ScriptEntry
from bot.ledger import Ledger, new_id
from bot.problems import ArgError
from bot.registry import Registry
from bot.vocab import Outcome

TTL = dt.timedelta(minutes=10)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class PendingConfirmation:
    id: str
    script: str
    args: dict[str, Any]
    user: str | None
    expires_at: str
    request_id: str | None = None
    channel: str | None = None
    status: str = "pending"

    def command(self) -> str:
        """The command line the requester is asked about: `stripe.refund --charge ch_1`."""
        flags = " ".join(f"--{k} {json.dumps(v) if isinstance(v, str) and ' ' in v else v}"
                         for k, v in self.args.items())
        return f"{self.script} {flags}".strip()

    @property
    def live(self) -> bool:
        return self.status == "pending" and dt.datetime.fromisoformat(self.expires_at) > _now()


@dataclass
class Decision:
    """What a Confirm/Cancel comes to. `run` set: execute `entry` with `args` for the request."""

    text: str = ""
    outcome: Outcome = "refused"
    request_id: str | None = None
    script: str | None = None
    closes_request: bool = False          # the request ends here (cancelled), not with a script run
    entry: ScriptEntry | None = None
    args: dict[str, Any] | None = None

    @property
    def run(self) -> bool:
        return self.entry is not None


class Confirmations:
    def __init__(self, ledger: Ledger, registry: Registry, ttl: dt.timedelta = TTL):
        self.ledger = ledger
        self.registry = registry
        self.ttl = ttl

    def ask(self, request_id: str, *, user: str | None, channel: str | None, entry: ScriptEntry,
            args: dict[str, Any]) -> PendingConfirmation:
        pending = PendingConfirmation(new_id(), entry.name, args, user,
                                      (_now() + self.ttl).isoformat(timespec="seconds"), request_id, channel)
        self.ledger.add_confirmation(confirmation_id=pending.id, request_id=request_id, user=user, channel=channel,
                                     script=entry.name, args=args, expires_at=pending.expires_at)
        return pending

    def get(self, confirmation_id: str) -> PendingConfirmation | None:
        row = self.ledger.get_confirmation(confirmation_id)
        if row is None:
            return None
        return PendingConfirmation(row["id"], row["script"], json.loads(row["args"] or "{}"), row["user"],
                                   row["expires_at"], row["request_id"], row.get("channel"), row["status"])

    def decide(self, confirmation_id: str, user: str | None, approve: bool) -> Decision:
        """The requester's Confirm/Cancel, or someone else's click. Claims the confirmation when it runs."""
        pending = self.get(confirmation_id)
        if pending is None:
            return Decision("That confirmation no longer exists.")
        facts = {"request_id": pending.request_id, "script": pending.script}
        if pending.status != "pending":
            return Decision(f"Already {pending.status}.", **facts)
        if user != pending.user:
            # Not the requester: the attempt is recorded; the prompt stays pending for the requester.
            self.ledger.record_decision(pending.request_id, tier="script", decided_by="command", script=pending.script,
                                        reason=f"confirmation refused: {user} is not the requester")
            return Decision(f"Only <@{pending.user}> can confirm this.", **facts)
        if not pending.live:
            self.ledger.decide_confirmation(confirmation_id, "expired", user)
            return Decision("This confirmation expired; ask again if you still want it.", **facts)
        if not approve:
            self.ledger.decide_confirmation(confirmation_id, "cancelled", user)
            return Decision(f"Cancelled: `{pending.script}` did not run.", "cancelled", closes_request=True, **facts)
        entry = self.registry.script(pending.script)
        if entry is None:
            self.ledger.decide_confirmation(confirmation_id, "refused", user)
            return Decision(f"`{pending.script}` is no longer in the registry.", **facts)
        if not self.ledger.decide_confirmation(confirmation_id, "confirmed", user):
            return Decision("Already handled.", **facts)
        try:
            args = entry.validate_args(pending.args)
        except ArgError as exc:
            return Decision(f"`{entry.name}`: {exc}", **facts)
        return Decision(outcome="ok", entry=entry, args=args, **facts)

    def expire(self) -> int:
        """Pending confirmations past their time → expired (and their requests)."""
        return self.ledger.expire_confirmations(_now().isoformat(timespec="seconds"))
