"""SlackBot: the Bolt App in front of the OpsBot pipeline.

Fast ack: every listener only looks at the payload (no I/O, not even SQLite) and hands the work to a
bounded worker pool we own, so the ack goes back as soon as Bolt's dispatch returns
(process_before_response=True: no trip through Bolt's own executor, and no 10 ms polling for the ack of
commands and actions). The work — Web API calls, the ledger, the pipeline, the script — happens on the
pool, and every request ends with a reply in the thread, even when something fails on the way.

Exactly once: the first thing a task does is claim its delivery in the ledger (`event_id` for events,
`trigger_id` for slash commands and button clicks) with an INSERT OR IGNORE that is atomic across
threads, processes and restarts; a delivery whose key is taken (Slack's retries, duplicates, the same
event at a second replica) was acked like any other and is dropped there. The claim is kept off the ack
path on purpose: under load SQLite's busy handler backs off in sleeps of up to 100 ms. A user message
can also arrive twice under different event ids (`app_mention` and `message` for the same post), so
conversation work claims the message itself (`channel:ts`) too.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.errors import quietly
from bot.ledger import iso, new_id
from bot.pipeline import OpsBot
from bot.request import Incoming, Reply
from bot.slack import blocks as bk
from bot.slack import feedback, learn
from bot.slack.commands import Commands
from bot.slack.delivery import AckGate, dedupe_key
from bot.slack.directory import GroupDirectory, ThreadTracker
from bot.slack.httpserver import malformed_payload_response
from bot.slack.progress import Placeholder, Reaction

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 16
PROGRESS_REACTION = "hourglass_flowing_sand"
PROGRESS_AFTER_S = 0.5          # answers faster than this get no reaction at all (no flicker)
THREAD_CONTEXT_MESSAGES = 20
THREAD_MESSAGE_CHARS = 2000
PROCESSED_EVENTS_KEEP_S = 2 * 86_400   # Slack retries for about an hour; keep claims for two days
MESSAGE_SUBTYPES = {None, "file_share", "thread_broadcast"}   # user posts; edits, joins, bots are not

GENERIC_FAILURE = (":warning: Sorry, something went wrong on my side and I could not finish this. "
                   "It is logged as `{ref}`; try again, or ask an admin to look it up.")


def _ts(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


class SlackBot:
    """Bolt listeners → worker pool → OpsBot → Block Kit replies. `app` is the slack_bolt App."""

    def __init__(self, bot: OpsBot, client: WebClient, *, signing_secret: str | None = None,
                 workers: int = DEFAULT_WORKERS, jobs: Any = None,
                 progress_after_s: float = PROGRESS_AFTER_S, group_ttl_s: float = 300.0,
                 sweep_every_s: float = 30.0):
        self.bot = bot
        self.client = client
        self.ledger = bot.ledger
        self.redact = bot.redactor
        self.progress_after_s = progress_after_s
        self.sweep_every_s = sweep_every_s
        auth = client.auth_test()
        self.bot_user_id: str = auth["user_id"]
        self.bot_id: str | None = auth.get("bot_id")
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="opsbot-slack")
        self.groups = GroupDirectory(client, self._watched_groups(), ttl_s=group_ttl_s)
        self.threads = ThreadTracker(client, self.bot_user_id, self.bot_id)
        self.acks = AckGate()
        self.metrics: Counter[str] = Counter()
        self._metrics_lock = threading.Lock()
        self._inflight = 0
        self._idle = threading.Condition()
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._mention_re = re.compile(rf"<@{re.escape(self.bot_user_id)}(?:\|[^>]*)?>")

        self.commands = Commands(self)
        self.jobs = jobs                     # a JobService for /ops jobs and /ops health, when there is one
        self.app = self._build_app(signing_secret)

    @property
    def jobs(self) -> Any:
        return self.commands.ops.jobs_service

    @jobs.setter
    def jobs(self, service: Any) -> None:   # attached after start-up, once the scheduler is decided
        self.commands.ops.jobs_service = service

    # -- the Bolt app ----------------------------------------------------------------------------

    def _build_app(self, signing_secret: str | None) -> App:
        app = App(client=self.client, signing_secret=signing_secret or "", process_before_response=True,
                  logger=logging.getLogger("bot.slack.bolt"))
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        feedback.register(app, self)                        # 👍/👎 and the Why? button
        app.event(re.compile(".*"))(self._ignore)          # ack whatever else the app is subscribed to
        app.command("/run")(self.commands.on_run)
        app.command("/ops")(self.commands.on_ops)
        app.action(bk.CONFIRM_ACTION)(self._on_confirm)
        app.action(bk.CANCEL_ACTION)(self._on_cancel)
        learn.register(app, self)                           # /ops learn: Apply / Skip
        app.error(self._on_error)
        return app

    _ignore = staticmethod(lambda: None)

    def _on_error(self, error: Exception) -> Any:
        log.error("bolt listener error: %s", self.redact(f"{type(error).__name__}: {error}")[:300])
        return malformed_payload_response(error)       # 400 rather than 500 for a payload of the wrong shape

    # -- plumbing --------------------------------------------------------------------------------

    def count(self, name: str, n: int = 1) -> None:
        with self._metrics_lock:
            self.metrics[name] += n

    def enqueue(self, fn: Callable[..., Any], *args: Any, key: str | None = None) -> None:
        """Run `fn(*args)` on the worker pool, once per delivery `key` (see dedupe_key) across processes."""
        with self._idle:
            self._inflight += 1
        self.pool.submit(self._guarded, key, fn, *args)

    def _guarded(self, key: str | None, fn: Callable[..., Any], *args: Any) -> None:
        try:
            self.acks.wait()
            if key is not None:
                if not self.ledger.claim_event(key):
                    self.count("duplicates")
                    log.info("dropped a duplicate delivery %s", key)
                    return
                self.count("accepted")
            fn(*args)
        except Exception as exc:  # the worker's own safety net: the task already replied or logged
            log.error("slack task %s failed: %s", getattr(fn, "__name__", fn),
                      self.redact(f"{type(exc).__name__}: {exc}")[:300])
        finally:
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until no task is queued or running (tests, benchmarks, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._inflight == 0, timeout)

    def start(self) -> SlackBot:
        """Background upkeep: expire confirmations, forget old delivery claims."""
        if self._sweeper is None:
            self._sweeper = threading.Thread(target=self._sweep_loop, name="opsbot-slack-sweeper", daemon=True)
            self._sweeper.start()
        return self

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.sweep_every_s):
            try:
                self.sweep()
            except Exception as exc:
                log.warning("sweep failed: %s", type(exc).__name__)

    def sweep(self) -> dict[str, int]:
        expired = self.bot.expire_confirmations()
        before = iso(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=PROCESSED_EVENTS_KEEP_S))
        pruned = self.ledger.prune_claims(before, "slack:")
        return {"expired": expired, "pruned": pruned}

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking work, finish what is running (up to `timeout`)."""
        self._stop.set()
        self.drain(timeout)
        self.pool.shutdown(wait=False, cancel_futures=False)

    def _watched_groups(self) -> set[str]:
        return {g for entry in self.bot.registry.scripts.values() for g in entry.allowed.groups}

    def _react(self, how: str, channel: str, ts: str) -> bool:
        try:
            getattr(self.client, f"reactions_{how}")(channel=channel, timestamp=ts, name=PROGRESS_REACTION)
            return True
        except (SlackApiError, SlackClientError) as exc:
            log.info("reactions.%s failed: %s", how, type(exc).__name__)
            return False

    def clean_text(self, text: str) -> str:
        """The user's words: the bot's mention removed, Slack's &amp;/&lt;/&gt; escapes undone."""
        text = self._mention_re.sub(" ", text or "")
        return html.unescape(re.sub(r"[ \t]+", " ", text)).strip()

    def incoming(self, text: str, *, user: str | None, channel: str | None, event_id: str | None = None,
                 thread_ts: str | None = None, thread: list[dict[str, str]] | None = None) -> Incoming:
        """A pipeline request for the requesting Slack user (their groups for the ACL, never the bot's)."""
        return Incoming(text, user=user, channel=channel, source="slack", event_id=event_id, thread_ts=thread_ts,
                        thread=thread or [], user_groups=self.groups.groups_of(user))

    # -- conversations: mentions, DMs, threads the bot is in ---------------------------------------

    def _on_mention(self, body: dict, event: dict) -> None:
        self.count("events")
        if event.get("bot_id") or not event.get("user"):
            return                            # other bots talking to us: no bot-to-bot loops
        self.enqueue(self._converse, event, body.get("event_id"), "mention", key=dedupe_key(body))

    def _on_message(self, body: dict, event: dict) -> None:
        self.count("events")
        if event.get("subtype") not in MESSAGE_SUBTYPES or event.get("bot_id") or not event.get("user"):
            return
        if event.get("user") == self.bot_user_id:
            return
        channel, ts, thread_ts = event.get("channel", ""), event.get("ts"), event.get("thread_ts")
        if event.get("channel_type") == "im" or channel.startswith("D"):
            self.enqueue(self._converse, event, body.get("event_id"), "dm", key=dedupe_key(body))
        elif thread_ts and thread_ts != ts:
            if self._mention_re.search(event.get("text") or ""):
                return                        # the app_mention event for the same post answers it
            if self.threads.known(channel, thread_ts) is False:
                return                        # recently checked: the bot is not in this thread
            self.enqueue(self._converse, event, body.get("event_id"), "thread", key=dedupe_key(body))

    def _converse(self, event: dict, event_id: str | None, kind: str) -> None:
        channel, ts, user = event["channel"], event["ts"], event.get("user")
        thread_ts = event.get("thread_ts") or ts
        context: list[dict[str, str]] = []
        if event.get("thread_ts") and event["thread_ts"] != ts:
            messages = self.threads.fetch(channel, thread_ts)
            joined = self.threads.participates(channel, thread_ts, messages)
            if kind == "thread" and not joined:
                return
            context = self._thread_context(messages, ts)
        if not self.ledger.claim_event(f"slack:msg:{channel}:{ts}"):
            self.count("duplicates")              # the same post as both app_mention and message
            return
        self.threads.mark(channel, thread_ts)
        try:
            text = self.clean_text(event.get("text") or "")
            if text.lower() in ("", "help", "?", "hi", "hello"):
                help_text = self.commands.ops.help_text(user, channel)
                self.post_message(channel, thread_ts, bk.fallback(help_text), bk.mrkdwn_blocks(help_text))
                return
            incoming = self.incoming(text, user=user, channel=channel, event_id=event_id, thread_ts=thread_ts,
                                     thread=context)
        except Exception as exc:                  # answer() has its own net; this covers what comes before
            self.fail(exc, channel=channel, thread_ts=thread_ts, user=user)
            return
        self.answer(incoming, channel=channel, thread_ts=thread_ts, progress_ts=ts)

    def _thread_context(self, messages: list[dict], current_ts: str) -> list[dict[str, str]]:
        earlier = [m for m in messages if _ts(m.get("ts")) < _ts(current_ts) and (m.get("text") or "").strip()]
        out = []
        for m in earlier[-THREAD_CONTEXT_MESSAGES:]:
            who = "opsbot" if self.threads.is_bot(m) else (m.get("user") or "someone")
            text = self.redact(self.clean_text(m.get("text") or ""))[:THREAD_MESSAGE_CHARS]
            out.append({"user": who, "text": text})
        return out

    def answer(self, incoming: Incoming, *, channel: str, thread_ts: str | None, progress_ts: str | None = None,
               respond: Callable[..., Any] | None = None, via: str | None = None) -> Reply | None:
        """Run one request through the pipeline and deliver the reply; any failure still ends in a reply."""
        progress = Reaction(self, channel, progress_ts, self.progress_after_s) if progress_ts else None
        placeholder = Placeholder.attach(self, incoming, channel, thread_ts)
        reply: Reply | None = None
        try:
            reply = self.bot.handle(incoming)
            if reply.decided_by == "rate-limit":
                self.count("rate_limited")
            self.count("runs")
            self.acks.wait(0.05)
            self.deliver(reply, channel=channel, thread_ts=thread_ts, user=incoming.user, respond=respond, via=via,
                         placeholder=placeholder)
            return reply
        except Exception as exc:
            self.fail(exc, channel=channel, thread_ts=thread_ts, user=incoming.user,
                      request_id=reply.request_id if reply else None, respond=respond)
            return reply
        finally:
            if progress is not None:
                progress.done()

    # -- replies -----------------------------------------------------------------------------------

    def post_message(self, channel: str, thread_ts: str | None, text: str, blocks: list[dict] | None = None) -> str:
        response = self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=blocks,
                                                unfurl_links=False, unfurl_media=False)
        return response["ts"]

    def deliver(self, reply: Reply, *, channel: str, thread_ts: str | None, user: str | None,
                respond: Callable[..., Any] | None = None, via: str | None = None, public: bool = True,
                placeholder: Placeholder | None = None) -> None:
        """A confirmation prompt (ephemeral, to the requester), a refusal (ephemeral for commands),
        or the answer in the thread (long output as a file)."""
        if reply.confirmation is not None:
            blocks = bk.confirmation_blocks(reply, reply.confirmation, self.redact)
            text = bk.fallback(bk.sanitize(self.redact(f"Confirm to run {reply.confirmation.command()}")))
            if respond is not None:
                respond(response_type="ephemeral", text=text, blocks=blocks)
            else:
                self.client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, text=text,
                                               blocks=blocks)
            return
        if respond is not None and (reply.outcome == "refused" or not public):
            respond(**bk.ephemeral(reply.text))
            return
        self.post_reply(reply, channel=channel, thread_ts=thread_ts, requested_by=user if via else None, via=via,
                        respond=respond, placeholder=placeholder)

    def post_reply(self, reply: Reply, *, channel: str, thread_ts: str | None, requested_by: str | None = None,
                   via: str | None = None, respond: Callable[..., Any] | None = None,
                   placeholder: Placeholder | None = None) -> str | None:
        """The answer with its context line and Why? button; records reply_ts for 👍/👎."""
        long = bk.is_long(reply)
        if long:
            content = self.redact(reply.artifact.content if reply.artifact else reply.text)
            filename = reply.artifact.filename if reply.artifact else f"opsbot-{reply.request_id}.txt"
            body = bk.long_summary(reply, filename, bk.sanitize(content))
        else:
            body = self.redact(reply.text)
        blocks = bk.answer_blocks(reply, body=body, requested_by=requested_by, via=via)
        try:
            ts = placeholder.replace(bk.fallback(body), blocks) if placeholder is not None and placeholder.ts \
                else self.post_message(channel, thread_ts, bk.fallback(body), blocks)
        except SlackApiError as exc:
            # e.g. a slash command in a channel the bot is not in: the response_url still works
            if respond is None or exc.response.get("error") not in ("not_in_channel", "channel_not_found"):
                raise
            respond(response_type="in_channel", text=bk.fallback(body), blocks=blocks)
            return None
        quietly(self.ledger.set_reply_ts, reply.request_id, ts)
        self.threads.mark(channel, thread_ts or ts)
        self.count("replies")
        if long:
            try:
                self.client.files_upload_v2(channel=channel, thread_ts=thread_ts or ts, filename=filename,
                                            title=filename, content=content)
                self.count("files")
            except (SlackApiError, SlackClientError) as exc:
                log.warning("file upload for %s failed: %s", reply.request_id, type(exc).__name__)
                self.post_message(channel, thread_ts or ts,
                           f"I could not attach the full output (request `{reply.request_id}`); "
                           "the preview above is all I can show.")
        return ts

    def fail(self, exc: BaseException, *, channel: str, thread_ts: str | None, user: str | None = None,
             request_id: str | None = None, respond: Callable[..., Any] | None = None) -> None:
        """Say in the thread that it failed, with a reference, never internals or secrets."""
        ref = request_id or new_id()
        self.count("failures")
        log.error("request %s failed in Slack delivery: %s", ref,
                  self.redact(f"{type(exc).__name__}: {exc}")[:300])
        if request_id:
            try:
                self.ledger.finish_request(request_id, "error",
                                           error=self.redact(f"slack delivery: {type(exc).__name__}")[:200])
            except Exception:  # the ledger itself may be what failed
                pass
        text = GENERIC_FAILURE.format(ref=ref)
        try:
            if respond is not None:
                respond(response_type="ephemeral", text=text)
            else:
                self.post_message(channel, thread_ts, text)
        except Exception as again:
            log.error("could not tell the user about %s either: %s", ref, type(again).__name__)

    # -- buttons -----------------------------------------------------------------------------------

    def _on_confirm(self, ack: Callable, body: dict, respond: Callable) -> None:
        ack()
        self.enqueue(self._resolve, body, True, respond, key=dedupe_key(body))

    def _on_cancel(self, ack: Callable, body: dict, respond: Callable) -> None:
        ack()
        self.enqueue(self._resolve, body, False, respond, key=dedupe_key(body))

    def _resolve(self, body: dict, approve: bool, respond: Callable) -> None:
        confirmation_id = (body.get("actions") or [{}])[0].get("value") or ""
        user = (body.get("user") or {}).get("id")
        clicked_in = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        pending = self.bot.confirmations.get(confirmation_id)
        if pending is None:
            respond(response_type="ephemeral", replace_original=False, text="That confirmation no longer exists.")
            return
        request = self.ledger.get_request(pending.request_id) or {}
        channel = request.get("channel") or pending.channel or clicked_in
        thread_ts = request.get("thread_ts")
        command = bk.sanitize(self.redact(pending.command()))
        requester = user == pending.user
        if requester and approve and pending.live:
            respond(replace_original=True, text=f":hourglass_flowing_sand: Running `{command}`…")
        incoming = self.incoming("", user=user, channel=channel, thread_ts=thread_ts)
        try:
            reply = self.bot.resolve_confirmation(confirmation_id, incoming, approve)
        except Exception as exc:
            self.fail(exc, channel=channel, thread_ts=thread_ts, user=user, request_id=pending.request_id,
                      respond=respond)
            return
        self.count("confirmations_" + ("approved" if approve else "cancelled") if requester else "confirmations_refused")
        if not requester:      # someone else's click: tell them, leave the prompt to the requester
            respond(response_type="ephemeral", replace_original=False, text=reply.text)
            return
        if reply.outcome in ("ok", "error", "timeout"):
            respond(replace_original=True, text=f":white_check_mark: <@{user}> confirmed `{command}`.")
            try:
                self.post_reply(reply, channel=channel, thread_ts=thread_ts, requested_by=user, via="confirmation",
                                respond=respond)
            except Exception as exc:
                self.fail(exc, channel=channel, thread_ts=thread_ts, user=user, request_id=reply.request_id)
        else:
            respond(replace_original=True, text=reply.text)
