"""Job schedules: a 5-field cron expression or `every <N><s|m|h|d>`, as APScheduler triggers.

A cron that can never fire (`0 0 31 2 *`: 31 February) is an error, not a job that silently never runs:
the trigger must have a next fire time within FIRES_WITHIN."""

from __future__ import annotations

import datetime as dt
import re

FIRES_WITHIN = dt.timedelta(days=5 * 366)


def parse_schedule(schedule: str):
    """A 5-field cron expression or `every <N><s|m|h|d>` → an APScheduler trigger (UTC).
    Raises ValueError (naming the schedule) when it is malformed or never fires."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    text = schedule.strip()
    interval = re.fullmatch(r"every\s+(\d+)\s*([smhd])", text)
    if interval:
        n, unit = int(interval.group(1)), interval.group(2)
        if n <= 0:
            raise ValueError("interval must be positive")
        key = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]
        return IntervalTrigger(**{key: n})
    if len(text.split()) != 5:
        raise ValueError(f"schedule {schedule!r}: expected 5 cron fields or 'every 15m'")
    try:
        trigger = CronTrigger.from_crontab(text, timezone=dt.UTC)
    except ValueError as exc:
        raise ValueError(f"schedule {schedule!r}: {exc}") from None
    now = dt.datetime.now(dt.UTC)
    following = trigger.get_next_fire_time(None, now)
    if following is None or following - now > FIRES_WITHIN:
        raise ValueError(f"schedule {schedule!r} never fires (no date matches it in the next "
                         f"{FIRES_WITHIN.days // 366} years)")
    return trigger
