"""Scheduled jobs and the heartbeat.

    spec.py       what a job is (JobSpec), the one trigger builder, the reserved built-in names
    run.py        running one job: failure counting, auto-disable with one alert, interrupted runs
    schedule.py   JobService and its APScheduler timetable, held by one process through a ledger lease
    heartbeat.py  the built-in heartbeat job: its spec, which checks it runs, when it posts
    checks.py     the health checks and the report they make
    posters.py    where job output and alerts go (Slack or the log)
    render.py     text and Block Kit for job lists and histories
    commands.py   `/ops jobs …` parsed once and executed for Slack, the console and the CLI
    cli.py        `bot jobs …` and `bot health`: argparse over commands.py

This file imports nothing, so the registry and config can use `bot.jobs.spec` without a circle.
"""
