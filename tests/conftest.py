"""Shared fixtures: local fakes of the services the bot talks to (see tests/fakes/)."""

pytest_plugins = ["tests.fakes.fixtures", "tests.fakes.slack_fixtures", "tests.postgres"]
