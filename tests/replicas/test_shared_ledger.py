"""Replicas on one PostgreSQL (BOT_DATABASE_URL): one ledger, shared memory notes, `bot ledger migrate`.

Real `bot` processes with different BOT_HOMEs (as on different machines) and a real PostgreSQL
(tests/postgres.py; skipped, saying so, where no PostgreSQL binaries exist)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot.config import PROJECT_ROOT, Settings
from bot.ledger import Ledger
from bot.pipeline import OpsBot
from bot.request import Incoming
from tests.postgres import free_port


def bot_env(home: Path, url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "ANTHROPIC_API_KEY", "BOT_DATABASE_URL")}
    env.update(BOT_HOME=str(home), BOT_CONFIG=str(home / "none.yaml"), BOT_SCHEDULER="false")
    if url:
        env["BOT_DATABASE_URL"] = url
    return env


def run_bot(home: Path, url: str | None, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *argv], cwd=PROJECT_ROOT, env=bot_env(home, url),  # noqa: S603
                          capture_output=True, text=True, timeout=60)


def test_two_bot_processes_with_different_homes_share_one_ledger(tmp_path, pg_url):
    first = run_bot(tmp_path / "a", pg_url, "ask", "remember that the staging DB is db-stage-2")
    second = run_bot(tmp_path / "b", pg_url, "ask", "what do you remember about staging?")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "db-stage-2" in second.stdout                       # B sees the note A wrote: no local files
    assert not (tmp_path / "a" / "memory").exists() and not (tmp_path / "a" / "ledger.db").exists()

    stats = run_bot(tmp_path / "c", pg_url, "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["requests"] == 2           # a third process sees both requests
    alone = run_bot(tmp_path / "c", None, "stats", "--json")    # without the URL: its own, empty ledger
    assert json.loads(alone.stdout)["requests"] == 0


def test_memory_notes_live_in_the_shared_database(tmp_path, pg_url):
    def bot(home: str) -> OpsBot:
        (tmp_path / "registry").mkdir(exist_ok=True)
        settings = Settings(bot_home=tmp_path / home, bot_registry=tmp_path / "registry",
                            bot_scripts=tmp_path / "scripts", bot_skills=PROJECT_ROOT / "skills",
                            bot_database_url=pg_url)
        return OpsBot(settings, environ={"STRIPE_API_KEY": "sk_live_zzzzzz999999"})

    a, b = bot("a"), bot("b")
    said = a.handle(Incoming("remember that the key is sk_live_zzzzzz999999 for deploys", user="U1"))
    assert said.outcome == "ok"
    again = b.handle(Incoming("remember that the key is sk_live_zzzzzz999999 for deploys", user="U2"))
    assert "already remember" in again.text
    twin = b.handle(Incoming("remember that The key is sk_live_zzzzzz999999 for deploys!", user="U2"))
    names = [n.name for n in a.memory.notes()]
    assert len(names) == 2 and len(set(names)) == 2 and twin.outcome == "ok"   # same slug → -2, claimed in the DB
    assert all("sk_live" not in n.body for n in b.memory.notes())              # redacted before it was stored
    forgot = b.handle(Incoming(f"forget {names[0]}", user="U2"))
    assert "Forgot" in forgot.text and [n.name for n in a.memory.notes()] == names[1:]
    assert not (tmp_path / "a" / "memory").exists()


def test_ledger_migrate_copies_sqlite_into_postgresql_and_counts_every_table(tmp_path, pg_url):
    home = tmp_path / "home"
    for text in ("remember that backups run at 02:00", "what do you remember?", "remember that on-call is Ana"):
        assert run_bot(home, None, "ask", text).returncode == 0
    local = Ledger(home / "ledger.db")
    local.record_llm_call(request_id=None, model="m", purpose="t", input_tokens=5)

    done = run_bot(home, None, "ledger", "migrate", "--to", pg_url)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if "→" in line and "copied" not in line}
    assert "3 → 3" in " ".join(lines["requests"].split()) and "ok" in lines["requests"]
    assert "1 → 1" in " ".join(lines["llm_calls"].split())
    assert "2 → 2" in " ".join(lines["notes"].split())         # the memory files came along
    shared = Ledger(pg_url)
    assert shared.db["requests"].count == 3 and shared.db["decisions"].count == 3
    new_call = shared.record_llm_call(request_id=None, model="m", purpose="t")    # ids go on after the copied
    assert new_call > max(r["id"] for r in local.db["llm_calls"].rows)
    stats = run_bot(tmp_path / "other", pg_url, "stats", "--json")
    assert json.loads(stats.stdout)["requests"] == 3

    again = run_bot(home, None, "ledger", "migrate", "--to", pg_url)    # never over existing data
    assert again.returncode == 1
    assert "already has data" in again.stderr and "refusing" in again.stderr and "Traceback" not in again.stderr
    assert shared.db["requests"].count == 3


def test_ledger_migrate_and_bad_urls_say_what_is_wrong_in_one_line(tmp_path, pg_url):
    nothing = run_bot(tmp_path / "empty", None, "ledger", "migrate", "--to", pg_url)
    assert nothing.returncode == 1 and "no SQLite ledger at" in nothing.stderr
    wrong = run_bot(tmp_path / "empty", None, "ledger", "migrate", "--to", "mysql://x@y/z")
    assert wrong.returncode == 2 and "postgresql://" in wrong.stderr
    down = f"postgresql://opsbot:hunter2secret@127.0.0.1:{free_port()}/opsbot"
    unreachable = run_bot(tmp_path / "x", down, "stats", "--json")
    assert unreachable.returncode == 1
    assert unreachable.stderr.count("\n") == 1 and "unreachable" in unreachable.stderr
    assert "hunter2secret" not in unreachable.stderr and "Traceback" not in unreachable.stderr
    bad = run_bot(tmp_path / "x", "sqlite:///x.db", "stats")
    assert bad.returncode == 2 and "BOT_DATABASE_URL" in bad.stderr and "Traceback" not in bad.stderr


def test_the_heartbeat_triages_notes_in_the_shared_database(tmp_path, pg_url):
    import datetime as dt

    from bot.jobs.checks import check_memory

    (tmp_path / "registry").mkdir()
    settings = Settings(bot_home=tmp_path / "home", bot_registry=tmp_path / "registry",
                        bot_scripts=tmp_path / "scripts", bot_skills=PROJECT_ROOT / "skills", bot_database_url=pg_url)
    bot = OpsBot(settings, environ={})
    assert check_memory(bot.memory, dt.datetime.now(dt.UTC), dt.timedelta(days=30)).detail == "no notes yet"
    bot.handle(Incoming("remember that the deploy window is Tuesday 10:00 to 12:00 UTC", user="U1"))
    bot.handle(Incoming("remember that the deploy window is Tuesday 10:00 till 12:00 UTC", user="U1"))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=40)
    check = check_memory(bot.memory, later, dt.timedelta(days=30))
    assert check.status == "warn" and check.data["notes"] == 2 and len(check.data["stale"]) == 2
    assert len(check.data["duplicates"]) == 1
