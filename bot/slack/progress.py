"""Showing work in progress in Slack.

- `Reaction`: an :hourglass: on the user's message once the work takes longer than `after_s`.
- `Placeholder`: for long LLM calls (premium, pipeline, anything streamed), ONE message in the thread,
  posted on the first progress report and edited in place at most every BOT_PROGRESS_INTERVAL_S (tier,
  what it is doing, tokens so far). The answer then replaces that message (chat.update), or — when it is
  long — the message becomes the preview and the file goes up in the thread. A request is claimed once
  (ledger), so Slack's redeliveries start no second placeholder; LLM retries report into the same one.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient

from bot.progress import Progress, ProgressState

if TYPE_CHECKING:
    from bot.request import Incoming
    from bot.slack.host import SlackHost


class Reaction:
    """An :hourglass: on the user's message once the work takes longer than `after_s`; removed at the end."""

    def __init__(self, sb: SlackHost, channel: str, ts: str, after_s: float):
        self.sb, self.channel, self.ts = sb, channel, ts
        self._cond = threading.Condition()
        self._state = "waiting"          # waiting → adding → added | failed; done
        self._timer: threading.Timer | None = None
        if after_s <= 0:
            self._fire()
        else:
            self._timer = threading.Timer(after_s, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._cond:
            if self._state != "waiting":
                return
            self._state = "adding"
        ok = self.sb._react("add", self.channel, self.ts)
        with self._cond:
            self._state = "added" if ok else "failed"
            self._cond.notify_all()

    def done(self) -> None:
        with self._cond:
            if self._timer is not None:
                self._timer.cancel()
            self._cond.wait_for(lambda: self._state != "adding", timeout=10)
            added, self._state = self._state == "added", "done"
        if added:
            self.sb._react("remove", self.channel, self.ts)


class Placeholder:
    """The one progress message of a request, edited in place and finally replaced by the answer."""

    def __init__(self, client: WebClient, channel: str, thread_ts: str | None):
        self.client, self.channel, self.thread_ts = client, channel, thread_ts
        self.ts: str | None = None
        self.edits = 0
        self._lock = threading.Lock()

    @classmethod
    def attach(cls, sb: SlackHost, incoming: Incoming, channel: str, thread_ts: str | None) -> Placeholder:
        placeholder = cls(sb.client, channel, thread_ts)
        incoming.progress = Progress(placeholder, interval_s=sb.bot.settings.bot_progress_interval_s)
        return placeholder

    def show(self, state: ProgressState) -> None:
        text = state.line()
        blocks: list[dict[str, Any]] = [{"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}]
        with self._lock:
            if self.ts is None:
                response = self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts, text=text,
                                                        blocks=blocks, unfurl_links=False, unfurl_media=False)
                self.ts = response["ts"]
            else:
                self.client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=blocks)
                self.edits += 1

    def replace(self, text: str, blocks: list[dict[str, Any]]) -> str:
        """The answer in place of the progress message; returns its ts."""
        with self._lock:
            assert self.ts is not None
            self.client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=blocks)
            return self.ts
