"""Health and metrics endpoints for load balancers, Kubernetes probes and Prometheus.

- /healthz: liveness. The process answers HTTP; no I/O at all (served on the event loop itself).
- /readyz: readiness. One read from the ledger (a row of the `state` table): 200 when the database
  answers with the current schema, 503 otherwise, so a replica that lost its database gets no events.
- /metrics: Prometheus text (bot/metrics.py).

A handler takes the request headers and returns (status, content type, body). They do blocking I/O,
so the asyncio server runs them in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

TEXT = "text/plain; charset=utf-8"
Handler = Callable[[dict[str, str]], tuple[int, str, bytes]]


def healthz(_headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    return 200, TEXT, b"ok"


def readyz(ledger: Any) -> tuple[int, str, bytes]:
    try:
        ledger.get_state("readyz")
    except Exception as exc:   # the type only: a driver's message may name hosts and users
        log.warning("readyz: ledger not readable: %s", type(exc).__name__)
        return 503, TEXT, f"not ready: ledger unavailable ({type(exc).__name__})".encode()
    return 200, TEXT, b"ready"


def routes(ledger: Any) -> dict[str, Handler]:
    """The GET endpoints beside /slack/events (besides /healthz, which the server answers inline)."""
    from bot import metrics

    def scrape(headers: dict[str, str]) -> tuple[int, str, bytes]:
        content_type, body = metrics.exposition(ledger, headers.get("accept"))
        return 200, content_type, body

    metrics.enable()
    return {"/metrics": scrape, "/readyz": lambda _headers: readyz(ledger)}


def wsgi_routes(ledger: Any):
    """The same endpoints and /healthz as a WSGI application (the --metrics-port server)."""
    handlers = {"/healthz": healthz, **routes(ledger)}

    def application(environ, start_response):
        handler = handlers.get(environ.get("PATH_INFO", ""))
        if handler is None:
            status, content_type, body = 404, TEXT, b"not found"
        else:
            status, content_type, body = handler({"accept": environ.get("HTTP_ACCEPT", "")})
        phrase = {200: "200 OK", 404: "404 Not Found", 503: "503 Service Unavailable"}[status]
        start_response(phrase, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]

    return application


def serve_port(port: int, ledger: Any, host: str = "0.0.0.0"):
    """/metrics, /healthz and /readyz on their own port, for Socket Mode and the console (no HTTP server
    of ours there). Returns the WSGI server: `.server_port`, `.shutdown()`."""
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client.exposition import ThreadingWSGIServer

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:   # one line per scrape is noise
            pass

    from bot import metrics

    metrics.enable()
    try:
        server = make_server(host, port, wsgi_routes(ledger), ThreadingWSGIServer, handler_class=QuietHandler)
    except OSError as exc:
        from bot.config import ConfigError

        raise ConfigError(f"BOT_METRICS_PORT / --metrics-port {port}: {exc.strerror or exc}") from None
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="opsbot-metrics",
                     daemon=True).start()
    log.info("opsbot: metrics on %s:%s/metrics", host, server.server_port)
    return server
