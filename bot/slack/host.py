"""What the Slack helpers (commands, feedback, learn, progress) use of SlackBot (bot/slack/bot.py).

SlackBot imports those helpers and hands itself to them; they type it as this Protocol rather than
importing SlackBot back, so the imports stay one-way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.ledger import Ledger
    from bot.pipeline import OpsBot
    from bot.request import Incoming, Reply
    from bot.slack.directory import GroupDirectory


class SlackHost(Protocol):
    bot: OpsBot
    client: WebClient
    ledger: Ledger
    bot_user_id: str
    groups: GroupDirectory
    redact: Callable[[str], str]

    def enqueue(self, fn: Callable[..., Any], *args: Any, key: str | None = None) -> None: ...

    def count(self, name: str, n: int = 1) -> None: ...

    def incoming(self, text: str, *, user: str | None, channel: str | None, event_id: str | None = None,
                 thread_ts: str | None = None, thread: list[dict[str, str]] | None = None) -> Incoming: ...

    def answer(self, incoming: Incoming, *, channel: str, thread_ts: str | None, progress_ts: str | None = None,
               respond: Callable[..., Any] | None = None, via: str | None = None) -> Reply | None: ...

    def fail(self, exc: BaseException, *, channel: str, thread_ts: str | None, user: str | None = None,
             request_id: str | None = None, respond: Callable[..., Any] | None = None) -> None: ...

    def _react(self, how: str, channel: str, ts: str) -> bool: ...
