"""`/ops jobs …` has one grammar (bot/jobs/commands.py): Slack and the console parse words with it, the CLI
fills the same command from argparse, and all three run the same actions with the same texts."""

from __future__ import annotations

import argparse

import pytest

from bot.jobs import cli as jobs_cli
from bot.jobs.commands import USAGE, VERBS, JobsCommand, UsageError, answer, parse
from tests.test_scheduler_helpers import World


def test_words_parse_into_one_command():
    assert parse([]) == JobsCommand("list")
    assert parse(["LIST", "ignored"]) == JobsCommand("list")
    assert parse(["Run", "flaky"]) == JobsCommand("run", "flaky")
    assert parse(["disable", "flaky", "too", "noisy"]) == JobsCommand("disable", "flaky", reason="too noisy")
    assert parse(["disable", "flaky"]).reason is None
    assert parse(["enable", "flaky", "extra"]) == JobsCommand("enable", "flaky")
    assert [parse([v, "x"]).changes_job for v in ("run", "enable", "disable", "history")] == [True, True, True, False]


@pytest.mark.parametrize("words", [["run"], ["history"], ["bogus", "flaky"], ["restart", "flaky"]])
def test_a_command_without_its_name_or_with_an_unknown_verb_is_the_usage_line(words):
    with pytest.raises(UsageError, match=r"^usage: /ops jobs \[list \| run NAME"):
        parse(words)


def test_the_cli_offers_exactly_the_verbs_of_the_grammar():
    parser = argparse.ArgumentParser()
    jobs_cli.add_commands(parser.add_subparsers())
    jobs = parser.parse_args(["jobs"])
    assert jobs.verb == "list" and jobs.func is jobs_cli.cmd_jobs
    for verb in VERBS:
        args = parser.parse_args(["jobs", verb] + ([] if verb == "list" else ["flaky"]))
        assert args.verb == verb and args.func is jobs_cli.cmd_jobs
    disable = parser.parse_args(["jobs", "disable", "flaky", "--reason", "noisy"])
    assert (disable.name, disable.reason) == ("flaky", "noisy")


def test_cli_and_ops_answer_with_the_same_text(tmp_path, monkeypatch, capsys):
    from bot.cli import main

    world = World(tmp_path)
    world.use_for_cli(monkeypatch)
    assert main(["jobs", "run", "flaky"]) == 0
    assert main(["jobs", "history", "flaky"]) == 0
    from_cli = capsys.readouterr().out
    from_ops = answer(world.service(), ["history", "flaky"]).text
    assert from_ops.startswith("Last 1 runs of `flaky`:") and from_ops in from_cli
    assert answer(world.service(), ["run"]).text == USAGE


def test_only_the_bot_command_imports_the_jobs_cli():
    from tests.test_architecture import import_graph

    graph = import_graph()
    assert {m for m, targets in graph.items() if "bot.jobs.cli" in targets} == {"bot.cli"}
    assert "bot.startup" in graph["bot.jobs.cli"]              # the CLI starts the service the one way …
    assert "bot.jobs.cli" not in graph["bot.jobs.schedule"]    # … and the service never imports the CLI
