"""One scheduler per deployment on a shared ledger: one leader, fencing, failover after kill -9.

Tick-based tests run on SQLite and PostgreSQL with injected time; the process tests run real
scheduler processes on a real PostgreSQL (tests/postgres.py), as replicas on several machines would.
"""

from __future__ import annotations

import datetime as dt
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.jobs.schedule import LEASE_NAME
from tests.test_scheduler_helpers import T0, Clock, World

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(params=["sqlite", "postgresql"])
def any_world(request, tmp_path) -> World:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    return World(tmp_path, database_url=url)


@pytest.fixture
def pg_world(tmp_path, pg_url) -> World:
    return World(tmp_path, database_url=pg_url)


def test_two_schedulers_one_leader_and_failover_after_expiry(any_world):
    clock = Clock()
    a = any_world.service(clock=clock, holder="host-a/1/a")
    b = any_world.service(clock=clock, holder="host-b/2/b")
    assert a.tick(T0) is True and b.tick(T0) is False
    assert a.tick(T0 + dt.timedelta(seconds=20)) is True
    assert b.tick(T0 + dt.timedelta(seconds=79)) is False
    assert b.tick(T0 + dt.timedelta(seconds=81)) is True
    assert a.tick(T0 + dt.timedelta(seconds=82)) is False
    assert (a.is_leader, b.is_leader) == (False, True)


def test_a_leader_that_lost_its_lease_cannot_start_a_scheduled_run(any_world):
    """A paused leader wakes after its successor took over, its timetable still firing: fenced off."""
    clock = Clock()
    a = any_world.service(clock=clock, holder="host-a/1/a")
    b = any_world.service(clock=clock, holder="host-b/2/b")
    assert a.tick(T0) is True
    clock.advance(seconds=61)
    assert b.tick(clock()) is True                   # A's lease ran out while A was paused
    assert a.is_leader                               # A has not noticed yet
    refused = a.runner.run(a.spec("flaky"), trigger="schedule", lease=LEASE_NAME)
    assert refused.status == "not-leader" and not refused.ran
    assert any_world.runs("flaky") == 0 and a.ledger.job_runs("flaky") == []
    ran = b.runner.run(b.spec("flaky"), trigger="schedule", lease=LEASE_NAME)
    assert ran.status == "ok" and any_world.runs("flaky") == 1
    assert a.ledger.job_runs("flaky")[0]["holder"] == "host-b/2/b"


def _line(proc: subprocess.Popen, timeout: float) -> str | None:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().strip() if ready else None


def test_scheduler_processes_on_postgresql_one_leader_then_kill_9_failover_no_slot_run_twice(pg_world):
    lease_s = 0.6
    code = pg_world.scheduler_code(lease_s, every_second=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    a = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)  # noqa: S603
    b = None
    try:
        holder_a = _line(a, 20)
        assert holder_a and holder_a.split("/")[1] == str(a.pid)
        b = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)  # noqa: S603
        service = pg_world.service()
        ledger = service.ledger
        deadline = time.monotonic() + 15
        while len(ledger.job_runs("flaky")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _line(b, 0.3) is None                         # B is up, and not the leader
        assert {r["holder"] for r in ledger.job_runs("flaky", 100)} == {holder_a}

        os.kill(a.pid, signal.SIGKILL)                       # the leader dies holding the lease
        killed = time.monotonic()
        a.wait(5)
        holder_b = _line(b, 10)
        took_over = time.monotonic() - killed
        assert holder_b and holder_b.split("/")[1] == str(b.pid)
        assert took_over <= lease_s + lease_s / 3 + 1.5, took_over     # within the lease time (+ a renewal)
        runs_by_a = len(ledger.job_runs("flaky", 1000))
        deadline = time.monotonic() + 15
        while len(ledger.job_runs("flaky", 1000)) < runs_by_a + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        for proc in (a, b):
            if proc is not None:
                proc.kill()
                proc.wait(5)
    runs = list(reversed(ledger.job_runs("flaky", 1000)))
    holders = [r["holder"] for r in runs]
    assert set(holders) == {holder_a, holder_b}
    assert holders == sorted(holders, key=lambda h: h == holder_b)       # A's runs, then only B's
    slots = [round(dt.datetime.fromisoformat(r["started_at"]).timestamp()) for r in runs]
    assert len(slots) == len(set(slots)), slots                          # no second run of any slot
    finished = [r for r in runs if r["status"] == "ok"]
    assert len(finished) <= pg_world.runs("flaky") <= len(runs)          # the script ran once per run row
    for earlier, later in zip(runs, runs[1:], strict=False):             # never two at once
        assert earlier["finished_at"] is None or earlier["finished_at"] <= later["started_at"] \
            or earlier["status"] == "interrupted"
