"""The ledger: outcomes always recorded, concurrent writers lose nothing, survives a kill.

Every test runs on SQLite and on a real PostgreSQL (`ledger_target`, tests/postgres.py)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

from bot.ledger import MIGRATIONS, Ledger

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_migrations_are_recorded_and_idempotent(ledger_target):
    Ledger(ledger_target)
    ledger = Ledger(ledger_target)
    assert ledger.backend.schema_version(ledger.db) == len(MIGRATIONS)
    if ledger.dialect.name == "sqlite":
        assert ledger.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert ledger.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    else:
        assert ledger.db.execute("SELECT version FROM ledger_schema").fetchone()[0] == len(MIGRATIONS)
    assert {"requests", "decisions", "llm_calls", "script_runs", "jobs", "job_runs", "notes"} <= set(ledger.table_names())


def test_concurrent_threads_lose_nothing(ledger_target):
    ledger = Ledger(ledger_target)

    def writer(n: int) -> None:
        for i in range(50):
            request_id = ledger.start_request(source="test", text=f"{n}-{i}")
            ledger.record_llm_call(request_id=request_id, model="m", purpose="t", input_tokens=1)
            ledger.finish_request(request_id, "ok")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.db["requests"].count == 400
    assert ledger.db["llm_calls"].count == 400
    assert ledger.db.execute("SELECT COUNT(*) FROM requests WHERE outcome = 'ok'").fetchone()[0] == 400


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from bot.ledger import Ledger
    ledger = Ledger({path!r})
    won = 0
    for i in range({count}):
        rid = ledger.start_request(source="proc", text="p{tag}-%d" % i)
        ledger.finish_request(rid, "ok")
        won += ledger.claim_event("event-%d" % i, rid)
    print(won)
""")


def test_concurrent_processes_lose_nothing_and_claim_each_event_once(ledger_target):
    path = ledger_target
    Ledger(path)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER.format(root=ROOT, path=path, count=150, tag=n)],  # noqa: S603
                              stdout=subprocess.PIPE, text=True) for n in range(3)]
    wins = [int(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    ledger = Ledger(path)
    assert ledger.db["requests"].count == 450
    assert sum(wins) == 150, wins  # every event claimed by exactly one process
    assert ledger.db["processed_events"].count == 150


def test_the_ledger_survives_a_kill_mid_write(ledger_target):
    path = ledger_target
    Ledger(path)
    proc = subprocess.Popen([sys.executable, "-c", WRITER.format(root=ROOT, path=path, count=100000, tag="k")])  # noqa: S603
    ledger = Ledger(path)
    deadline = time.monotonic() + 20
    while ledger.db["requests"].count < 200 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if not path.startswith("postgresql://"):
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    before = Ledger(path).db["requests"].count
    assert before >= 200
    ledger = Ledger(path)
    rid = ledger.start_request(source="cli", text="after the kill")
    ledger.finish_request(rid, "ok")
    assert ledger.db["requests"].count == before + 1


def test_lease_is_exclusive_until_it_expires(ledger_target):
    ledger = Ledger(ledger_target)
    assert ledger.acquire_lease("scheduler", "a", ttl_s=10, now=100.0)
    assert not ledger.acquire_lease("scheduler", "b", ttl_s=10, now=105.0)
    assert ledger.acquire_lease("scheduler", "a", ttl_s=10, now=105.0)  # renew
    assert ledger.acquire_lease("scheduler", "b", ttl_s=10, now=116.0)  # expired → taken over


def test_feedback_marks_misclassification(ledger_target):
    ledger = Ledger(ledger_target)
    rid = ledger.start_request(source="slack", text="mrr?")
    ledger.record_decision(rid, tier="script", decided_by="pre-router", reason="x", script="stripe.mrr")
    ledger.set_reply_ts(rid, "1700000000.000100")
    assert ledger.request_by_reply("1700000000.000100")["id"] == rid
    ledger.set_feedback(rid, "down")
    assert ledger.decisions_for(rid)[0]["misclassified"] == 1
    assert ledger.get_request(rid)["feedback"] == "down"
