"""Progress of a long request: which tier, what it is doing, tokens so far — for one Slack message
edited in place, or the console's status line.

A `Progress` is handed down with the request (Incoming.progress). Each LLM call that streams reports
into it; it forwards to its sink at most every `interval_s` (Slack: ~2 s), always the first report.
Sinks: `SlackPlaceholder` (bot/slack/progress.py) and `ConsoleStatus` (bot/console.py); anything with
`show(ProgressState)` works. A sink that fails never takes the request down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

TIER_LABEL = {"orchestrator": "mid model", "premium": "premium model", "pipeline:stage1": "pipeline · stage 1",
              "pipeline:stage2": "pipeline · stage 2"}


@dataclass(frozen=True)
class ProgressState:
    tier: str            # e.g. "premium"
    model: str
    activity: str        # thinking | writing | calling a tool | continuing | retrying
    output_tokens: int   # this request's streamed output so far (estimate until a call ends)

    def line(self) -> str:
        return f"⏳ {self.tier} ({self.model}) · {self.activity} · {self.output_tokens:,} tokens so far"


class ProgressSink(Protocol):
    def show(self, state: ProgressState) -> None: ...


class Progress:
    """Throttled progress reports for one request; thread-safe."""

    def __init__(self, sink: ProgressSink, *, interval_s: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self.sink = sink
        self.interval_s = interval_s
        self.clock = clock
        self._lock = threading.Lock()
        self._last_sent: float | None = None
        self._done_tokens = 0           # output tokens of finished calls
        self._call_tokens = 0           # estimate for the call under way
        self.sent: list[ProgressState] = []

    def report(self, *, purpose: str, model: str, activity: str, call_tokens: int, force: bool = False) -> None:
        with self._lock:
            self._call_tokens = call_tokens
            now = self.clock()
            if not force and self._last_sent is not None and now - self._last_sent < self.interval_s:
                return
            self._last_sent = now
            tier = TIER_LABEL.get(purpose.removesuffix(":fallback").split(":continue")[0], purpose)
            state = ProgressState(tier, model, activity, self._done_tokens + call_tokens)
            self.sent.append(state)
        try:
            self.sink.show(state)
        except Exception as exc:  # progress is a courtesy: never fail the request for it
            log.warning("progress update failed: %s", type(exc).__name__)

    def finish_call(self, output_tokens: int) -> None:
        with self._lock:
            self._done_tokens += output_tokens
            self._call_tokens = 0
