"""Delivery plumbing shared by the Slack listeners: what makes a delivery unique (for the exactly-once
claim) and the gate that lets acks go first."""

from __future__ import annotations

import threading
import time
from typing import Any


def dedupe_key(body: dict[str, Any]) -> str | None:
    """What makes a delivery unique: the event id, or the trigger id of a command or click."""
    if body.get("type") == "event_callback" and body.get("event_id"):
        return f"slack:event:{body['event_id']}"
    if body.get("trigger_id") and (body.get("command") or body.get("type") in (
            "block_actions", "shortcut", "message_action", "view_submission")):
        return f"slack:trigger:{body['trigger_id']}"
    return None


class AckGate:
    """Acks first. Python threads share one interpreter lock, so a burst of deliveries answered while
    the pool is busy waits behind the work; the front ends (HTTP handler, Socket Mode handler) count
    the deliveries they are acking, and a task waits (briefly, bounded) for that count to reach zero
    before it starts and before it posts. Work is delayed by milliseconds; acks are not."""

    STALE_S = 2.0       # busy with no ack finishing for this long: a count went astray; stop waiting

    def __init__(self, max_wait_s: float = 0.25):
        self.max_wait_s = max_wait_s
        self._busy = 0
        self._last_exit = time.monotonic()
        self._cond = threading.Condition()

    def __enter__(self) -> AckGate:
        with self._cond:
            self._busy += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._busy = max(0, self._busy - 1)
            self._last_exit = time.monotonic()
            if self._busy == 0:
                self._cond.notify()          # one at a time: a herd of woken workers is contention too

    def wait(self, max_wait_s: float | None = None) -> None:
        with self._cond:
            if self._busy:
                self._cond.wait_for(lambda: self._busy == 0 or time.monotonic() - self._last_exit > self.STALE_S,
                                    self.max_wait_s if max_wait_s is None else max_wait_s)
                self._cond.notify()          # pass it on to the next waiting task
