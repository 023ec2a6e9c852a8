"""`bot serve` with Slack tokens: Socket Mode by default, or HTTP (`--http --port N`) for replicas.

Socket Mode needs SLACK_BOT_TOKEN + SLACK_APP_TOKEN; the builtin client reconnects on its own (checked
every `ping_interval` seconds). HTTP mode needs SLACK_BOT_TOKEN + SLACK_SIGNING_SECRET and serves
POST /slack/events (Bolt verifies the signature and the 5-minute timestamp window: 401 otherwise), plus
GET /healthz, /readyz and /metrics (bot/health.py), from a one-thread asyncio server (bot/slack/httpserver.py).
Replicas share the ledger (BOT_DATABASE_URL: one PostgreSQL), which is what makes every event run
once across them.
"""

from __future__ import annotations

import io
import logging
import re
import signal
import socket
import threading
import time
from contextlib import suppress
from typing import Any

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot import metrics
from bot.config import ConfigError, Settings, load_settings
from bot.jobs.posters import SlackPoster
from bot.slack.bot import SlackBot
from bot.slack.httpserver import SHAPE_ERRORS, SlackHTTPServer, malformed_body
from bot.slack.webclient import make_web_client
from bot.startup import create_bot, serve_metrics, start_jobs

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
PING_INTERVAL_S = 5.0


def wsgi_app(slackbot: SlackBot):
    """The same endpoints as a WSGI application, for running under gunicorn or any WSGI server:
    POST /slack/events → Bolt; GET /healthz → 200; anything else → 404."""
    bolt = SlackRequestHandler(slackbot.app, path=EVENTS_PATH)

    def application(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        if path != EVENTS_PATH:
            start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
            return [b"not found"]
        if environ.get("REQUEST_METHOD") == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            problem = "bad Content-Length" if length < 0 else malformed_body(body)
            if problem is not None:
                start_response("400 Bad Request", [("Content-Type", "text/plain"),
                                                   ("Content-Length", str(len(problem)))])
                return [problem.encode()]
            environ["wsgi.input"] = io.BytesIO(body)        # Bolt reads it again
        try:
            return bolt(environ, start_response)
        except SHAPE_ERRORS:                                 # see httpserver: a payload of the wrong shape
            start_response("400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", "23")])
            return [b"malformed Slack payload"]

    return application


def http_server(slackbot: SlackBot, host: str = "127.0.0.1", port: int = 3000) -> SlackHTTPServer:
    """The HTTP-mode server (call .start(), then .stop(); port 0 picks a free one)."""
    from bot.health import routes

    return SlackHTTPServer(slackbot.app, host, port, path=EVENTS_PATH, gate=slackbot.acks,
                           routes=routes(slackbot.bot.ledger))


def socket_mode_handler(slackbot: SlackBot, app_token: str, *, ping_interval: float = PING_INTERVAL_S,
                        concurrency: int = 10) -> SocketModeHandler:
    """The builtin Socket Mode handler, with the AckGate counting each envelope from the moment the
    websocket delivers it (the client queues it, then hands it to a worker thread) until its ack is sent."""
    handler = SocketModeHandler(slackbot.app, app_token=app_token, ping_interval=ping_interval,
                                concurrency=concurrency)
    client, gate = handler.client, slackbot.acks
    enqueue, run_listeners = client.enqueue_message, client.run_message_listeners
    received: dict[str, float] = {}      # envelope id → when the websocket delivered it (ack latency)

    def enqueue_message(message: str) -> None:
        if '"envelope_id"' in message:
            gate.__enter__()
            if metrics.enabled() and (found := _ENVELOPE_ID.search(message)):
                received[found.group(1)] = time.monotonic()
        enqueue(message)

    def run_message_listeners(message: dict, raw_message: str) -> None:
        try:
            run_listeners(message, raw_message)
        finally:
            if message.get("envelope_id"):
                gate.__exit__(None, None, None)
                if (started := received.pop(message["envelope_id"], None)) is not None:
                    metrics.slack_ack("socket", time.monotonic() - started)

    client.enqueue_message = enqueue_message
    client.run_message_listeners = run_message_listeners
    return handler


_ENVELOPE_ID = re.compile(r'"envelope_id"\s*:\s*"([^"]+)"')


def close_socket_mode(handler: SocketModeHandler) -> None:
    """Close at once: the builtin client's close() otherwise waits ~3 s for a receiver thread blocked in
    recv() and a message worker blocked on its queue. Mark it closed, shut the socket, wake the queue."""
    client = handler.client
    client.closed = True
    client.auto_reconnect_enabled = False
    state = getattr(client, "current_session_state", None)
    if state is not None:
        state.terminated = True
    session = getattr(client, "current_session", None)
    if session is not None and getattr(session, "sock", None) is not None:
        with suppress(OSError):
            session.sock.shutdown(socket.SHUT_RDWR)
    with suppress(Exception):
        client.message_queue.put(None)        # None is skipped by the message processor
    handler.close()


def build_slackbot(settings: Settings, *, http: bool, environ: dict[str, str] | None = None,
                   **kwargs: Any) -> SlackBot:
    """The OpsBot (LLM tiers when ANTHROPIC_API_KEY is set) behind a SlackBot, from settings."""
    token = settings.secret("slack_bot_token")
    if not token:
        raise ConfigError("SLACK_BOT_TOKEN is not set")
    signing_secret = settings.secret("slack_signing_secret")
    if http and not signing_secret:
        raise ConfigError("HTTP mode needs SLACK_SIGNING_SECRET (Basic Information → App Credentials)")
    if not http and not settings.secret("slack_app_token"):
        raise ConfigError("Socket Mode needs SLACK_APP_TOKEN (an xapp- token with connections:write); "
                          "or run `bot serve --http` with SLACK_SIGNING_SECRET")
    bot = create_bot(settings, environ)
    client = make_web_client(token, settings.slack_api_url)
    return SlackBot(bot, client, signing_secret=signing_secret, **kwargs)


INTERRUPTED_APOLOGY = ("Sorry — I restarted before I could answer this, so nothing came of it. "
                       "Please ask again.")


def apologise_for_interrupted(slackbot: SlackBot) -> int:
    """Requests a dead process left unanswered (its retries were dropped as duplicates): close them in the
    ledger and say so in their threads, so nobody waits for an answer that will never come."""
    told = 0
    for row in slackbot.bot.ledger.close_orphaned_requests():
        if row["source"] != "slack" or not row["channel"]:
            continue
        try:
            slackbot.post_message(row["channel"], row["thread_ts"], INTERRUPTED_APOLOGY)
            told += 1
        except Exception:  # one unreachable channel must not stop start-up
            log.warning("could not tell channel %s about interrupted request %s", row["channel"], row["id"])
    if told:
        log.info("opsbot: told %d thread(s) about requests interrupted by a restart", told)
    return told


def create_wsgi_app(settings: Settings | None = None):
    """HTTP mode under a WSGI server, e.g. `gunicorn -w 2 --threads 8 'bot.slack.server:create_wsgi_app()'`
    (each worker process is a replica sharing the ledger; jobs are left to `bot serve`)."""
    settings = settings or load_settings()
    slackbot = build_slackbot(settings, http=True)
    _, slackbot.jobs = start_jobs(slackbot.bot, settings, SlackPoster(slackbot.client), run_scheduler=False)
    slackbot.start()
    slackbot.enqueue(apologise_for_interrupted, slackbot)   # off start-up: Slack may rate-limit the posts
    return wsgi_app(slackbot)


def serve_slack(settings: Settings, *, http: bool = False, port: int = 3000, scheduler: bool = True,
                host: str | None = None, stop: threading.Event | None = None) -> int:
    host = host or settings.bot_http_host
    slackbot = build_slackbot(settings, http=http)
    handle, slackbot.jobs = start_jobs(slackbot.bot, settings, SlackPoster(slackbot.client), run_scheduler=scheduler)
    slackbot.start()
    slackbot.enqueue(apologise_for_interrupted, slackbot)   # off start-up: Slack may rate-limit the posts
    metrics_server = serve_metrics(settings, slackbot.bot)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    server = None
    socket_handler = None
    try:
        if http:
            server = http_server(slackbot, host, port).start()
            log.info("opsbot: HTTP mode on %s:%s%s", host, server.port, EVENTS_PATH)
        else:
            socket_handler = socket_mode_handler(slackbot, settings.secret("slack_app_token") or "")
            socket_handler.connect()
            log.info("opsbot: Socket Mode connected as %s", slackbot.bot_user_id)
        stop.wait()
    finally:
        log.info("opsbot: shutting down")
        if server is not None:
            server.stop()
        if socket_handler is not None:
            close_socket_mode(socket_handler)
        slackbot.close(timeout=30)
        if handle is not None:
            handle.shutdown()
        if metrics_server is not None:
            metrics_server.shutdown()
    return 0
