"""A schedule → an APScheduler trigger, in one place: the registry and BOT_HEARTBEAT_CRON are validated
with `build_trigger`, and the scheduler runs what it returns. A cron that can never fire (`0 0 31 2 *`:
31 February) is an error, not a job that silently never runs: it must fire within FIRES_WITHIN.

Apart from bot/jobs/spec.py so the registry's entries can validate schedules without importing what a
job needs to run (the pipeline, the registry itself)."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

HEARTBEAT = "heartbeat"                 # the built-in job; registry jobs may not take its name
BUILT_IN_JOBS = frozenset({HEARTBEAT})
FIRES_WITHIN = dt.timedelta(days=5 * 366)
_EVERY = re.compile(r"every\s+(\d+)\s*([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def build_trigger(schedule: str, timezone: str = "UTC", anchor: dt.datetime | None = None):
    """A 5-field cron expression or `every <N><s|m|h|d>` → an APScheduler trigger in the job's time zone.
    `every N` intervals are anchored at the last run (`anchor`) so a restart does not push them back by
    a whole interval. Raises ValueError (naming the schedule) when it is malformed or never fires."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    text = schedule.strip()
    tz = ZoneInfo(timezone)
    interval = _EVERY.fullmatch(text)
    if interval:
        n = int(interval.group(1))
        if n <= 0:
            raise ValueError("interval must be positive")
        every = dt.timedelta(**{_UNITS[interval.group(2)]: n})
        return IntervalTrigger(seconds=every.total_seconds(), timezone=tz,
                               start_date=anchor + every if anchor else None)
    if len(text.split()) != 5:
        raise ValueError(f"schedule {schedule!r}: expected 5 cron fields or 'every 15m'")
    try:
        trigger = CronTrigger.from_crontab(text, timezone=tz)
    except ValueError as exc:
        raise ValueError(f"schedule {schedule!r}: {exc}") from None
    now = dt.datetime.now(dt.UTC)
    following = trigger.get_next_fire_time(None, now)
    if following is None or following - now > FIRES_WITHIN:
        raise ValueError(f"schedule {schedule!r} never fires (no date matches it in the next "
                         f"{FIRES_WITHIN.days // 366} years)")
    return trigger
