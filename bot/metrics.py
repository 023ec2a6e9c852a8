"""Prometheus metrics: every definition in one place, recorded where the ledger writes the same facts.

Switched on by a process that serves them (`bot serve --http` at /metrics, or `--metrics-port` /
BOT_METRICS_PORT): until `enable()` every hook is a no-op, so one-shot commands (`bot ask`, `bot stats`)
neither import prometheus_client nor pay for counting.

Two kinds of numbers, chosen by what they describe:
- Events (requests answered, LLM calls, tokens, cost, script runs, job runs, acks) are counters and
  histograms of THIS process. Each event is handled by exactly one replica (claims in the shared
  ledger), so `sum by (...) (rate(opsbot_requests_total[5m]))` over the replicas is the cluster's figure.
- State (jobs disabled now, spend today) is read from the ledger at scrape time by LedgerCollector,
  so it is cluster-wide and identical on every replica: aggregate it with `max`, never `sum`.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

LLM_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")
JOB_FAILURES = ("error", "timeout")

_m: dict[str, Any] | None = None      # the metric objects, once enabled
_scheduler: Any = None                 # this process's scheduler handle (is_leader), if it runs one


def enable() -> None:
    """Create the metrics in prometheus_client's default registry (idempotent)."""
    global _m
    if _m is not None:
        return
    from prometheus_client import Counter, Histogram

    _m = {
        "requests": Counter("opsbot_requests", "Requests that reached a final outcome, by the tier that "
                            "answered (last decision; 'none' if undecided) and outcome", ["tier", "outcome"]),
        "llm_calls": Counter("opsbot_llm_calls", "LLM calls by model and outcome (ok | error)",
                             ["model", "outcome"]),
        "tokens": Counter("opsbot_llm_tokens", "LLM tokens by model and kind "
                          "(input, output, cache_read, cache_write)", ["model", "kind"]),
        "cost": Counter("opsbot_llm_cost_usd", "LLM cost in USD (pricing table) by model", ["model"]),
        "llm_latency": Histogram("opsbot_llm_latency_seconds", "Latency of one LLM call by model", ["model"],
                                 buckets=LLM_BUCKETS),
        "script_runs": Counter("opsbot_script_runs", "Script runs by script, exit code ('none': killed or "
                               "not started) and status", ["script", "exit_code", "status"]),
        "job_runs": Counter("opsbot_job_runs", "Scheduled job runs by job and status", ["job", "status"]),
        "job_failures": Counter("opsbot_job_failures", "Failed job runs (error or timeout) by job", ["job"]),
        "job_disables": Counter("opsbot_job_disables", "Jobs disabled by consecutive failures, by job", ["job"]),
        "ack": Histogram("opsbot_slack_ack_seconds", "Slack delivery received → ack sent, by mode "
                         "(http | socket)", ["mode"], buckets=ACK_BUCKETS),
    }


def enabled() -> bool:
    return _m is not None


def watch_scheduler(handle: Any) -> None:
    """Report whether this process holds the scheduler lease (opsbot_scheduler_leader)."""
    global _scheduler
    _scheduler = handle


def _safe(record):
    """A metrics hook never takes a reply, a run or a ledger write down with it."""
    def hook(*args: Any, **kwargs: Any) -> None:
        if _m is None:
            return
        try:
            record(_m, *args, **kwargs)
        except Exception:
            log.warning("metrics: could not record %s", record.__name__, exc_info=True)
    hook.__name__ = hook.__qualname__ = record.__name__
    hook.__doc__ = record.__doc__
    return hook


def _tier(ledger: Any, request_id: str) -> str:
    decisions = ledger.decisions_for(request_id)
    return (decisions[-1]["tier"] or "none") if decisions else "none"


@_safe
def request_finished(m: dict, ledger: Any, request_id: str, outcome: str) -> None:
    """Called by the ledger when it writes a request's outcome. 'awaiting_confirmation' is not final:
    the same request is counted once more when it is confirmed, cancelled or expires."""
    if outcome != "awaiting_confirmation":
        m["requests"].labels(_tier(ledger, request_id), outcome).inc()


@_safe
def requests_closed(m: dict, ledger: Any, request_ids: list[str], outcome: str) -> None:
    """Requests the ledger closes in bulk (expired confirmations, requests of a dead process)."""
    for request_id in request_ids:
        m["requests"].labels(_tier(ledger, request_id), outcome).inc()


@_safe
def llm_call(m: dict, model: str, input_tokens: int, output_tokens: int, cache_read_tokens: int,
             cache_write_tokens: int, cost_usd: float, latency_ms: float, error: str | None) -> None:
    m["llm_calls"].labels(model, "error" if error else "ok").inc()
    for kind, count in zip(TOKEN_KINDS, (input_tokens, output_tokens, cache_read_tokens, cache_write_tokens),
                           strict=True):
        if count:
            m["tokens"].labels(model, kind).inc(count)
    if cost_usd:
        m["cost"].labels(model).inc(cost_usd)
    m["llm_latency"].labels(model).observe((latency_ms or 0) / 1000)


@_safe
def script_run(m: dict, script: str, exit_code: int | None, status: str) -> None:
    m["script_runs"].labels(script, "none" if exit_code is None else str(exit_code), status).inc()


@_safe
def job_run(m: dict, job: str, status: str, disabled: bool = False) -> None:
    m["job_runs"].labels(job, status).inc()
    if status in JOB_FAILURES:
        m["job_failures"].labels(job).inc()
    if disabled:
        m["job_disables"].labels(job).inc()


@_safe
def slack_ack(m: dict, mode: str, seconds: float) -> None:
    m["ack"].labels(mode).observe(seconds)


class LedgerCollector:
    """Cluster-wide state, read from the shared ledger at scrape time (cheap reads, no writes)."""

    def __init__(self, ledger: Any):
        self.ledger = ledger

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("opsbot_ledger_up", "1 if this scrape could read the ledger")
        try:
            states = self.ledger.job_states()
            spend = self.ledger.spend_today()
        except Exception as exc:
            log.warning("metrics: ledger not readable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        per_job = GaugeMetricFamily("opsbot_job_disabled", "1 if the job is disabled now (ledger: the same "
                                    "on every replica, aggregate with max)", labels=["job"])
        for name, row in sorted(states.items()):
            per_job.add_metric([name], 0 if row.get("enabled") else 1)
        yield per_job
        yield GaugeMetricFamily("opsbot_jobs_disabled", "Jobs disabled now (ledger: cluster-wide, aggregate "
                                "with max)", value=sum(1 for row in states.values() if not row.get("enabled")))
        yield GaugeMetricFamily("opsbot_llm_spend_today_usd", "LLM spend since UTC midnight (ledger: "
                                "cluster-wide, aggregate with max)", value=spend)


class _Exposition:
    """This process's metrics (default registry: ours + process/GC) followed by the ledger's state."""

    def __init__(self, ledger: Any):
        from prometheus_client import REGISTRY

        self.parts = [REGISTRY, LedgerCollector(ledger)]

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        for part in self.parts:
            yield from part.collect()
        leader = bool(_scheduler is not None and _scheduler.is_leader)
        yield GaugeMetricFamily("opsbot_scheduler_leader", "1 if this process holds the scheduler lease and runs "
                                "the jobs (sum over replicas: 1)", value=int(leader))


def exposition(ledger: Any, accept: str | None = None) -> tuple[str, bytes]:
    """(content type, body) for a scrape; `accept` picks OpenMetrics when Prometheus asks for it."""
    from prometheus_client.exposition import choose_encoder

    enable()
    encoder, content_type = choose_encoder(accept or "")
    return content_type, encoder(_Exposition(ledger))
