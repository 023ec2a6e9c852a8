"""A local fake Slack: Web API (HTTP) + Socket Mode (websocket) on 127.0.0.1.

The real ``slack_sdk.WebClient``, ``slack_bolt.App`` and the built-in Socket Mode client talk to it
over the real wire protocol:

    with FakeSlack() as fake:
        client = WebClient(token=fake.bot_token, base_url=fake.api_url)
        app = App(client=client)
        handler = SocketModeHandler(app, app_token=fake.app_token, ping_interval=0.2)
        handler.connect()
        envelope_id = fake.send_event(fake.app_mention("deploy status"))

Everything the bot does is kept in memory (``messages``, ``ephemerals``, ``reactions``, ``files``,
``responses``, ``calls``, ``acks``); ``wait_for(predicate)`` blocks on a condition variable until
something changes. Pseudo-methods ``upload_url`` and ``response_url`` name the file-upload and
response_url endpoints in ``calls`` and ``fail_next``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import re
import secrets
import socket
import struct
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

TEAM_ID = "T0FAKE0001"
TEAM_DOMAIN = "fake-team"
APP_ID = "A0FAKE0001"
BOT_USER_ID = "U0FAKEBOT1"
BOT_ID = "B0FAKEBOT1"
ALICE = "U0ALICE001"
BOB = "U0BOB00001"
GENERAL = "C0GENERAL1"

JSON_CONTENT_TYPE = "application/json"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

_CHANNEL_ID = re.compile(r"^[CDG][A-Z0-9_]+$")
_JSON_FIELDS = ("blocks", "attachments", "files", "metadata", "channels")
_T = TypeVar("_T")


# --------------------------------------------------------------------------------------------------
# ids and payload builders (shared by Socket Mode and HTTP mode)

_ts_lock = threading.Lock()
_last_us = 0


def new_ts() -> str:
    """A unique, strictly increasing Slack timestamp ("1712345678.000123")."""
    global _last_us
    with _ts_lock:
        _last_us = max(time.time_ns() // 1000, _last_us + 1)
        return f"{_last_us // 1_000_000}.{_last_us % 1_000_000:06d}"


def new_event_id() -> str:
    return "Ev" + secrets.token_hex(5).upper()


def new_trigger_id() -> str:
    return f"{int(time.time())}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"


def app_mention_event(
    text: str, *, user: str = ALICE, channel: str = GENERAL, ts: str | None = None,
    thread_ts: str | None = None, bot_user_id: str = BOT_USER_ID,
) -> dict[str, Any]:
    """An ``app_mention`` event; ``<@bot>`` is prepended unless the text already mentions the bot."""
    mention = f"<@{bot_user_id}>"
    ts = ts or new_ts()
    event = {
        "type": "app_mention", "user": user, "text": text if mention in text else f"{mention} {text}",
        "ts": ts, "team": TEAM_ID, "channel": channel, "event_ts": ts, "client_msg_id": str(uuid.uuid4()),
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def message_event(
    text: str, *, user: str = ALICE, channel: str = GENERAL, ts: str | None = None,
    thread_ts: str | None = None, channel_type: str = "channel",
) -> dict[str, Any]:
    """A plain user ``message`` event (use channel_type="im" and a D... channel for DMs)."""
    ts = ts or new_ts()
    event = {
        "type": "message", "user": user, "text": text, "ts": ts, "team": TEAM_ID, "channel": channel,
        "event_ts": ts, "channel_type": channel_type, "client_msg_id": str(uuid.uuid4()),
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def reaction_added_event(
    reaction: str, *, item_ts: str, user: str = ALICE, channel: str = GENERAL, item_user: str = BOT_USER_ID,
) -> dict[str, Any]:
    return {
        "type": "reaction_added", "user": user, "reaction": reaction, "item_user": item_user,
        "item": {"type": "message", "channel": channel, "ts": item_ts}, "event_ts": new_ts(),
    }


def event_callback(
    event: dict[str, Any], *, event_id: str | None = None, event_time: int | None = None,
    team_id: str = TEAM_ID, api_app_id: str = APP_ID, bot_user_id: str = BOT_USER_ID,
) -> dict[str, Any]:
    """The Events API outer body (what Slack POSTs in HTTP mode, and the Socket Mode ``payload``)."""
    return {
        "token": "fake-verification-token",
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or new_event_id(),
        "event_time": event_time or int(time.time()),
        "authorizations": [{
            "enterprise_id": None, "team_id": team_id, "user_id": bot_user_id,
            "is_bot": True, "is_enterprise_install": False,
        }],
        "is_ext_shared_channel": False,
        "event_context": "4-" + secrets.token_urlsafe(24),
    }


def slash_command_payload(
    command: str = "/run", text: str = "", *, user_id: str = ALICE, user_name: str = "alice",
    channel_id: str = GENERAL, channel_name: str = "general", response_url: str = "",
    trigger_id: str | None = None, team_id: str = TEAM_ID, api_app_id: str = APP_ID,
) -> dict[str, str]:
    """The slash-command form fields (Socket Mode sends them as a JSON object of strings)."""
    return {
        "token": "fake-verification-token", "team_id": team_id, "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id, "channel_name": channel_name, "user_id": user_id, "user_name": user_name,
        "command": command, "text": text, "api_app_id": api_app_id, "is_enterprise_install": "false",
        "response_url": response_url, "trigger_id": trigger_id or new_trigger_id(),
    }


def block_actions_payload(
    action_id: str, *, value: str | None = None, block_id: str = "actions", user_id: str = ALICE,
    user_name: str = "alice", channel_id: str = GENERAL, message: dict[str, Any] | None = None,
    response_url: str = "", trigger_id: str | None = None, team_id: str = TEAM_ID, api_app_id: str = APP_ID,
) -> dict[str, Any]:
    """A ``block_actions`` payload for a button click on ``message`` (default: a bot message)."""
    message = message or {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "ts": new_ts(), "text": ""}
    action = {
        "type": "button", "action_id": action_id, "block_id": block_id, "action_ts": new_ts(),
        "text": {"type": "plain_text", "text": action_id, "emoji": True},
    }
    if value is not None:
        action["value"] = value
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "fake-verification-token",
        "container": {
            "type": "message", "message_ts": message["ts"], "channel_id": channel_id, "is_ephemeral": False,
        },
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_id.lower()},
        "message": message,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }


# --------------------------------------------------------------------------------------------------
# HTTP-mode helpers: what Slack itself POSTs to a Bolt HTTP endpoint


def signed_request_headers(
    signing_secret: str, body: bytes, timestamp: int | None = None, *, content_type: str | None = None,
    retry_num: int | None = None, retry_reason: str | None = None,
) -> dict[str, str]:
    """``X-Slack-Request-Timestamp`` + ``X-Slack-Signature`` (v0 HMAC-SHA256 of ``v0:{ts}:{body}``)."""
    ts = str(int(time.time()) if timestamp is None else int(timestamp))
    digest = hmac.new(signing_secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest.hexdigest()}
    if content_type:
        headers["Content-Type"] = content_type
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
    return headers


def events_api_body(event: dict[str, Any], **kwargs: Any) -> bytes:
    """JSON body of an Events API request (``kwargs`` go to :func:`event_callback`)."""
    return json.dumps(event_callback(event, **kwargs)).encode()


def url_verification_body(challenge: str = "fake-challenge") -> bytes:
    return json.dumps({"token": "fake-verification-token", "challenge": challenge,
                       "type": "url_verification"}).encode()


def slash_command_body(command: str = "/run", text: str = "", **kwargs: Any) -> bytes:
    """Form-encoded body of a slash command (``kwargs`` go to :func:`slash_command_payload`)."""
    return urlencode(slash_command_payload(command, text, **kwargs)).encode()


def interactive_body(payload: dict[str, Any]) -> bytes:
    """Form-encoded ``payload=<json>`` body of an interactivity request."""
    return urlencode({"payload": json.dumps(payload)}).encode()


# --------------------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class Ack:
    """A Socket Mode acknowledgement (``{"envelope_id": ..., "payload": ...}``) sent by the client."""

    envelope_id: str
    payload: dict[str, Any] | None
    latency_ms: float | None  # from the envelope hitting the socket to the ack; None if unknown id
    received_at: float  # time.monotonic()


@dataclass
class Envelope:
    envelope_id: str
    type: str
    message: dict[str, Any]
    queued_at: float
    sent_at: float | None = None  # time.monotonic() when written to a socket; None while queued
    deliveries: int = 0


@dataclass
class _Failure:
    status: int
    error: str
    retry_after: int | None
    remaining: int


class _ApiError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class _HttpResult:
    status: int
    body: dict[str, Any] | bytes
    headers: dict[str, str] = field(default_factory=dict)


def _parse_params(content_type: str, query: str, body: bytes) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    if content_type.startswith("application/json"):
        params.update(json.loads(body or b"{}"))
    elif body:
        params.update(parse_qsl(body.decode(), keep_blank_values=True))
    for key in _JSON_FIELDS:  # form-encoded requests carry these as JSON strings
        value = params.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            params[key] = json.loads(value)
    return params


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        result = self.server.fake._handle_http(self.path, self.headers, body)
        data = result.body if isinstance(result.body, bytes) else json.dumps(result.body).encode()
        content_type = "text/plain" if isinstance(result.body, bytes) else "application/json; charset=utf-8"
        self.send_response(result.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in result.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST

    def log_message(self, *args: Any) -> None:  # silence access logs
        pass


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeSlack


# --------------------------------------------------------------------------------------------------


class FakeSlack:
    """Fake Slack Web API + Socket Mode server. Use as a context manager or call start()/stop()."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.team_id, self.app_id, self.bot_user_id, self.bot_id = TEAM_ID, APP_ID, BOT_USER_ID, BOT_ID
        self.bot_token = "xoxb-test-1-fakebottoken"
        self.app_token = f"xapp-1-{APP_ID}-1-fakeapptoken"
        self.signing_secret = "fake-signing-secret"

        self._cond = threading.Condition(threading.RLock())
        self._ids = itertools.count(1)
        # Web API state
        self.messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.ephemerals: list[dict[str, Any]] = []
        self.reactions: list[dict[str, Any]] = []  # {"channel", "ts", "name", "user"}
        self.files: dict[str, dict[str, Any]] = {}
        self.responses: list[dict[str, Any]] = []  # bodies POSTed to response_url
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.unknown_methods: list[str] = []
        self.channels: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, dict[str, Any]] = {}
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._response_urls: dict[str, dict[str, Any]] = {}
        # Socket Mode state
        self.envelopes: dict[str, Envelope] = {}
        self.acks: list[Ack] = []
        self.connections_opened = 0  # successful apps.connections.open calls
        self.ws_connects = 0  # websocket handshakes accepted
        self._tickets: set[str] = set()
        self._live: list[ServerConnection] = []  # newest last; touched on the loop thread
        self._pending: deque[Envelope] = deque()  # loop thread only
        self._tasks: set[asyncio.Future[Any]] = set()  # loop thread only
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "api.test": lambda p: {"args": p},
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "usergroups.users.list": self._usergroups_users_list,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
        }
        self.add_channel(GENERAL, "general")
        self.add_user(BOT_USER_ID, "opsbot", is_bot=True)
        self.add_user(ALICE, "alice", email="alice@example.com")
        self.add_user(BOB, "bob", email="bob@example.com", is_admin=True)

        self._http: _HttpServer | None = None
        self._http_thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._ws_server: Server | None = None
        self.http_port = 0
        self.ws_port = 0

    # ---------------------------------------------------------------------------------- lifecycle

    def start(self) -> FakeSlack:
        self._http = _HttpServer((self.host, 0), _Handler)
        self._http.fake = self
        self.http_port = self._http.server_address[1]
        self._http_thread = threading.Thread(target=self._http.serve_forever, args=(0.05,),
                                             name="fake-slack-http", daemon=True)
        self._http_thread.start()

        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="fake-slack-ws", daemon=True)
        self._loop_thread.start()
        self._run(self._ws_start())
        return self

    def stop(self) -> None:
        if self._loop is not None and self._loop_thread is not None:
            self._run(self._ws_stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop_thread.join(5)
            self._loop.close()
            self._loop = self._loop_thread = None
        if self._http is not None and self._http_thread is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http_thread.join(5)
            self._http = self._http_thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.http_port}/"

    @property
    def api_url(self) -> str:
        """Pass as ``WebClient(base_url=...)``; ends with ``/api/``."""
        return self.base_url + "api/"

    # ------------------------------------------------------------------------------ seeding state

    def add_channel(self, channel_id: str, name: str, *, is_private: bool = False, is_im: bool = False,
                    user: str | None = None) -> dict[str, Any]:
        with self._cond:
            self.channels[channel_id] = {
                "id": channel_id, "name": name, "is_channel": not (is_private or is_im), "is_group": is_private,
                "is_im": is_im, "is_private": is_private or is_im, "is_archived": False, "is_member": True,
                "created": int(time.time()), "context_team_id": self.team_id, **({"user": user} if user else {}),
            }
            return self.channels[channel_id]

    def add_user(self, user_id: str, name: str, *, email: str | None = None, is_admin: bool = False,
                 is_bot: bool = False, real_name: str | None = None, tz: str = "UTC") -> dict[str, Any]:
        real_name = real_name or name.title()
        profile = {"real_name": real_name, "display_name": name, "image_72": "", **({"email": email} if email else {})}
        with self._cond:
            self.users[user_id] = {
                "id": user_id, "team_id": self.team_id, "name": name, "deleted": False, "real_name": real_name,
                "tz": tz, "tz_offset": 0, "is_admin": is_admin, "is_owner": False, "is_bot": is_bot,
                "is_restricted": False, "is_app_user": False, "profile": profile,
            }
            return self.users[user_id]

    def add_usergroup(self, usergroup_id: str, handle: str, users: list[str]) -> None:
        with self._cond:
            self.usergroups[usergroup_id] = {"id": usergroup_id, "handle": handle, "users": list(users)}

    def fail_next(self, method: str, *, status: int = 429, error: str | None = None,
                  retry_after: int | None = None, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` ("*" = any) fail.

        429 → ``{"ok": false, "error": "ratelimited"}`` with ``Retry-After`` (default 1 s; use 0 in tests);
        5xx → ``internal_error``; status 200 with ``error`` → a plain Slack API error.
        """
        if error is None:
            if status == 200:
                raise ValueError("status=200 needs an error, e.g. error='channel_not_found'")
            error = "ratelimited" if status == 429 else "internal_error"
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._cond:
            self._failures[method].append(_Failure(status, error, retry_after, times))

    # ---------------------------------------------------------------------------------- queries

    def wait_for(self, predicate: Callable[[], _T], timeout: float = 5.0, message: str = "") -> _T:
        """Block until ``predicate()`` is truthy (re-checked on every state change); return its value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met within {timeout}s {message}".strip())
                self._cond.wait(remaining)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        with self._cond:
            return [params for name, params in self.calls if name == method]

    def history(self, channel: str) -> list[dict[str, Any]]:
        """All messages in ``channel`` (top level and replies), oldest first."""
        with self._cond:
            return sorted(self.messages.get(channel, []), key=lambda m: float(m["ts"]))

    def thread_replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Replies in a thread (without the parent), oldest first."""
        return [m for m in self.history(channel) if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]

    def find_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self._cond:
            return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    @property
    def connected_clients(self) -> int:
        with self._cond:
            return len(self._live)

    def acks_for(self, envelope_id: str) -> list[Ack]:
        with self._cond:
            return [a for a in self.acks if a.envelope_id == envelope_id]

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> Ack:
        return self.wait_for(lambda: next(iter(self.acks_for(envelope_id)), None), timeout,
                             f"(ack of envelope {envelope_id})")

    def wait_for_connection(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``count`` websocket handshakes in total have completed (hello sent)."""
        self.wait_for(lambda: self.ws_connects >= count and self._live, timeout, f"({count} ws connects)")

    # ------------------------------------------------------------------------- Socket Mode: send

    def app_mention(self, text: str, **kwargs: Any) -> dict[str, Any]:
        return app_mention_event(text, bot_user_id=self.bot_user_id, **kwargs)

    def message(self, text: str, **kwargs: Any) -> dict[str, Any]:
        return message_event(text, **kwargs)

    def send_event(self, event: dict[str, Any], retry_attempt: int = 0, retry_reason: str = "",
                   *, event_id: str | None = None) -> str:
        """Deliver an ``events_api`` envelope (queued until a client connects); returns its envelope_id.

        Re-send the same ``event_id`` with ``retry_attempt=1, retry_reason="timeout"`` to mimic a retry.
        User messages (``message`` without subtype, ``app_mention``) are also stored in the channel
        history so that conversations.replies/history see them.
        """
        if event.get("type") in ("message", "app_mention") and "subtype" not in event and "channel" in event:
            self._record_user_message(event)
        payload = event_callback(event, event_id=event_id, team_id=self.team_id, api_app_id=self.app_id,
                                 bot_user_id=self.bot_user_id)
        return self._send_envelope("events_api", payload, accepts_response_payload=False,
                                   retry_attempt=retry_attempt, retry_reason=retry_reason)

    def send_slash_command(self, command: str = "/run", text: str = "", *, user_id: str = ALICE,
                           channel_id: str = GENERAL) -> str:
        user = self.users.get(user_id, {"name": user_id.lower()})
        channel = self.channels.get(channel_id, {"name": channel_id.lower()})
        payload = slash_command_payload(
            command, text, user_id=user_id, user_name=user["name"], channel_id=channel_id,
            channel_name=channel["name"], response_url=self.new_response_url(channel_id, user_id),
            team_id=self.team_id, api_app_id=self.app_id,
        )
        return self._send_envelope("slash_commands", payload, accepts_response_payload=True)

    def block_actions(self, action_id: str, *, value: str | None = None, user_id: str = ALICE,
                      channel_id: str = GENERAL, message: dict[str, Any] | None = None) -> dict[str, Any]:
        """A block_actions payload whose response_url points at this fake (see :meth:`send_interactive`)."""
        message = message or {"type": "message", "user": self.bot_user_id, "ts": new_ts(), "text": ""}
        response_url = self.new_response_url(channel_id, user_id, message_ts=message["ts"])
        return block_actions_payload(
            action_id, value=value, user_id=user_id, user_name=self.users.get(user_id, {}).get("name", "user"),
            channel_id=channel_id, message=message, response_url=response_url,
            team_id=self.team_id, api_app_id=self.app_id,
        )

    def send_interactive(self, payload: dict[str, Any]) -> str:
        """Deliver an ``interactive`` envelope (e.g. :meth:`block_actions`); returns its envelope_id."""
        return self._send_envelope("interactive", payload, accepts_response_payload=False)

    def send_disconnect(self, reason: str = "refresh_requested", close_after: float | None = None) -> None:
        """Send Slack's ``disconnect`` message; those connections get no new envelopes afterwards.

        ``close_after`` (seconds): then close them with a close frame, as Slack eventually does. With
        None the client must close them itself (the builtin client stalls up to 3 s doing so).
        """
        self._run(self._disconnect_all(reason, close_after))

    def drop_connections(self, abrupt: bool = True) -> int:
        """Close every client socket: ``abrupt`` = TCP reset, else a websocket close frame (1001).

        Envelopes sent while nobody is connected are queued and delivered on the next connection.
        """
        return self._run(self._drop_all(abrupt))

    def new_response_url(self, channel_id: str, user_id: str, message_ts: str | None = None) -> str:
        token = secrets.token_hex(8)
        with self._cond:
            self._response_urls[token] = {"channel": channel_id, "user": user_id, "message_ts": message_ts}
        return f"{self.base_url}response/{token}"

    # ------------------------------------------------------------------------ Socket Mode: server

    def _run(self, coro: Any) -> Any:
        assert self._loop is not None, "FakeSlack is not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _ws_start(self) -> None:
        self._ws_server = await serve(
            self._ws_session, self.host, 0, process_request=self._check_ticket,
            compression=None, close_timeout=1, ping_interval=None,
        )
        self.ws_port = self._ws_server.sockets[0].getsockname()[1]

    async def _ws_stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self._drop_all(abrupt=True)
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        ticket = dict(parse_qsl(urlsplit(request.path).query)).get("ticket")
        with self._cond:
            if ticket in self._tickets:
                return None
        return Response(401, "Unauthorized", Headers([("Content-Length", "0")]), b"")

    async def _ws_session(self, ws: ServerConnection) -> None:
        hello = {
            "type": "hello", "num_connections": len(self._live) + 1,
            "debug_info": {"host": "applink-fake-1", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }
        try:
            await ws.send(json.dumps(hello))
            while self._pending:  # deliver what was queued while nobody was connected, in order
                await self._send(ws, self._pending.popleft())
            with self._cond:
                self._live.append(ws)
                self.ws_connects += 1
                self._cond.notify_all()
            async for raw in ws:
                self._on_client_message(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                if ws in self._live:
                    self._live.remove(ws)
                self._cond.notify_all()

    def _on_client_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if not isinstance(message, dict) or "envelope_id" not in message:
            return
        now = time.monotonic()
        with self._cond:
            envelope = self.envelopes.get(message["envelope_id"])
            sent_at = envelope.sent_at if envelope else None
            latency = (now - sent_at) * 1000 if sent_at is not None else None
            self.acks.append(Ack(message["envelope_id"], message.get("payload"), latency, now))
            self._cond.notify_all()

    def _send_envelope(self, type_: str, payload: dict[str, Any], **extra: Any) -> str:
        envelope_id = str(uuid.uuid4())
        message = {"envelope_id": envelope_id, "payload": payload, "type": type_, **extra}
        envelope = Envelope(envelope_id, type_, message, queued_at=time.monotonic())
        with self._cond:
            self.envelopes[envelope_id] = envelope
        self._run(self._deliver(envelope))
        return envelope_id

    async def _deliver(self, envelope: Envelope) -> None:
        if not self._live:
            self._pending.append(envelope)
            return
        await self._send(self._live[-1], envelope)

    async def _send(self, ws: ServerConnection, envelope: Envelope) -> None:
        with self._cond:
            envelope.sent_at = time.monotonic()
        try:
            await ws.send(json.dumps(envelope.message))
        except ConnectionClosed:
            self._pending.appendleft(envelope)
            return
        with self._cond:
            envelope.deliveries += 1
            self._cond.notify_all()

    async def _disconnect_all(self, reason: str, close_after: float | None) -> None:
        with self._cond:
            connections, self._live[:] = list(self._live), []
        message = json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake-1"}})
        for ws in connections:
            try:
                await ws.send(message)
            except ConnectionClosed:
                continue
            if close_after is not None:
                self._background(self._close_later(ws, close_after))

    async def _close_later(self, ws: ServerConnection, delay: float) -> None:
        await asyncio.sleep(delay)
        await ws.close(1001, "going away")

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drop_all(self, abrupt: bool) -> int:
        with self._cond:
            connections, self._live[:] = list(self._live), []
            self._cond.notify_all()
        for ws in connections:
            if abrupt:
                sock = ws.transport.get_extra_info("socket")
                if sock is not None:  # SO_LINGER 0 → RST instead of FIN
                    with contextlib.suppress(OSError):  # the client may have closed it already
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                ws.transport.abort()
            else:
                await ws.close(1001, "going away")
        return len(connections)

    # --------------------------------------------------------------------------------- HTTP side

    def _handle_http(self, path: str, headers: Mapping[str, str], body: bytes) -> _HttpResult:
        url = urlsplit(path)
        parts = url.path.strip("/").split("/")
        if len(parts) == 3 and parts[:2] == ["upload", "v1"]:  # raw file bytes
            return self._endpoint("upload_url", {"file_id": parts[2], "length": len(body)},
                                  lambda: self._upload(parts[2], body))
        if len(parts) != 2 or parts[0] not in ("api", "response"):
            return _HttpResult(404, b"not found")
        try:
            params = _parse_params(headers.get("Content-Type", ""), url.query, body)
        except ValueError:
            return _HttpResult(200, {"ok": False, "error": "invalid_json"})
        if parts[0] == "response":
            return self._endpoint("response_url", params, lambda: self._response_url(parts[1], params))
        auth = headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else params.pop("token", None)
        return self._api(parts[1], params, token)

    def _take_failure(self, method: str) -> _Failure | None:
        for key in (method, "*"):
            queue = self._failures.get(key)
            if queue:
                failure = queue[0]
                failure.remaining -= 1
                if failure.remaining <= 0:
                    queue.popleft()
                return failure
        return None

    def _endpoint(self, method: str, params: dict[str, Any], run: Callable[[], _HttpResult]) -> _HttpResult:
        with self._cond:
            self.calls.append((method, params))
            failure = self._take_failure(method)
            self._cond.notify_all()
            if failure is not None:
                headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
                return _HttpResult(failure.status, {"ok": False, "error": failure.error}, headers)
            result = run()
            self._cond.notify_all()
            return result

    def _api(self, method: str, params: dict[str, Any], token: str | None) -> _HttpResult:
        def run() -> _HttpResult:
            try:
                self._authorize(method, token)
                handler = self._methods.get(method)
                if handler is None:
                    self.unknown_methods.append(method)
                    return _HttpResult(200, {"ok": True})
                return _HttpResult(200, {"ok": True, **handler(params)})
            except _ApiError as e:
                return _HttpResult(200, {"ok": False, "error": e.error})

        return self._endpoint(method, params, run)

    def _authorize(self, method: str, token: str | None) -> None:
        if method == "api.test":
            return
        if not token:
            raise _ApiError("not_authed")
        if token not in (self.bot_token, self.app_token):
            raise _ApiError("invalid_auth")
        if (method == "apps.connections.open") != (token == self.app_token):
            raise _ApiError("not_allowed_token_type")

    # ------------------------------------------------------------------------ Web API methods
    # (called with self._cond held)

    def _channel(self, ref: str | None) -> str:
        if ref:
            if ref in self.channels:
                return ref
            name = ref.lstrip("#")
            for channel_id, channel in self.channels.items():
                if channel["name"] == name:
                    return channel_id
            if _CHANNEL_ID.match(ref):
                self.add_channel(ref, ref.lower(), is_im=ref.startswith("D"))
                return ref
        raise _ApiError("channel_not_found")

    def _record_user_message(self, event: dict[str, Any]) -> None:
        with self._cond:
            channel = self._channel(event["channel"])
            if self.find_message(channel, event["ts"]) is None:
                keys = ("type", "user", "text", "ts", "thread_ts", "blocks", "team", "client_msg_id")
                message = {k: event[k] for k in keys if k in event}
                self.messages[channel].append({**message, "type": "message"})
                self._cond.notify_all()

    def _bot_message(self, params: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message", "user": self.bot_user_id, "bot_id": self.bot_id, "app_id": self.app_id,
            "team": self.team_id, "text": params.get("text", ""), "ts": new_ts(),
        }
        for key in ("blocks", "attachments", "metadata", "thread_ts", "files"):
            if params.get(key):
                message[key] = params[key]
        return message

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"https://{TEAM_DOMAIN}.slack.com/", "team": "Fake Team", "user": "opsbot",
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        self.connections_opened += 1
        return {"url": f"ws://{self.host}:{self.ws_port}/link/?ticket={ticket}&app_id={self.app_id}"}

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        if not (params.get("text") or params.get("blocks") or params.get("attachments")):
            raise _ApiError("no_text")
        message = self._bot_message(params)
        self.messages[channel].append(message)
        return {"channel": channel, "ts": message["ts"], "message": dict(message)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        message = self.find_message(channel, params.get("ts", ""))
        if message is None:
            raise _ApiError("message_not_found")
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in params:
                message[key] = params[key]
        message["edited"] = {"user": self.bot_user_id, "ts": new_ts()}
        return {"channel": channel, "ts": message["ts"], "text": message.get("text", ""), "message": dict(message)}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        if not params.get("user"):
            raise _ApiError("user_not_in_channel")
        if not (params.get("text") or params.get("blocks") or params.get("attachments")):
            raise _ApiError("no_text")
        message = {**self._bot_message(params), "channel": channel, "recipient": params["user"]}
        self.ephemerals.append(message)
        return {"message_ts": message["ts"]}

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        message = self.find_message(channel, params.get("ts", ""))
        if message is None:
            raise _ApiError("message_not_found")
        self.messages[channel].remove(message)
        return {"channel": channel, "ts": message["ts"]}

    def _reaction(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("name") or not params.get("timestamp"):
            raise _ApiError("invalid_arguments")
        channel = self._channel(params.get("channel"))
        return {"channel": channel, "ts": params["timestamp"], "name": params["name"].strip(":"),
                "user": self.bot_user_id}

    def _reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        reaction = self._reaction(params)
        if reaction in self.reactions:
            raise _ApiError("already_reacted")
        self.reactions.append(reaction)
        return {}

    def _reactions_remove(self, params: dict[str, Any]) -> dict[str, Any]:
        reaction = self._reaction(params)
        if reaction not in self.reactions:
            raise _ApiError("no_reaction")
        self.reactions.remove(reaction)
        return {}

    def _with_thread_info(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        replies = self.thread_replies(channel, message["ts"])
        if not replies:
            return dict(message)
        return {**message, "thread_ts": message["ts"], "reply_count": len(replies),
                "reply_users": sorted({r.get("user", "") for r in replies}), "latest_reply": replies[-1]["ts"]}

    @staticmethod
    def _page(items: list[dict[str, Any]], params: dict[str, Any], default_limit: int) -> dict[str, Any]:
        start = int(base64.b64decode(params["cursor"]).decode().split(":")[1]) if params.get("cursor") else 0
        limit = int(params.get("limit") or default_limit)
        page, rest = items[start:start + limit], items[start + limit:]
        cursor = base64.b64encode(f"next:{start + limit}".encode()).decode() if rest else ""
        return {"messages": page, "has_more": bool(rest), "response_metadata": {"next_cursor": cursor}}

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        ts = params.get("ts", "")
        parent = self.find_message(channel, ts)
        replies = self.thread_replies(channel, ts)
        if parent is None and not replies:
            raise _ApiError("thread_not_found")
        thread = ([self._with_thread_info(channel, parent)] if parent else []) + replies
        return self._page(thread, params, 1000)

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        oldest, latest = float(params.get("oldest") or 0), float(params.get("latest") or "inf")
        top = [self._with_thread_info(channel, m) for m in reversed(self.history(channel))
               if m.get("thread_ts", m["ts"]) == m["ts"] and oldest <= float(m["ts"]) <= latest]
        return self._page(top, params, 100)

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"channel": dict(self.channels[self._channel(params.get("channel"))])}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(params.get("user", ""))
        if user is None:
            raise _ApiError("user_not_found")
        return {"user": user}

    def _users_lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        email = params.get("email", "").lower()
        user = next((u for u in self.users.values() if u["profile"].get("email", "").lower() == email), None)
        if user is None:
            raise _ApiError("users_not_found")
        return {"user": user}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self.usergroups.get(params.get("usergroup", ""))
        if group is None:
            raise _ApiError("no_such_subteam")
        return {"users": list(group["users"])}

    def _files_get_upload_url_external(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("filename") or not str(params.get("length", "")).isdigit():
            raise _ApiError("invalid_arguments")
        file_id = f"F{next(self._ids):010d}"
        self.files[file_id] = {"id": file_id, "name": params["filename"], "title": params["filename"],
                               "size": int(params["length"]), "content": None, "shares": []}
        return {"upload_url": f"{self.base_url}upload/v1/{file_id}", "file_id": file_id}

    def _upload(self, file_id: str, body: bytes) -> _HttpResult:
        if file_id not in self.files:
            return _HttpResult(404, b"file not found")
        self.files[file_id]["content"] = body
        return _HttpResult(200, f"OK - {len(body)}".encode())

    def _files_complete_upload_external(self, params: dict[str, Any]) -> dict[str, Any]:
        entries = params.get("files")
        if not isinstance(entries, list) or not entries:
            raise _ApiError("invalid_arguments")
        done = []
        for entry in entries:
            file = self.files.get(entry.get("id", ""))
            if file is None or file["content"] is None:
                raise _ApiError("file_not_found")
            file["title"] = entry.get("title") or file["name"]
            done.append(file)
        summaries = [{"id": f["id"], "name": f["name"], "title": f["title"], "size": f["size"]} for f in done]
        channels = [params["channel_id"]] if params.get("channel_id") else params.get("channels") or []
        if isinstance(channels, str):
            channels = channels.split(",")
        for ref in channels:
            channel = self._channel(ref)
            message = self._bot_message({"text": params.get("initial_comment", ""), "files": summaries,
                                         "thread_ts": params.get("thread_ts")})
            self.messages[channel].append(message)
            for file in done:
                file["shares"].append({"channel": channel, "ts": message["ts"], "thread_ts": params.get("thread_ts")})
        return {"files": summaries}

    def _response_url(self, token: str, body: dict[str, Any]) -> _HttpResult:
        context = self._response_urls.get(token)
        if context is None:
            return _HttpResult(404, b"no_active_hooks")
        self.responses.append({**body, "_context": dict(context)})
        channel, original = context["channel"], context.get("message_ts")
        if body.get("delete_original") and original:
            message = self.find_message(channel, original)
            if message is not None:
                self.messages[channel].remove(message)
        elif body.get("replace_original") and original and (message := self.find_message(channel, original)):
            message.update({k: body[k] for k in ("text", "blocks", "attachments") if k in body})
        elif body.get("response_type") == "in_channel":
            self.messages[self._channel(channel)].append(self._bot_message(body))
        else:
            self.ephemerals.append({**self._bot_message(body), "channel": channel, "recipient": context["user"]})
        return _HttpResult(200, b"ok")
