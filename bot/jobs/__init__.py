"""Scheduled jobs. Imports nothing, so the registry and config can use `bot.jobs.spec` without a circle."""
