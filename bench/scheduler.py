"""Scheduler benchmark: 500 registered jobs in a throw-away registry and ledger.

Prints (figures, not pass/fail):
- start-up: importing APScheduler (once per process), registry load, JobService construction,
  scheduler start until all jobs are on the timetable
- memory: RSS after the imports and with the scheduler running; the growth is what the jobs cost
- the lease tick (renew + recover + reconcile all jobs), which the leader repeats every
  BOT_SCHEDULER_LEASE_S / 3
- `list_jobs()` with 500 jobs: in the leader (next runs from APScheduler; `/ops jobs` in `bot serve`)
  and in a process without the lease (next runs computed; `bot jobs list`)
- per run: the scheduling overhead of one job run = run_now() minus the script process's own time
  (from spawning it to reading its last output, as the runner records it): ledger rows, failure
  counting, posting
- dispatch lag: how late APScheduler starts a due job (fire time → job submitted)
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.jobs.posters import LogPoster  # noqa: E402
from bot.jobs.schedule import JobService  # noqa: E402
from bot.pipeline import OpsBot  # noqa: E402
from bot.registry import load_registry  # noqa: E402

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]


def rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_world(root: Path, jobs: int) -> Settings:
    (root / "registry").mkdir()
    (root / "scripts" / "bench").mkdir(parents=True)
    script = root / "scripts" / "bench" / "noop"
    script.write_text("#!/bin/sh\necho ok\n")
    script.chmod(0o755)
    (root / "registry" / "scripts.yaml").write_text(yaml.safe_dump({"scripts": [
        {"name": "bench.noop", "summary": "does nothing, fast", "timeout_s": 10, "side_effects": "read"}]}))
    entries = []
    for i in range(jobs):
        schedule = f"{i % 60} {i % 24} * * *" if i % 2 else f"every {5 + i % 55}m"
        entries.append({"name": f"job-{i:03d}", "schedule": schedule, "timezone": ZONES[i % len(ZONES)],
                        "script": "bench.noop", "post_to": "#bench"})
    (root / "registry" / "jobs.yaml").write_text(yaml.safe_dump({"jobs": entries}))
    return Settings(bot_home=root / "home", bot_registry=root / "registry", bot_scripts=root / "scripts",
                    bot_skills=root / "skills", slack_bot_token=None, anthropic_api_key=None,
                    bot_heartbeat_channel=None)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--runs", type=int, default=30, help="job runs for the per-run overhead")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("bot.jobs.posts").setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory() as tmp:
        settings = make_world(Path(tmp), args.jobs)
        environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp}

        t0 = time.perf_counter()
        import apscheduler.executors.pool  # noqa: F401 - what the scheduler imports lazily
        import apscheduler.schedulers.background  # noqa: F401
        import apscheduler.triggers.cron  # noqa: F401
        import apscheduler.triggers.interval  # noqa: F401
        t_import = time.perf_counter() - t0
        rss0 = rss_mb()

        t0 = time.perf_counter()
        registry = load_registry(settings.bot_registry, settings.bot_skills, settings.bot_scripts)
        t_registry = time.perf_counter() - t0
        assert not registry.problems, registry.problems[:3]
        bot = OpsBot(settings, registry=registry, environ=environ)
        t1 = time.perf_counter()
        service = JobService(bot, settings, poster=LogPoster(), summarizer=None)
        t_service = time.perf_counter() - t1
        t2 = time.perf_counter()
        service.start()
        while not (service.is_leader and len(service._aps.get_jobs()) > args.jobs):
            time.sleep(0.001)
        t_start = time.perf_counter() - t2
        total = time.perf_counter() - t0
        rss1 = rss_mb()

        print(f"scheduler benchmark — {args.jobs} jobs (+ heartbeat), Python {sys.version.split()[0]}")
        print(f"start-up: APScheduler import {ms(t_import)}, registry load {ms(t_registry)}, JobService "
              f"{ms(t_service)}, scheduler start → all on the timetable {ms(t_start)}; total {ms(total + t_import)}")
        print(f"memory: RSS {rss0:.1f} MB after imports, {rss1:.1f} MB with {args.jobs} jobs scheduled "
              f"(+{rss1 - rss0:.1f} MB, ~{(rss1 - rss0) * 1024 / args.jobs:.1f} KB per job incl. scheduler threads)")

        ticks = []
        for _ in range(10):
            t = time.perf_counter()
            service.tick()
            ticks.append(time.perf_counter() - t)
        print(f"lease tick (renew + recover + reconcile {args.jobs} jobs): median {ms(statistics.median(ticks))}, "
              f"max {ms(max(ticks))} — every {settings.bot_scheduler_lease_s / 3:.0f} s")

        def list_median(svc: JobService) -> float:
            times = []
            for _ in range(5):
                t = time.perf_counter()
                svc.list_jobs()
                times.append(time.perf_counter() - t)
            return statistics.median(times)

        cli = JobService(bot, settings, poster=LogPoster(), summarizer=None)       # holds no lease
        print(f"list_jobs() with {args.jobs} jobs: median {ms(list_median(service))} in the leader, "
              f"{ms(list_median(cli))} in a process without the lease (`bot jobs list`)")

        # Per run: the whole job run minus the script process's own time (script_runs.duration_ms).
        service.stop()                                    # keep the scheduler's own runs out of the timing
        full, inner = [], []
        for i in range(args.runs):
            t = time.perf_counter()
            result = service.run_now(f"job-{i % args.jobs:03d}")
            full.append(time.perf_counter() - t)
            assert result.ok, result.text
            row = bot.ledger.db.execute("SELECT duration_ms FROM script_runs WHERE job_run_id = ?",
                                        [result.run_id]).fetchone()
            inner.append(row[0] / 1000)
        overheads = [f - s for f, s in zip(full, inner, strict=True)]
        print(f"per run ({args.runs} runs): job run {ms(statistics.median(full))} median, of which the script "
              f"{ms(statistics.median(inner))} → scheduling overhead {ms(statistics.median(overheads))} median, "
              f"p95 {ms(sorted(overheads)[int(0.95 * (len(overheads) - 1))])} (ledger rows, failure counting, "
              f"posting)")

        # Dispatch lag with the real APScheduler: 20 jobs due every second, how late are they submitted?
        from apscheduler.events import EVENT_JOB_SUBMITTED
        from apscheduler.triggers.interval import IntervalTrigger

        lags: list[float] = []
        lock = threading.Lock()
        fast = JobService(bot, settings, poster=LogPoster(), summarizer=None, heartbeat=False,
                          trigger_override=lambda spec: IntervalTrigger(seconds=1))
        fast.specs = {name: fast.specs[name] for name in sorted(fast.specs)[:20]}

        def on_submit(event):
            if event.job_id.startswith("job-"):
                with lock:
                    lags.append((dt.datetime.now(dt.UTC) - event.scheduled_run_times[-1]).total_seconds())

        fast.start()
        fast._aps.add_listener(on_submit, EVENT_JOB_SUBMITTED)
        time.sleep(3.2)
        fast.stop()
        if lags:
            print(f"dispatch lag (fire time → submitted, {len(lags)} runs of 20 jobs due each second): "
                  f"median {ms(statistics.median(lags))}, max {ms(max(lags))}")
        bot.ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
