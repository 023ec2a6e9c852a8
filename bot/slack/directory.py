"""Cached look-ups the Slack side needs on most requests: user-group membership (for the registry's
`allowed.groups`) and whether the bot is part of a thread (and that thread's recent messages).

Both are Web API calls that are slow and rate limited (usergroups.users.list is Tier 2), so results
are cached with a TTL; failures fail closed (no groups, not a participant) and are retried sooner.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)

GROUP_ID_RE = re.compile(r"^S[A-Z0-9]{2,}$")


class TTLCache:
    """A small thread-safe LRU with a TTL per entry."""

    def __init__(self, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self._data: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, key: Any, default: Any = None) -> Any:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return default
            expires, value = item
            if expires <= self._clock():
                del self._data[key]
                return default
            self._data.move_to_end(key)
            return value

    def set(self, key: Any, value: Any, ttl_s: float) -> None:
        with self._lock:
            self._data[key] = (self._clock() + ttl_s, value)
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class GroupDirectory:
    """Which of the watched user groups (IDs like S0123, or handles) a user is in.

    Only groups named in the registry are watched. Members of each group are fetched once per TTL
    (one usergroups.users.list call covers every user), and each user's answer is cached too.
    """

    def __init__(self, client: WebClient, groups: Iterable[str], *, ttl_s: float = 300.0,
                 error_ttl_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.watched = sorted(set(groups))
        self.ttl_s, self.error_ttl_s = ttl_s, error_ttl_s
        self._members = TTLCache(1_000, clock)
        self._users = TTLCache(50_000, clock)
        self._handles = TTLCache(10, clock)
        self._lock = threading.Lock()          # one fetch per group at a time

    def groups_of(self, user: str | None) -> frozenset[str]:
        if not user or not self.watched:
            return frozenset()
        cached = self._users.get(user)
        if cached is not None:
            return cached
        found, complete = set(), True
        for group in self.watched:
            members = self._members_of(group)
            if members is None:
                complete = False
            elif user in members:
                found.add(group)
        result = frozenset(found)
        self._users.set(user, result, self.ttl_s if complete else self.error_ttl_s)
        return result

    def _members_of(self, group: str) -> frozenset[str] | None:
        members = self._members.get(group)
        if members is not None:
            return members
        with self._lock:
            members = self._members.get(group)
            if members is not None:
                return members
            group_id = group if GROUP_ID_RE.match(group) else self._handle_to_id(group)
            try:
                if group_id is None:
                    raise LookupError(f"no user group with handle {group!r}")
                users = self.client.usergroups_users_list(usergroup=group_id)["users"] or []
            except (SlackApiError, SlackClientError, LookupError, KeyError) as exc:
                log.warning("user group %s: membership unknown (%s); treating as no members for now", group,
                            type(exc).__name__)
                return None
            members = frozenset(users)
            self._members.set(group, members, self.ttl_s)
            return members

    def _handle_to_id(self, handle: str) -> str | None:
        handles = self._handles.get("all")
        if handles is None:
            try:
                groups = self.client.usergroups_list().get("usergroups") or []
            except (SlackApiError, SlackClientError):
                return None
            handles = {g.get("handle"): g.get("id") for g in groups if g.get("handle")}
            self._handles.set("all", handles, self.ttl_s)
        return handles.get(handle.lstrip("@"))


class ThreadTracker:
    """Whether the bot takes part in a thread: it posted there, or the thread's root mentions it.

    A positive answer is kept for a day (and set at once when the bot replies); a negative one for
    `negative_ttl_s`, so chatter in busy threads costs one conversations.replies call per thread per
    minute at most.
    """

    FETCH_LIMIT = 200

    def __init__(self, client: WebClient, bot_user_id: str, bot_id: str | None = None, *,
                 negative_ttl_s: float = 60.0, positive_ttl_s: float = 86_400.0,
                 clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.bot_user_id, self.bot_id = bot_user_id, bot_id
        self.negative_ttl_s, self.positive_ttl_s = negative_ttl_s, positive_ttl_s
        self._known = TTLCache(20_000, clock)

    def mark(self, channel: str, thread_ts: str) -> None:
        self._known.set((channel, thread_ts), True, self.positive_ttl_s)

    def known(self, channel: str, thread_ts: str) -> bool | None:
        return self._known.get((channel, thread_ts))

    def is_bot(self, message: dict[str, Any]) -> bool:
        return message.get("user") == self.bot_user_id or bool(self.bot_id and message.get("bot_id") == self.bot_id)

    def fetch(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The thread's messages, oldest first (root included); [] when it cannot be read."""
        try:
            response = self.client.conversations_replies(channel=channel, ts=thread_ts, limit=self.FETCH_LIMIT)
        except (SlackApiError, SlackClientError) as exc:
            log.warning("conversations.replies %s/%s failed: %s", channel, thread_ts, type(exc).__name__)
            return []
        return list(response.get("messages") or [])

    def participates(self, channel: str, thread_ts: str, messages: list[dict[str, Any]]) -> bool:
        mention = f"<@{self.bot_user_id}>"
        root = next((m for m in messages if m.get("ts") == thread_ts), None)
        joined = any(self.is_bot(m) for m in messages) or bool(root and mention in (root.get("text") or ""))
        if joined:
            self.mark(channel, thread_ts)
        else:
            self._known.set((channel, thread_ts), False, self.negative_ttl_s)
        return joined
