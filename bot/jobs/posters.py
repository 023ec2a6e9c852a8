"""Where job output, alerts and heartbeats go: a Slack channel through chat.postMessage, or the log."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from bot.config import Settings
from bot.mrkdwn import sanitize

log = logging.getLogger(__name__)


class Poster(Protocol):
    """Posts to a channel; raises on failure. An optional `delivers = False` attribute says the poster
    cannot reach channels (the log): alerts then stay queued in the ledger for a process that can post
    them, instead of being marked sent."""

    def post(self, channel: str | None, text: str, blocks: list[dict] | None = None) -> Any: ...


class LogPoster:
    """No Slack: posts go to the log (and so to the console running `bot serve`)."""

    delivers = False

    def __init__(self, logger: logging.Logger | None = None):
        self.log = logger or logging.getLogger("bot.jobs.posts")

    def post(self, channel: str | None, text: str, blocks: list[dict] | None = None) -> None:
        self.log.warning("[%s] %s", channel or "no channel", text)


class SlackPoster:
    """chat.postMessage through a slack_sdk WebClient (the Slack app may pass its own Poster instead)."""

    delivers = True

    def __init__(self, client):
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackPoster | None:
        token = settings.secret("slack_bot_token")
        if not token:
            return None
        from slack_sdk import WebClient

        base_url = settings.slack_api_url or WebClient.BASE_URL
        return cls(WebClient(token=token, base_url=base_url.rstrip("/") + "/", timeout=10))

    def post(self, channel: str | None, text: str, blocks: list[dict] | None = None) -> Any:
        if not channel:
            log.warning("[no channel] %s", text)
            return None
        return self.client.chat_postMessage(channel=channel, text=sanitize(text)[:39000], blocks=blocks,
                                            unfurl_links=False, unfurl_media=False)


def default_poster(settings: Settings) -> Poster:
    return SlackPoster.from_settings(settings) or LogPoster()


def delivers(poster: Poster) -> bool:
    return bool(getattr(poster, "delivers", True))


def deliver(poster: Poster, channel: str | None, text: str, blocks: list[dict] | None = None) -> bool:
    """Post without raising. True when the poster took it (or there was no channel: then it is logged)."""
    if not channel:
        log.info("job output (no channel): %s", text if len(text) <= 2000 else text[:1999] + "…")
        return True
    try:
        poster.post(channel, text, blocks)
    except Exception as exc:
        log.warning("could not post to %s: %s", channel, exc)
        return False
    return True
