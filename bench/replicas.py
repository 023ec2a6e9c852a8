"""Replicas benchmark: three `bot serve --http` processes on one PostgreSQL ledger (BOT_DATABASE_URL).

1. Events: `--events` signed app_mention events (default 1,000), each POSTed to one replica (round
   robin), `--redeliver` of them (default 20 %) delivered again with X-Slack-Retry-Num to a DIFFERENT
   replica, `--concurrency` in flight. Answers are counted where Slack would see them: thread replies at
   the fake Slack Web API (its own process). Prints ack p50/p99 (the POST round trip, as Slack sees it),
   duplicates (replies beyond one per event, plus script runs beyond one per answered event, counted by
   the script itself) and lost events (no reply).
2. Failover: a job runs every second on whichever replica holds the scheduler lease
   (BOT_SCHEDULER_LEASE_S, default 3 s here). The leader (opsbot_scheduler_leader on /metrics) gets
   kill -9; prints the seconds until another replica holds the lease, and job runs lost (left without an
   outcome) or doubled (two runs of the job in one 1-second slot, from the script's own log), plus the
   slots skipped while nobody held the lease.

Everything is local: a temporary PostgreSQL (tests/pg.py), the fake Slack, a temp registry. `--sqlite`
runs the same harness with the replicas sharing one SQLite file in a shared BOT_HOME instead (the
pre-PostgreSQL way), to check the harness itself.

Run from the repository root: python bench/replicas.py [--events N] [--sqlite]  (BENCH_DEBUG=1: list the job runs)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench._fakes import percentile  # noqa: E402
from tests.fakes.slack_server import GENERAL, JSON_CONTENT_TYPE, FakeSlack, events_api_body  # noqa: E402
from tests.fakes.slack_server import signed_request_headers as signed  # noqa: E402
from tests.pg import PostgresUnavailable, TempPostgres, free_port  # noqa: E402

TEXT = "what is the bench status"
JOB = "bench-tick"


# -- the Slack side (its own process) ---------------------------------------------------------------


class SlackSide:
    """The fake Slack, in a process of its own (as Slack is remote), driven over RPC."""

    def __init__(self) -> None:
        logging.basicConfig(level=logging.ERROR)
        self.fake = FakeSlack().start()

    def info(self) -> dict[str, str]:
        return {"bot_token": self.fake.bot_token, "signing_secret": self.fake.signing_secret,
                "api_url": self.fake.api_url}

    def new_events(self, n: int) -> list[dict]:
        events = [self.fake.app_mention(TEXT) for _ in range(n)]
        for event in events:
            self.fake._record_user_message(event)          # so conversations.replies sees the user's post
        return events

    def reply_counts(self, thread_ts: list[str]) -> list[int]:
        """The bot's replies per thread, from one pass over the channel (cheap enough to poll)."""
        counts: dict[str, int] = {}
        for message in self.fake.history(GENERAL):
            ts = message.get("thread_ts")
            if ts and ts != message["ts"] and message.get("user") == self.fake.bot_user_id:
                counts[ts] = counts.get(ts, 0) + 1
        return [counts.get(ts, 0) for ts in thread_ts]

    def stop(self) -> None:
        self.fake.stop()


async def post_all(secret: str, urls: list[str], batch: list[dict], ids: list[str],
                   deliveries: list[tuple[int, int, int]], concurrency: int) -> list[float]:
    """POST the deliveries `concurrency` at a time from one event loop; each ack latency in ms (inf: failed)."""
    queue: asyncio.Queue[tuple[int, int, int]] = asyncio.Queue()
    for item in deliveries:
        queue.put_nowait(item)
    acks: list[float] = []

    async def post(url: str, body: bytes, headers: dict[str, str]) -> float:
        parts = urlsplit(url)
        started = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            writer.write(f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {len(body)}"
                         f"\r\nConnection: close\r\n{head}\r\n".encode() + body)
            status = await asyncio.wait_for(reader.readline(), 30)
            await reader.read()
            writer.close()
        except (OSError, TimeoutError):
            return float("inf")
        return (time.monotonic() - started) * 1000 if b" 200 " in status else float("inf")

    async def sender() -> None:
        while not queue.empty():
            i, attempt, replica = queue.get_nowait()
            body = events_api_body(batch[i], event_id=ids[i])
            headers = signed(secret, body, content_type=JSON_CONTENT_TYPE, retry_num=attempt or None,
                             retry_reason="http_timeout" if attempt else None)
            acks.append(await post(urls[replica], body, headers))

    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return acks


def deliver(side: Any, secret: str, urls: list[str], events: int, redeliver: float, concurrency: int,
            timeout: float, prefix: str, seed: int = 14) -> dict[str, Any]:
    """Each event to one replica (round robin); a `redeliver` share again, later, to a different one."""
    rng = random.Random(seed)
    batch = side.new_events(events)
    ids = [f"Ev{prefix}{i:06d}" for i in range(events)]
    first = [i % len(urls) for i in range(events)]
    deliveries = [(i, 0, first[i]) for i in range(events)]
    for i in rng.sample(range(events), int(events * redeliver)):
        other = (first[i] + 1 + rng.randrange(len(urls) - 1)) % len(urls)    # never the same replica
        at = rng.randrange(deliveries.index((i, 0, first[i])) + 1, len(deliveries) + 1)
        deliveries.insert(at, (i, 1, other))
    started = time.monotonic()
    acks = asyncio.run(post_all(secret, urls, batch, ids, deliveries, concurrency))
    threads = [e["ts"] for e in batch]
    while not all(side.reply_counts(threads)) and time.monotonic() - started < timeout:
        time.sleep(0.25)
    elapsed = time.monotonic() - started
    time.sleep(1.0)                                          # a late second answer would show up here
    return {"deliveries": len(deliveries), "acks": acks, "elapsed_s": elapsed,
            "reply_counts": side.reply_counts(threads)}


class SlackManager(BaseManager):
    pass


SlackManager.register("SlackSide", SlackSide)


# -- the replicas (real `bot serve --http` processes) -----------------------------------------------


def make_world(root: Path) -> None:
    """bench.status answers the events; bench.tick is the job. Each logs its runs to $HOME (shared)."""
    for name, body in {"status": 'echo "$$" >> "$HOME/status-runs.log"; echo "all green"',
                       "tick": 'echo "$(date +%s.%N) $PPID" >> "$HOME/ticks.log"; echo tick'}.items():
        script = root / "scripts" / "bench" / name
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    (root / "registry").mkdir()
    (root / "skills").mkdir()
    (root / "shared-home").mkdir()
    (root / "registry" / "bench.yaml").write_text(yaml.safe_dump({
        "scripts": [
            {"name": "bench.status", "summary": "Bench status", "side_effects": "read",
             "patterns": [r"^what is the bench status\??$"]},
            {"name": "bench.tick", "summary": "Bench tick", "side_effects": "read"}],
        "jobs": [{"name": JOB, "schedule": "every 1s", "script": "bench.tick", "timeout_s": 30,
                  "max_failures": 100}],
    }, sort_keys=False))


class Replica:
    def __init__(self, index: int, root: Path, env: dict[str, str]):
        self.index, self.port = index, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = root / f"replica-{index}.log"
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--http", "--port", str(self.port)],
                                     cwd=root, env=env, stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def url(self) -> str:
        return self.base + "/slack/events"

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.get("/readyz")[0] != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
                raise RuntimeError(f"replica {self.index} did not become ready: {tail[0]}")
            time.sleep(0.1)

    def buckets(self, name: str, **labels: str) -> dict[float, float]:
        """Cumulative histogram buckets {le: count} of this replica (empty if it does not answer)."""
        status, text = self.get("/metrics")
        found: dict[float, float] = {}
        if status == 200:
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == name + "_bucket" and all(sample.labels.get(k) == v for k, v in labels.items()):
                        found[float(sample.labels["le"])] = sample.value
        return found

    def metric(self, name: str) -> float | None:
        status, text = self.get("/metrics")
        if status != 200:
            return None
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and not sample.labels:
                    return sample.value
        return None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def replica_env(root: Path, info: dict[str, str], home: Path, database_url: str | None, lease_s: float) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(root / "shared-home"),
        "PYTHONPATH": str(ROOT), "BOT_CONFIG": str(root / "no-bot.yaml"),
        "SLACK_BOT_TOKEN": info["bot_token"], "SLACK_SIGNING_SECRET": info["signing_secret"],
        "SLACK_API_URL": info["api_url"],
        "BOT_HOME": str(home), "BOT_REGISTRY": str(root / "registry"), "BOT_SCRIPTS": str(root / "scripts"),
        "BOT_SKILLS": str(root / "skills"), "BOT_SCHEDULER_LEASE_S": str(lease_s),
        "BOT_HEARTBEAT_CRON": "0 0 1 1 *", "BOT_LOG_LEVEL": "WARNING",
    }
    if database_url:
        env["BOT_DATABASE_URL"] = database_url
    return env


def bot_json(env: dict[str, str], root: Path, *argv: str) -> Any:
    """A `bot` command against the same ledger (fresh BOT_HOME: with BOT_DATABASE_URL, nothing local)."""
    done = subprocess.run([sys.executable, "-m", "bot", *argv], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"bot {' '.join(argv)}: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


# -- the two phases ---------------------------------------------------------------------------------


def events_phase(side: Any, secret: str, replicas: list[Replica], root: Path,
                 opts: argparse.Namespace) -> dict[str, Any]:
    urls = [r.url for r in replicas]
    warm = deliver(side, secret, urls, 3 * len(replicas), 0.0, 3, 30.0, "WARM")
    runs_log = root / "shared-home" / "status-runs.log"
    runs_before = len(runs_log.read_text().splitlines()) if runs_log.exists() else 0
    acks_before = server_acks(replicas)
    load = deliver(side, secret, urls, opts.events, opts.redeliver, opts.concurrency, opts.timeout, "LOAD")
    counts = load["reply_counts"]
    answered = sum(1 for n in counts if n)
    warm_answered = sum(1 for n in warm["reply_counts"] if n)
    runs = len(runs_log.read_text().splitlines()) - runs_before
    served = {le: count - acks_before.get(le, 0.0) for le, count in server_acks(replicas).items()}
    acks = load["acks"]
    return {"deliveries": load["deliveries"], "redeliveries": load["deliveries"] - opts.events,
            "ack_p50": percentile(acks, 0.5), "ack_p99": percentile(acks, 0.99), "ack_max": max(acks),
            "server_p50": histogram_quantile(0.5, served) * 1000, "server_p99": histogram_quantile(0.99, served) * 1000,
            "server_count": served.get(float("inf"), 0.0),
            "failed_acks": sum(1 for a in acks if a == float("inf")),
            "duplicate_answers": sum(max(0, n - 1) for n in counts), "duplicate_runs": max(0, runs - answered),
            "lost": opts.events - answered, "elapsed_s": load["elapsed_s"], "answered": warm_answered + answered}


def histogram_quantile(q: float, buckets: dict[float, float]) -> float:
    """Prometheus' estimate: linear interpolation inside the bucket the q-th observation falls in."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0
    if not total:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for le in bounds:
        if buckets[le] >= rank:
            if le == float("inf"):
                return lower
            return lower + (le - lower) * (rank - below) / max(buckets[le] - below, 1e-9)
        lower, below = le, buckets[le]
    return lower


def server_acks(replicas: list[Replica]) -> dict[float, float]:
    """opsbot_slack_ack_seconds{mode="http"} summed over the replicas: the acks as the servers timed them."""
    total: dict[float, float] = {}
    for replica in replicas:
        for le, count in replica.buckets("opsbot_slack_ack_seconds", mode="http").items():
            total[le] = total.get(le, 0.0) + count
    return total


def leaders(replicas: list[Replica]) -> list[Replica]:
    return [r for r in replicas if r.proc.poll() is None and r.metric("opsbot_scheduler_leader") == 1]


def failover_phase(replicas: list[Replica], root: Path, opts: argparse.Namespace) -> dict[str, Any]:
    deadline = time.monotonic() + 4 * opts.lease + 10
    while len(held := leaders(replicas)) != 1:
        if time.monotonic() > deadline:
            raise RuntimeError(f"expected one scheduler leader, found {len(held)}")
        time.sleep(0.1)
    leader = held[0]
    time.sleep(3.5)                                           # the job runs on the leader for a while
    killed_at = time.time()
    os.kill(leader.proc.pid, signal.SIGKILL)                  # the bot process only, as a crash would
    leader.proc.wait(5)
    survivors = [r for r in replicas if r is not leader]
    while not (new := leaders(survivors)):
        if time.time() - killed_at > 4 * opts.lease + 10:
            raise RuntimeError("no replica took the scheduler lease over")
        time.sleep(0.05)
    takeover_s = time.time() - killed_at
    time.sleep(max(3.5, opts.lease))                         # the new leader runs the job for a while
    for replica in replicas:
        replica.stop()
    ticks = sorted((float(t), int(pid)) for t, pid in
                   (line.split() for line in (root / "shared-home" / "ticks.log").read_text().splitlines()))
    gaps = [b[0] - a[0] for a, b in zip(ticks, ticks[1:], strict=False)]
    doubled = sum(1 for gap in gaps if gap < 0.5)            # a second run of the same 1-second slot
    skipped = sum(max(0, round(gap) - 1) for gap in gaps)   # slots nobody ran (no lease holder)
    if os.environ.get("BENCH_DEBUG"):
        print(f"killed {leader.proc.pid} at {killed_at:.3f}; ticks:", file=sys.stderr)
        for at, pid in ticks:
            print(f"  {at:.3f} {pid}", file=sys.stderr)
    return {"takeover_s": takeover_s, "new_leader": new[0].index, "old_leader": leader.index,
            "lease_s": opts.lease, "ticks": len(ticks), "doubled": doubled,
            "longest_gap_s": max(gaps, default=0.0), "skipped_slots": skipped,
            "pids": len({pid for _, pid in ticks}), "killed_pid": leader.proc.pid}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--redeliver", type=float, default=0.2, help="share of events delivered again elsewhere")
    parser.add_argument("--concurrency", type=int, default=50, help="deliveries in flight")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--lease", type=float, default=3.0, help="BOT_SCHEDULER_LEASE_S for the failover")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--sqlite", action="store_true", help="share one SQLite file instead of PostgreSQL")
    opts = parser.parse_args()
    if opts.replicas < 2:
        parser.error("--replicas: at least 2 (redeliveries go to a different replica)")
    logging.basicConfig(level=logging.ERROR)

    from bot.config import Settings

    if not opts.sqlite and "bot_database_url" not in Settings.model_fields:
        print("bench/replicas.py: this build has no PostgreSQL ledger (no BOT_DATABASE_URL setting in "
              "bot/config.py, issue #14 items 1-3); `--sqlite` runs the harness on a shared SQLite file")
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp, SlackManager() as manager:
        root = Path(tmp)
        make_world(root)
        pg = None
        try:
            database_url = None
            if not opts.sqlite:
                try:
                    pg = TempPostgres(fast=False, settings=("max_connections=400",)).start()
                except PostgresUnavailable as exc:
                    print(f"bench/replicas.py: cannot start PostgreSQL: {exc}")
                    return 2
                database_url = pg.create_database("opsbot")
            side = manager.SlackSide()
            info = side.info()
            homes = [root / ("shared-home" if opts.sqlite else f"home-{i}") for i in range(opts.replicas)]
            replicas: list[Replica] = []
            try:
                for i, home in enumerate(homes):
                    replicas.append(Replica(i, root, replica_env(root, info, home, database_url, opts.lease)))
                for replica in replicas:
                    replica.wait_ready()
                events = events_phase(side, info["signing_secret"], replicas, root, opts)
                observer_home = root / ("shared-home" if opts.sqlite else "observer-home")
                observer = replica_env(root, info, observer_home, database_url, opts.lease)
                shared = bot_json(observer, root, "stats", "--json", "--since", "1h")["requests"]
                failover = failover_phase(replicas, root, opts)
                history = bot_json(observer, root, "jobs", "history", JOB, "--limit", "1000", "--json")
            finally:
                for replica in replicas:
                    replica.stop(signal.SIGKILL)
                side.stop()
        except RuntimeError as exc:
            print(f"bench/replicas.py: {exc}")
            return 1
        finally:
            if pg is not None:
                pg.stop()

    statuses: dict[str, int] = {}
    for run in history:
        statuses[run["status"]] = statuses.get(run["status"], 0) + 1
    backend = "one SQLite file (shared BOT_HOME)" if opts.sqlite else "one PostgreSQL 15 (BOT_DATABASE_URL)"
    print(f"{opts.replicas} replicas (`bot serve --http`, each its own process) on {backend}; "
          f"fake Slack in its own process")
    e = events
    print(f"events: {opts.events} signed app_mentions + {e['redeliveries']} redeliveries to a different replica "
          f"({e['deliveries']} POSTs, {opts.concurrency} in flight, {e['elapsed_s']:.1f} s)")
    print(f"  ack p50 {e['ack_p50']:.1f} ms · p99 {e['ack_p99']:.1f} ms · max {e['ack_max']:.1f} ms"
          f" · failed POSTs {e['failed_acks']}  (the POST round trip, as Slack sees it)")
    print(f"  ack p50 {e['server_p50']:.1f} ms · p99 {e['server_p99']:.1f} ms inside the replicas "
          f"(opsbot_slack_ack_seconds summed over /metrics, {e['server_count']:.0f} acks)")
    print(f"  duplicates {e['duplicate_answers'] + e['duplicate_runs']} (answers {e['duplicate_answers']}, "
          f"script runs {e['duplicate_runs']}) · lost {e['lost']}")
    print(f"  `bot stats` from a fourth process (its own BOT_HOME) sees {shared} requests in the shared ledger: "
          f"{e['answered']} answered events (warm-up included) + the job's runs so far")
    f = failover
    left_running = statuses.get("running", 0)
    print(f"failover: kill -9 of the scheduler's replica ({f['old_leader']}); replica {f['new_leader']} held the "
          f"lease after {f['takeover_s']:.1f} s (BOT_SCHEDULER_LEASE_S={f['lease_s']:g}, renewed every "
          f"{f['lease_s'] / 3:.1f} s)")
    print(f"  job `{JOB}` (every 1 s): {f['ticks']} runs by {f['pids']} processes · doubled {f['doubled']} · "
          f"lost {left_running} (left without an outcome) · outcomes {dict(sorted(statuses.items()))} · "
          f"slots skipped while no one held the lease {f['skipped_slots']} (longest gap {f['longest_gap_s']:.1f} s)")
    print("targets: duplicates 0 · lost 0 · takeover within the lease time (+ one renewal tick) · doubled 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
