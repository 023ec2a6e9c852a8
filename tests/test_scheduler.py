"""Scheduled jobs: failure counting, auto-disable with one alert, interrupted runs, the lease, timeouts.

Time is driven, not slept: runs are triggered with run_now()/tick(now) and an injected clock. Where the
real APScheduler matters (no 4th run, failover) it runs with sub-second intervals.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from bot.jobs.commands import answer
from bot.jobs.posters import LogPoster
from bot.jobs.schedule import HOUSEKEEPING, start_scheduler
from bot.jobs.spec import JobNotFound
from bot.jobs.triggers import build_trigger
from bot.ledger import Ledger
from bot.request import Reply
from tests.test_scheduler_helpers import T0, Clock, RecordingPoster, World

ROOT = Path(__file__).resolve().parent.parent


def alerts_for(ledger: Ledger, job: str) -> list[dict]:
    return list(ledger.db["alerts"].rows_where("job = ?", [job], order_by="id"))


def wait_until(predicate, timeout: float = 5.0, step: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


def running_pid(pid: int) -> bool:
    """Is there a live (not zombie) process with this pid? Read from /proc, independently of bot code."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def kill_group(pgid: int | None) -> None:
    try:
        if pgid:
            os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def world(request, tmp_path) -> World:
    """SQLite in BOT_HOME; tests marked with BOTH_BACKENDS run again on a real PostgreSQL (tests/postgres.py)."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return World(tmp_path, database_url=request.getfixturevalue("pg_url"))
    return World(tmp_path)


BOTH_BACKENDS = pytest.mark.parametrize("world", ["sqlite", "postgresql"], indirect=True)


# -- failure counting and auto-disable --------------------------------------------------------------


@BOTH_BACKENDS
def test_three_failures_disable_the_job_at_once_with_exactly_one_alert(world, caplog):
    poster = RecordingPoster()
    service = world.service(poster=poster, clock=Clock())
    world.mode("flaky", "fail")

    results = [service.run_now("flaky") for _ in range(3)]
    assert [r.status for r in results] == ["error"] * 3
    assert [r.consecutive_failures for r in results] == [1, 2, 3]
    assert [r.disabled for r in results] == [False, False, True]

    fourth = service.run_now("flaky")
    assert fourth.status == "disabled" and not fourth.ran
    assert world.runs("flaky") == 3                       # the script really ran 3 times, never a 4th
    assert len(service.ledger.job_runs("flaky")) == 3

    state = service.ledger.job_state("flaky")
    assert state["enabled"] == 0 and state["consecutive_failures"] == 3
    assert state["disabled_reason"] == "3 consecutive failures"
    job = service.job("flaky")
    assert job["state"] == "disabled" and job["auto_disabled"] and job["next_run"] is None

    alerts = poster.to("#alerts")
    assert len(alerts) == 1
    text = alerts[0]["text"]
    assert "`flaky`" in text and "disabled after 3 consecutive failures" in text
    assert text.count("upstream said no") == 3             # the last errors
    assert "bot jobs enable flaky" in text                  # how to re-enable
    assert [a["status"] for a in alerts_for(service.ledger, "flaky")] == ["sent"]
    assert any("ALERT job flaky disabled" in r.getMessage() for r in caplog.records)
    # A later tick (or a restart) never re-sends it.
    service.tick(T0)
    world.service(poster=poster).send_pending_alerts()
    assert len(poster.to("#alerts")) == 1
    # Each failure also said so in the job's own channel, with the count.
    notes = poster.to("#reports")
    assert [n["text"].split(":")[0] for n in notes] == [f"⚠️ Job `flaky` failed ({i}/3)" for i in (1, 2, 3)]


def test_success_between_failures_resets_the_count(world):
    service = world.service()
    for mode, expected in (("fail", 1), ("fail", 2), ("ok", 0), ("fail", 1), ("fail", 2)):
        world.mode("flaky", mode)
        assert service.run_now("flaky").consecutive_failures == expected
    assert service.ledger.job_state("flaky")["enabled"] == 1
    assert service.run_now("flaky").disabled is True        # the 3rd consecutive one
    ok = [p for p in service.poster.posts if p["channel"] == "#reports" and "all good" in p["text"]]
    assert len(ok) == 1                                     # the successful output went to post_to


def test_enabling_resets_the_count_and_each_disable_alerts_once(world):
    poster = RecordingPoster()
    service = world.service(poster=poster)
    world.mode("flaky", "fail")
    for _ in range(3):
        service.run_now("flaky")
    result = service.enable("flaky", by="U123")
    assert result.ok and "failure count reset" in result.text
    assert result.job["consecutive_failures"] == 0 and result.job["state"] == "scheduled"
    assert service.run_now("flaky").consecutive_failures == 1      # counts from zero again
    assert service.run_now("flaky").disabled is False
    assert service.run_now("flaky").disabled is True
    assert len(poster.to("#alerts")) == 2                            # one per disable event


def test_disable_by_hand_stops_runs_without_an_alert(world):
    poster = RecordingPoster()
    service = world.service(poster=poster)
    result = service.disable("flaky", "maintenance window", by="U1")
    assert "maintenance window" in result.text
    assert service.run_now("flaky").status == "disabled"
    assert world.runs("flaky") == 0
    job = service.job("flaky")
    assert job["state"] == "disabled" and not job["auto_disabled"]
    assert poster.to("#alerts") == []
    assert "already disabled" in service.disable("flaky").text


def test_a_hanging_job_is_killed_at_its_timeout_and_counted(tmp_path):
    world = World(tmp_path, jobs=[{"name": "hangs", "schedule": "every 1h", "script": "test.flaky",
                                   "timeout_s": 0.5, "post_to": "#r"}])
    world.mode("flaky", "hang")
    service = world.service()
    result = service.run_now("hangs")                       # the script would sleep 60 s
    assert result.status == "timeout" and result.consecutive_failures == 1
    assert "took longer than 0.5s" in result.error
    pid = int((world.state / "flaky.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)                                     # the script's process is gone
    run = service.ledger.job_runs("hangs")[0]
    assert run["status"] == "timeout"
    script_run = service.ledger.db.execute("SELECT status, job_run_id FROM script_runs").fetchone()
    assert script_run == ("timeout", run["id"])


def test_script_jobs_go_through_the_ledger_like_requests(world):
    service = world.service()
    result = service.run_now("flaky")
    assert result.ok and "all good" in result.text
    request = service.ledger.get_request(result.request_id)
    assert request["source"] == "job" and request["outcome"] == "ok" and request["channel"] == "#reports"
    decision = service.ledger.decisions_for(result.request_id)[0]
    assert (decision["tier"], decision["decided_by"], decision["script"]) == ("script", "job", "test.flaky")
    script_run = service.ledger.db.execute("SELECT job_run_id, request_id FROM script_runs").fetchone()
    assert script_run == (result.run_id, result.request_id)
    run = service.ledger.job_runs("flaky")[0]
    assert run["request_id"] == result.request_id and run["trigger"] == "manual"


def test_job_without_credentials_waits_and_is_never_counted(tmp_path):
    world = World(tmp_path, scripts=[{"name": "test.flaky", "env": ["FAKE_TOKEN"]}],
                  jobs=[{"name": "needs-token", "schedule": "0 9 * * *", "script": "test.flaky"}])
    service = world.service()
    job = service.job("needs-token")
    assert job["state"] == "waiting" and job["waiting_for"] == "credentials: FAKE_TOKEN"
    assert job["next_run"] is None and job["enabled"] is True
    result = service.run_now("needs-token")
    assert result.status == "waiting" and not result.ran
    assert world.runs("flaky") == 0 and service.ledger.job_state("needs-token")["consecutive_failures"] == 0
    configured = world.service(env={"FAKE_TOKEN": "s3cret"})
    assert configured.job("needs-token")["state"] == "scheduled"


def test_job_waits_for_the_settings_it_requires_beyond_credentials(tmp_path):
    world = World(tmp_path, jobs=[{"name": "ci", "schedule": "0 9 * * *", "script": "test.ok",
                                   "requires_env": ["FAKE_REPO"]}])
    assert world.service().job("ci")["waiting_for"] == "credentials: FAKE_REPO"
    assert world.service(env={"FAKE_REPO": "acme/web"}).job("ci")["state"] == "scheduled"


def test_off_in_registry_stays_off_even_when_enabled_by_hand(tmp_path):
    world = World(tmp_path, jobs=[{"name": "later", "schedule": "0 9 * * *", "script": "test.ok", "enabled": False}])
    service = world.service()
    assert service.job("later")["state"] == "off"
    assert "still off in the registry" in service.enable("later").text
    assert service.job("later")["state"] == "off"
    result = service.run_now("later")                       # off means off, by hand too
    assert result.status == "off" and not result.ran and world.runs("ok") == 0


def test_unknown_job_names_say_what_exists(world):
    service = world.service()
    with pytest.raises(JobNotFound, match="known: flaky, heartbeat"):
        service.run_now("nope")
    assert answer(service, ["run", "nope"]).ok is False


# -- skill jobs ---------------------------------------------------------------------------------------


class FakeOrchestrator:
    def __init__(self, behaviour="ok"):
        self.behaviour = behaviour
        self.seen = []
        self.unblock = threading.Event()

    def answer(self, ctx):
        self.seen.append(ctx)
        if self.behaviour == "raise":
            raise RuntimeError("anthropic.APIStatusError: 529 overloaded")
        if self.behaviour == "hang":
            self.unblock.wait(10)
        outcome = "error" if self.behaviour == "error" else "ok"
        return Reply("Merged: #12, #13. Blockers: none.", ctx.request_id, tier="direct", outcome=outcome)


def test_skill_jobs_wait_for_llm_tiers_then_run_through_the_orchestrator(tmp_path):
    jobs = [{"name": "standup", "schedule": "30 9 * * 1-5", "timezone": "Europe/Berlin", "skill": "digest",
             "prompt": "Yesterday's merged PRs and open blockers", "post_to": "#eng", "timeout_s": 0.5}]
    world = World(tmp_path, jobs=jobs, skills={"digest": "Standup digest of PRs and blockers"})
    service = world.service()
    assert service.job("standup")["waiting_for"] == "LLM tiers (set ANTHROPIC_API_KEY)"
    assert service.run_now("standup").status == "waiting"

    orchestrator = FakeOrchestrator()
    poster = RecordingPoster()
    service = world.service(orchestrator=orchestrator, poster=poster)
    result = service.run_now("standup")
    assert result.ok and poster.to("#eng")[0]["text"].endswith("Blockers: none.")
    ctx = orchestrator.seen[0]
    assert ctx.incoming.source == "job" and "digest" in ctx.incoming.text and "merged PRs" in ctx.incoming.text
    decision = service.ledger.decisions_for(result.request_id)[0]
    assert (decision["decided_by"], decision["skill"]) == ("job", "digest")

    orchestrator.behaviour = "raise"                         # an LLM error is a failure
    failed = service.run_now("standup")
    assert failed.status == "error" and "LLM error" in failed.error and failed.consecutive_failures == 1
    orchestrator.behaviour = "error"                         # so is a reply with outcome error
    assert service.run_now("standup").consecutive_failures == 2
    orchestrator.behaviour = "hang"                          # and no answer within timeout_s
    hung = service.run_now("standup")
    orchestrator.unblock.set()
    assert hung.status == "timeout" and hung.disabled is True
    assert service.ledger.get_request(hung.request_id)["outcome"] == "timeout"


# -- schedules ----------------------------------------------------------------------------------------


def test_cron_is_read_in_the_jobs_timezone():
    trigger = build_trigger("0 9 * * 1-5", "Europe/Berlin")
    fire = trigger.get_next_fire_time(None, T0)               # Monday 09:00 UTC = 10:00 Berlin (CET)
    assert fire.astimezone(dt.UTC) == dt.datetime(2026, 3, 3, 8, 0, tzinfo=dt.UTC)
    summer = trigger.get_next_fire_time(None, dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC))
    assert summer.astimezone(dt.UTC) == dt.datetime(2026, 7, 2, 7, 0, tzinfo=dt.UTC)


def test_intervals_are_anchored_at_the_last_run():
    last = T0 - dt.timedelta(minutes=10)
    trigger = build_trigger("every 15m", "UTC", anchor=last)
    assert trigger.get_next_fire_time(None, T0) == last + dt.timedelta(minutes=15)


def test_a_run_missed_while_down_is_due_once_and_later_overdue(tmp_path):
    world = World(tmp_path, jobs=[{"name": "daily", "schedule": "0 9 * * *", "script": "test.ok"}])
    clock = Clock(T0 - dt.timedelta(days=1))
    service = world.service(clock=clock)
    assert service.run_now("daily").ok                        # ran yesterday 09:00
    clock.now = T0 + dt.timedelta(minutes=2)                  # restarted today at 09:02
    job = service.job("daily")
    assert job["next_run"] == "2026-03-02T09:00:00.000+00:00" and not job["overdue"]
    clock.now = T0 + dt.timedelta(minutes=30)                 # past the grace time: skipped, overdue
    job = service.job("daily")
    assert job["overdue"] is True and job["next_run"] == "2026-03-03T09:00:00.000+00:00"


# -- the real APScheduler: no 4th run --------------------------------------------------------------------


@BOTH_BACKENDS
def test_real_scheduler_stops_a_failing_job_after_exactly_three_runs(world):
    poster = RecordingPoster()
    service = world.service(poster=poster, trigger_override=lambda spec: IntervalTrigger(seconds=0.05))
    world.mode("flaky", "fail")
    handle = start_scheduler(service.bot, service.settings, service=service)
    try:
        wait_until(lambda: service.ledger.job_state("flaky")["enabled"] == 0)
        time.sleep(0.4)                                       # ~8 more firing intervals
        assert world.runs("flaky") == 3
        assert len(service.ledger.job_runs("flaky")) == 3
        assert len(poster.to("#alerts")) == 1
        assert service._aps.get_job("flaky") is None           # taken off the timetable at once
    finally:
        handle.shutdown()
    assert service.ledger.db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0


def test_no_scheduler_setting_starts_nothing(world):
    service = world.service(settings=world.settings(bot_scheduler=False))
    handle = start_scheduler(service.bot, service.settings, service=service)
    assert handle.running is False and service._aps is None
    handle.shutdown()


# -- one scheduler per deployment -------------------------------------------------------------------------


@BOTH_BACKENDS
def test_lease_makes_one_leader_and_fails_over_after_expiry(world):
    assert world.settings().bot_scheduler_lease_s == 60
    clock = Clock()
    a = world.service(clock=clock, holder="host-a/1/a")
    b = world.service(clock=clock, holder="host-b/2/b")
    assert a.tick(T0) is True and b.tick(T0) is False
    assert a.tick(T0 + dt.timedelta(seconds=20)) is True        # renewals keep it
    assert b.tick(T0 + dt.timedelta(seconds=70)) is False        # A renewed at +20 → valid until +80
    # A dies (stops renewing); once the lease expires, B takes over and A (if it comes back) steps down.
    assert b.tick(T0 + dt.timedelta(seconds=81)) is True
    assert a.tick(T0 + dt.timedelta(seconds=82)) is False
    assert (a.is_leader, b.is_leader) == (False, True)


@BOTH_BACKENDS
def test_a_scheduler_process_killed_with_9_is_replaced_once_its_lease_expires(world):
    lease_s = 0.6
    settings = world.settings(bot_scheduler_lease_s=lease_s)
    a = subprocess.Popen([sys.executable, "-c", world.scheduler_code(lease_s)], cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    b = world.service(settings=settings)
    handle = None
    try:
        holder_a = a.stdout.readline().strip()                  # A runs the scheduler
        assert holder_a.split("/")[1] == str(a.pid)
        assert b.tick() is False                                # B cannot take a live lease
        handle = start_scheduler(b.bot, settings, service=b)
        time.sleep(lease_s)                                     # B keeps trying while A renews
        assert not b.is_leader and {j.id for j in b._aps.get_jobs()} == HOUSEKEEPING   # B schedules nothing

        os.kill(a.pid, signal.SIGKILL)                          # A dies holding the lease
        a.wait(5)
        expires_at = b.ledger.db.execute("SELECT expires_at FROM leases").fetchone()[0]
        wait_until(lambda: b.is_leader, timeout=5)
        assert time.time() >= expires_at                        # not before A's lease ran out
        assert b.ledger.db.execute("SELECT holder FROM leases").fetchone()[0] == b.holder
        # is_leader turns true just before the lease tick rebuilds the timetable: wait for the jobs too.
        wait_until(lambda: {j.id for j in b._aps.get_jobs()} >= {"flaky", "heartbeat"}, timeout=5)
    finally:
        a.kill()
        a.wait(5)
        if handle is not None:
            handle.shutdown()


def test_a_hanging_alert_post_does_not_hold_up_the_lease_renewals(world):
    terminal = world.service(poster=LogPoster())          # no Slack here: the alert stays queued
    world.mode("flaky", "fail")
    for _ in range(3):
        terminal.run_now("flaky")
    release = threading.Event()

    class Hangs:
        def __init__(self):
            self.channels = []

        def post(self, channel, text, blocks=None):
            self.channels.append(channel)
            release.wait(10)                                # Slack not answering

    poster = Hangs()
    settings = world.settings(bot_scheduler_lease_s=0.3)
    service = world.service(settings=settings, poster=poster)
    ledger = service.ledger

    def expiry() -> float:
        return ledger.db.execute("SELECT expires_at FROM leases").fetchone()[0]

    handle = start_scheduler(service.bot, settings, service=service)
    try:
        wait_until(lambda: "#alerts" in poster.channels)   # the leader is posting the alert, and hangs
        first = expiry()
        wait_until(lambda: expiry() > first + 0.25)        # meanwhile the lease is renewed (every 0.1 s)
        assert service.is_leader
        release.set()
        wait_until(lambda: alerts_for(ledger, "flaky")[0]["status"] == "sent")
    finally:
        release.set()
        handle.shutdown()
    assert poster.channels.count("#alerts") == 1


# -- kill -9 during a run, then restart ---------------------------------------------------------------------


@BOTH_BACKENDS
def test_kill_9_during_a_run_then_restart_keeps_state_and_records_an_interrupted_run(world):
    service = world.service()
    world.mode("flaky", "fail")
    assert service.run_now("flaky").consecutive_failures == 1          # state before the crash

    world.mode("flaky", "hang")
    child = subprocess.Popen([sys.executable, "-c", world.subprocess_code("flaky")],
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pid_file = world.state / "flaky.pid"
    try:
        wait_until(pid_file.exists, timeout=15)
        running = wait_until(lambda: [r for r in service.ledger.running_job_runs() if r["script_pid"]], timeout=5)
        script_pid = int(pid_file.read_text())
        # The recorded process is the run's supervisor (bot/reaper.py), the script's parent, in one group.
        supervisor = int(Path(f"/proc/{script_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        assert [(r["pid"], r["script_pid"]) for r in running] == [(child.pid, supervisor)]
        assert os.getpgid(script_pid) == supervisor
        os.kill(child.pid, signal.SIGKILL)
        child.wait(5)
        wait_until(lambda: not running_pid(script_pid))   # the supervisor takes the run down with the bot

        restarted = world.service()                   # a new process's view of the same ledger
        assert restarted.tick() is True
    finally:
        child.kill()
        child.wait(5)
        kill_group(int(pid_file.read_text()) if pid_file.exists() else None)

    run = restarted.ledger.job_runs("flaky")[0]
    assert run["status"] == "interrupted" and "ended during the run" in run["error"]
    state = restarted.ledger.job_state("flaky")
    assert state["enabled"] == 1 and state["consecutive_failures"] == 1     # intact, not counted
    assert state["last_status"] == "interrupted"
    assert restarted.ledger.get_request(run["request_id"])["outcome"] == "cancelled"

    world.mode("flaky", "fail")
    after = restarted.run_now("flaky")
    assert after.consecutive_failures == 2 and not after.disabled       # the interrupted run did not count


def test_recovery_kills_a_leftover_script_only_when_it_is_provably_the_runs(world):
    from bot.process import process_identity

    service = world.service()
    ledger = service.ledger
    host = service.holder.split("/", 1)[0]
    gone = subprocess.Popen(["true"])
    gone.wait(5)                                             # a bot process that is dead
    # A process group like a script's: a shell and its child, in their own session.
    script = subprocess.Popen(["sh", "-c", "sleep 60 & echo $!; wait"], start_new_session=True,
                              stdout=subprocess.PIPE, text=True)
    grandchild = int(script.stdout.readline())
    past = (T0 - dt.timedelta(hours=1)).isoformat()

    def orphaned_run(job: str, holder: str, identity: str | None) -> int:
        _, run_id = ledger.start_job_run(job, started_at=past, deadline_at=past if "elsewhere" in holder
                                         else "9999-12-31T00:00:00+00:00", holder=holder, pid=gone.pid,
                                         trigger="schedule")
        ledger.set_job_run_script(run_id, script.pid, identity)
        return run_id

    try:
        wrong = orphaned_run("a", f"{host}/{gone.pid}/x", "another-boot:12345")   # the pid was reused
        other_host = orphaned_run("b", f"elsewhere/{gone.pid}/y", process_identity(script.pid))
        assert sorted(service.recover_interrupted(T0)) == [wrong, other_host]
        assert running_pid(script.pid) and running_pid(grandchild)              # not provably ours: alive
        assert "was killed" not in ledger.job_runs("a")[0]["error"]

        ours = orphaned_run("c", f"{host}/{gone.pid}/z", process_identity(script.pid))
        assert service.recover_interrupted(T0) == [ours]
        assert script.wait(5) == -signal.SIGKILL
        wait_until(lambda: not running_pid(grandchild))                        # the whole group
        assert f"its script (pid {script.pid}) was still running and was killed" in ledger.job_runs("c")[0]["error"]
    finally:
        kill_group(script.pid)
        script.wait(5)


def test_a_run_of_a_live_process_elsewhere_is_not_interrupted_until_its_deadline(world):
    clock = Clock()
    service = world.service(clock=clock)
    ledger = service.ledger
    state, run_id = ledger.start_job_run("flaky", started_at=T0.isoformat(),
                                         deadline_at=(T0 + dt.timedelta(minutes=2)).isoformat(),
                                         holder="other-host/4242/x", pid=4242, trigger="schedule")
    assert service.recover_interrupted(T0 + dt.timedelta(minutes=1)) == []
    assert service.run_now("flaky").status == "busy"                     # no overlapping runs
    assert service.recover_interrupted(T0 + dt.timedelta(minutes=3)) == [run_id]
    assert service.run_now("flaky").ok


@BOTH_BACKENDS
def test_two_processes_racing_a_failing_job_run_it_three_times_and_alert_once(world):
    world.mode("flaky", "fail")
    go = world.state / "go"
    code = world.subprocess_code("flaky", runs=10_000, start_signal=go)     # each: until it sees "disabled"
    children = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        wait_until(lambda: len(list(world.state.glob("go.*.ready"))) == 2, timeout=20)
        go.touch()                                           # both start hammering the job at once
        outputs = [child.communicate(timeout=30) for child in children]
    finally:
        for child in children:
            child.kill()
    assert [child.returncode for child in children] == [0, 0], [err[-2000:] for _, err in outputs]
    per_child = [out.split() for out, _ in outputs]
    assert [statuses[-1] for statuses in per_child] == ["disabled", "disabled"]
    statuses = [s for child in per_child for s in child]
    assert statuses.count("error") == 3 and set(statuses) <= {"error", "busy", "disabled"}
    assert world.runs("flaky") == 3                          # the script ran 3 times, never a 4th
    ledger = Ledger(world.settings().ledger_target)
    assert [r["status"] for r in ledger.job_runs("flaky")] == ["error"] * 3
    assert ledger.job_state("flaky")["enabled"] == 0
    assert len(alerts_for(ledger, "flaky")) == 1               # one disable, one alert


# -- CLI ---------------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(world, monkeypatch):
    world.use_for_cli(monkeypatch)
    return world


def test_cli_jobs_list_json_run_disable_enable_history(cli_env, capsys):
    from bot.cli import main

    assert main(["jobs", "list", "--json"]) == 0
    jobs = json.loads(capsys.readouterr().out)
    assert [j["name"] for j in jobs] == ["heartbeat", "flaky"]
    for key in ("name", "enabled", "consecutive_failures", "last_status", "next_run", "schedule", "target"):
        assert key in jobs[1]
    assert jobs[1]["next_run"] and jobs[1]["target"] == "script test.flaky"

    cli_env.mode("flaky", "fail")
    assert main(["jobs", "run", "flaky"]) == 1
    assert "failure 1/3" in capsys.readouterr().out
    assert main(["jobs", "disable", "flaky", "--reason", "noisy"]) == 0
    assert "noisy" in capsys.readouterr().out
    assert main(["jobs", "enable", "flaky"]) == 0
    assert "failure count reset" in capsys.readouterr().out
    assert main(["jobs", "history", "flaky", "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [h["status"] for h in history] == ["error"] and history[0]["trigger"] == "manual:cli"
    assert main(["jobs", "list"]) == 0
    assert "flaky — scheduled" in capsys.readouterr().out
    assert main(["jobs", "run", "nope"]) == 1


def test_ops_jobs_command_for_slack(world):
    service = world.service()
    listing = answer(service, [])
    assert "*flaky*" in listing.text and listing.blocks[0]["type"] == "header"
    run = answer(service, ["run", "flaky"], user="U1")
    assert run.ok and "run 1: ok" in run.text
    assert "disabled" in answer(service, ["disable", "flaky", "too", "noisy"], user="U1").text
    assert "too noisy (by U1)" in service.job("flaky")["disabled_reason"]
    assert "enabled by U1" in answer(service, ["enable", "flaky"], user="U1").text
    assert "#1" in answer(service, ["history", "flaky"]).text
    assert answer(service, ["run"]).ok is False


def test_shipped_jobs_registry_is_valid():
    from bot.registry import load_registry

    registry = load_registry(ROOT / "registry", ROOT / "skills", ROOT / "scripts")
    job_problems = [p for p in registry.problems if "jobs.yaml" in p.file]
    assert job_problems == []
    assert {"disk-report", "mrr-weekday", "failing-ci", "standup"} <= set(registry.jobs)
    assert "heartbeat" not in registry.jobs                    # built in, not in YAML


def test_migrated_ledger_keeps_old_files_working(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    assert ledger.db.execute("PRAGMA user_version").fetchone()[0] >= 2
    assert {"holder", "trigger", "deadline_at"} <= set(ledger.db["job_runs"].columns_dict)


def test_an_alert_raised_where_slack_is_unreachable_waits_for_a_process_that_can_post_it(world, caplog):
    terminal = world.service(poster=LogPoster())              # e.g. `bot jobs run` without SLACK_BOT_TOKEN
    world.mode("flaky", "fail")
    for _ in range(3):
        terminal.run_now("flaky")
    assert any("ALERT job flaky disabled (alert to #alerts)" in r.getMessage() for r in caplog.records)
    assert [a["status"] for a in alerts_for(terminal.ledger, "flaky")] == ["pending"]
    poster = RecordingPoster()
    leader = world.service(poster=poster)
    leader.tick(T0)
    leader.tick(T0)
    assert len(poster.to("#alerts")) == 1
    assert [a["status"] for a in alerts_for(leader.ledger, "flaky")] == ["sent"]


def test_failure_counting_matches_the_rule_for_any_sequence_of_outcomes(tmp_path):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    ledger = Ledger(tmp_path / "prop.db")
    counter = iter(range(10**9))

    @settings(max_examples=150, deadline=None)
    @given(outcomes=st.lists(st.sampled_from(["ok", "error", "timeout", "interrupted"]), max_size=12),
           max_failures=st.integers(1, 4))
    def check(outcomes, max_failures):
        job = f"job-{next(counter)}"
        count, disabled, alerts = 0, False, 0
        for outcome in outcomes:
            state, run_id = ledger.start_job_run(job, started_at="t", deadline_at="t", holder="h", pid=1,
                                                 trigger="schedule")
            if disabled:
                assert state == "disabled"                     # never a run after the disabling one
                continue
            assert state == "started"
            if outcome == "interrupted":
                ledger.interrupt_job_run(run_id, reason="restart", at="t")
                continue
            done = ledger.finish_job_run(run_id, status=outcome, error="e", finished_at=f"t{run_id}",
                                         duration_ms=1, max_failures=max_failures,
                                         alert=lambda j, recent: ("#a", f"{len(recent)} errors"))
            count = 0 if outcome == "ok" else count + 1
            assert done["consecutive_failures"] == count
            if count >= max_failures:
                disabled, alerts = True, alerts + 1
            assert done["disabled"] is (count == max_failures)          # the disabling run, and only it
            assert (done["alert_id"] is not None) is done["disabled"]
        assert len(alerts_for(ledger, job)) == alerts <= 1

    check()


@BOTH_BACKENDS
def test_an_alert_that_could_not_be_posted_is_retried_later_not_lost(world):
    class Flaky:
        def __init__(self):
            self.up, self.posts = False, []

        def post(self, channel, text, blocks=None):
            if not self.up:
                raise ConnectionError("slack down")
            self.posts.append((channel, text))

    poster = Flaky()
    clock = Clock()
    service = world.service(poster=poster, clock=clock)
    world.mode("flaky", "fail")
    for _ in range(3):
        service.run_now("flaky")
    assert [a["status"] for a in alerts_for(service.ledger, "flaky")] == ["failed"]
    poster.up = True
    service.tick(clock.advance(seconds=29))
    assert [c for c, _ in poster.posts].count("#alerts") == 0                     # backing off for 30 s
    service.tick(clock.advance(seconds=2))
    service.tick(clock.advance(seconds=60))
    assert [c for c, _ in poster.posts].count("#alerts") == 1
    alert = alerts_for(service.ledger, "flaky")[0]
    assert (alert["status"], alert["attempts"]) == ("sent", 2)


def test_after_a_restart_missed_runs_are_coalesced_into_one_run_within_the_grace_time(tmp_path):
    world = World(tmp_path, jobs=[{"name": "minutely", "schedule": "every 1m", "script": "test.ok"}])
    service = world.service(heartbeat=False)
    last = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=200)     # down for 3 slots (-140 s, -80 s, -20 s)
    service.ledger.db.execute("UPDATE jobs SET last_run_at = ?, last_status = 'ok' WHERE name = 'minutely'",
                              [last.isoformat(timespec="milliseconds")])
    handle = start_scheduler(service.bot, service.settings, service=service)
    try:
        wait_until(lambda: world.runs("ok") >= 1, timeout=5)
        time.sleep(0.3)
        assert world.runs("ok") == 1                                  # one run, not three
        assert [r["trigger"] for r in service.history("minutely")] == ["schedule"]
    finally:
        handle.shutdown()
