"""A small HTTP/1.1 server for Bolt's HTTP mode: one asyncio event loop thread, dispatching inline.

Why not a thread per request (wsgiref, werkzeug)? The bot's listeners do no I/O — they look at the
payload and queue the work — so Bolt's dispatch takes a fraction of a millisecond and can run on the
loop itself. One thread accepting, parsing and acking is several times cheaper than a hundred handler
threads fighting the worker pool for the interpreter lock, and it lets the AckGate know exactly how
many requests are waiting for their ack. (For gunicorn or another WSGI server, use
`bot.slack.server.wsgi_app`.)

Scope: what Slack sends. Content-Length bodies up to 1 MiB (no chunked uploads), keep-alive,
header/body read timeouts, /healthz for load balancers, 404/405/413/400 otherwise. Extra GET `routes`
(/readyz, /metrics: bot/health.py) do blocking I/O, so they run in a worker thread, never on the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from contextlib import suppress
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from bot import metrics

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
READ_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 30.0
ROUTE_TIMEOUT_S = 5.0


def malformed_body(body: bytes) -> str | None:
    """Why a body is not something Slack sends (a JSON object, or form data: a slash command, or a
    `payload=` JSON object for interactivity); None when it is. Bolt answers 500 on these otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "body is not UTF-8"
    if text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except ValueError:
            return "body is not valid JSON"
        return None if isinstance(data, dict) else "JSON body is not an object"
    try:
        form = parse_qs(text, strict_parsing=True, max_num_fields=1000)
    except ValueError:
        return "body is neither JSON nor form data"
    if "payload" in form:
        try:
            payload = json.loads(form["payload"][0])
        except ValueError:
            return "form field payload is not valid JSON"
        if not isinstance(payload, dict):
            return "form field payload is not a JSON object"
    return None


# What Bolt raises when a JSON object does not have the shape of a Slack payload ({"event": null}, …).
SHAPE_ERRORS = (AttributeError, KeyError, TypeError, ValueError, IndexError)


def malformed_payload_response(error: Exception) -> BoltResponse | None:
    """For Bolt's error handler: our listeners only look at the payload and queue work, so a shape error
    there means a payload Slack would not send; the answer is 400, not Bolt's default 500."""
    return BoltResponse(status=400, body="malformed Slack payload") if isinstance(error, SHAPE_ERRORS) else None


class _Reject(Exception):
    def __init__(self, status: int):
        self.status = status


class SlackHTTPServer:
    """Serve `app` (a slack_bolt App) at POST `path`; `gate` (an AckGate) counts requests in flight."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 3000, *, path: str = "/slack/events",
                 gate: Any = None, routes: dict[str, Any] | None = None):
        self.app, self.host, self.port, self.path, self.gate = app, host, port, path, gate
        self.routes = routes or {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}{self.path}"

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> SlackHTTPServer:
        self._thread = threading.Thread(target=self._run, name="opsbot-http", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._connection, self.host, self.port, backlog=1024,
                                     limit=MAX_HEADER_BYTES))
        except BaseException as exc:  # e.g. the port is taken: report it to start()
            self._error = exc
            self._ready.set()
            return
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None or loop.is_closed():
            return

        async def shutdown() -> None:
            server.close()
            with suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

        with suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    # -- one connection ----------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counted = False
        if self.gate is not None:            # a new connection is a request on its way
            self.gate.__enter__()
            counted = True
        try:
            first = True
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"),
                                                  READ_TIMEOUT_S if first else IDLE_TIMEOUT_S)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    await self._send(writer, 431, b"request header too large", keep_alive=False)
                    return
                if not counted and self.gate is not None:
                    self.gate.__enter__()
                    counted = True
                first = False
                try:
                    keep_alive = await self._request(head, reader, writer)
                except _Reject as reject:
                    await self._send(writer, reject.status, HTTPStatus(reject.status).phrase.encode(),
                                     keep_alive=False)
                    return
                finally:
                    if counted:
                        self.gate.__exit__(None, None, None)
                        counted = False
                if not keep_alive:
                    return
        except ConnectionError:
            pass
        finally:
            if counted:
                self.gate.__exit__(None, None, None)
            writer.close()

    async def _request(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        received = time.monotonic()
        try:
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, version = request_line.split(" ", 2)
        except ValueError:
            raise _Reject(400) from None
        headers: dict[str, str] = {}
        for line in header_lines:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise _Reject(400)
            headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _Reject(411)
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            raise _Reject(400) from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise _Reject(413)
        try:
            body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT_S) if length else b""
        except (TimeoutError, asyncio.IncompleteReadError):
            raise ConnectionError("body not received") from None

        path, _, query = target.partition("?")
        if path == "/healthz":
            await self._send(writer, 200, b"ok", keep_alive=keep_alive)
        elif path in self.routes and method == "GET":
            try:
                status, content_type, content = await asyncio.wait_for(
                    asyncio.get_running_loop().run_in_executor(None, self.routes[path], headers), ROUTE_TIMEOUT_S)
            except Exception as exc:   # a timeout or a bug: the prober sees 503, the log says which
                log.error("%s failed: %s", path, type(exc).__name__)
                status, content_type, content = 503, "text/plain; charset=utf-8", b"unavailable"
            await self._send(writer, status, content, keep_alive=keep_alive, extra={"Content-Type": content_type})
        elif path != self.path:
            await self._send(writer, 404, b"not found", keep_alive=keep_alive)
        elif method != "POST":
            await self._send(writer, 405, b"method not allowed", keep_alive=keep_alive, extra={"Allow": "POST"})
        elif (problem := malformed_body(body)) is not None:
            log.info("rejected a POST: %s", problem)
            await self._send(writer, 400, problem.encode(), keep_alive=keep_alive)
        else:
            try:
                response = self.app.dispatch(BoltRequest(body=body.decode("utf-8"), query=query, headers=headers))
                status, content = response.status, (response.body or "").encode("utf-8")
                extra = {k: v[0] for k, v in response.headers.items() if v and k.lower() != "content-length"}
            except SHAPE_ERRORS as exc:  # our listeners only queue work: Bolt choked on the payload's shape
                log.info("rejected a POST: malformed Slack payload (%s)", type(exc).__name__)
                status, content, extra = 400, b"malformed Slack payload", {}
            except Exception as exc:  # Bolt handles listener errors itself; this is a bug of ours
                log.error("dispatch failed: %s", type(exc).__name__)
                status, content, extra = 500, b"", {}
            await self._send(writer, status, content, keep_alive=keep_alive, extra=extra)
            metrics.slack_ack("http", time.monotonic() - received)
        return keep_alive

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: int, body: bytes, *, keep_alive: bool,
                    extra: dict[str, str] | None = None) -> None:
        headers = {"content-type": "text/plain; charset=utf-8", **{k.lower(): v for k, v in (extra or {}).items()}}
        headers["content-length"] = str(len(body))
        headers["connection"] = "keep-alive" if keep_alive else "close"
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        head = f"HTTP/1.1 {status} {phrase}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
