"""The heartbeat's checks and report, at zero tokens when all is well (the job: bot/jobs/heartbeat.py).

Each check is a small function returning a `Check(name, status, detail)`; `build_report` runs them
(a check that crashes is itself a failed check) into a `Report` with `.status` (ok/warn/fail),
`.checks`, and renderers `.to_blocks()` (Block Kit) and `.to_text()`. `should_post` decides whether a
scheduled heartbeat posts: on change (fingerprint of statuses and of *which* things are wrong), on
trouble (any failing check), and once a day in full. Only a report that is not ok may be summarised by
the mid model (`anthropic_summarizer`), within a small token cap and never over the daily budget.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import hashlib
import json
import logging
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.jobs.spec import cut
from bot.ledger import Ledger, iso
from bot.memory import MemoryStore, split_note
from bot.mrkdwn import sanitize
from bot.redact import Redactor
from bot.stats import compute_stats

log = logging.getLogger(__name__)

STATUSES = ("ok", "skip", "warn", "fail")         # skip = not configured: shown, never trouble
_RANK = {"ok": 0, "skip": 0, "warn": 1, "fail": 2}
ICONS = {"ok": "✅", "skip": "➖", "warn": "⚠️", "fail": "🔴"}

NETWORK_TIMEOUT_S = 5.0
NEAR_DUPLICATE_RATIO = 0.9
MAX_NOTES_COMPARED = 300
DISK_WARN_FREE, DISK_FAIL_FREE = 0.10, 0.05              # share of the file system left
DISK_WARN_BYTES, DISK_FAIL_BYTES = 2 << 30, 256 << 20
LEDGER_WARN_BYTES = 1 << 30
BUDGET_WARN, BUDGET_FAIL = 0.8, 1.0
TIER_MIN_REQUESTS = 5                                     # error rates below this sample size are noise
TIER_WARN_ERROR_RATE, TIER_FAIL_ERROR_RATE = 0.2, 0.5
TIER_WARN_P95_MS = {"script": 30_000, "direct": 45_000, "premium": 180_000, "pipeline": 600_000}
SUMMARY_MAX_TOKENS = 2_000      # low-effort adaptive thinking + a three-sentence summary (thinking counts)
SUMMARY_BUDGET_USD = 0.05                                # never summarise when less than this is left


@dataclass
class Check:
    name: str
    status: str                 # ok | skip | warn | fail
    detail: str
    key: str = ""               # what is wrong, stably (e.g. which jobs): part of the change fingerprint
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown check status {self.status!r}")

    @property
    def trouble(self) -> bool:
        return _RANK[self.status] > 0


@dataclass
class Report:
    checks: list[Check]
    generated_at: dt.datetime
    summary: str | None = None
    full: bool = True

    @property
    def status(self) -> str:
        worst = max((_RANK[c.status] for c in self.checks), default=0)
        return {0: "ok", 1: "warn", 2: "fail"}[worst]

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.trouble]

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def fingerprint(self) -> str:
        """Changes when a status changes or what is wrong changes — not when disk free moves by a byte."""
        basis = [(c.name, c.status, c.key) for c in sorted(self.checks, key=lambda c: c.name)]
        return hashlib.sha256(json.dumps(basis).encode()).hexdigest()[:16]

    def headline(self) -> str:
        if self.status == "ok":
            return f"{ICONS['ok']} opsbot heartbeat: all {len(self.checks)} checks ok"
        fails = sum(c.status == "fail" for c in self.checks)
        warns = sum(c.status == "warn" for c in self.checks)
        parts = [f"{fails} failing"] if fails else []
        parts += [f"{warns} warning{'s' if warns != 1 else ''}"] if warns else []
        return f"{ICONS[self.status]} opsbot heartbeat: {', '.join(parts)}"

    def _shown(self, full: bool | None) -> list[Check]:
        full = self.full if full is None else full
        return self.checks if full else self.problems

    def to_text(self, full: bool | None = None) -> str:
        lines = [self.headline()]
        if self.summary:
            lines.append(self.summary)
        for c in self._shown(full):
            lines.append(f"{ICONS[c.status]} {c.name}: {c.detail}")
        lines.append(self._stamp() if self.summary else f"{self._stamp()} · 0 tokens")
        return "\n".join(lines)

    def _stamp(self) -> str:
        return f"{self.generated_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"

    def to_blocks(self, full: bool | None = None) -> list[dict[str, Any]]:
        """Block Kit (built and validated with slack_sdk.models.blocks), as dicts for chat.postMessage."""
        from slack_sdk.models.blocks import (
            ContextBlock,
            DividerBlock,
            HeaderBlock,
            MarkdownTextObject,
            PlainTextObject,
            SectionBlock,
        )

        full = self.full if full is None else full
        shown = self._shown(full)
        blocks: list[Any] = [HeaderBlock(text=PlainTextObject(text=self.headline()[:150], emoji=True))]
        if self.summary:
            blocks.append(SectionBlock(text=MarkdownTextObject(text=cut(sanitize(self.summary), 2900))))
        if shown:
            blocks.append(DividerBlock())
            # One section per check, at most 40 (Slack allows 50 blocks per message).
            for c in shown[:40]:
                blocks.append(SectionBlock(text=MarkdownTextObject(
                    text=cut(f"{ICONS[c.status]} *{c.name}* — {sanitize(c.detail)}", 2900))))
        elif not full:
            blocks.append(SectionBlock(text=MarkdownTextObject(text="Nothing needs attention.")))
        cost = "" if self.summary else " · 0 tokens"
        footer = f"{self._stamp()} · {'full report' if full else 'changes only'}{cost}"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=footer)]))
        return [b.to_dict() for b in blocks]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status, "generated_at": self.generated_at.isoformat(), "summary": self.summary,
            "fingerprint": self.fingerprint(), "checks": [asdict(c) for c in self.checks],
        }


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


# -- the checks --------------------------------------------------------------------------------------


def check_slack(settings: Settings, timeout: float = NETWORK_TIMEOUT_S) -> Check:
    """auth.test with the bot token: reachable, token valid, which workspace."""
    token = settings.secret("slack_bot_token")
    if not token:
        return Check("slack", "skip", "not configured (SLACK_BOT_TOKEN unset)")
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    base_url = (settings.slack_api_url or WebClient.BASE_URL).rstrip("/") + "/"
    client = WebClient(token=token, base_url=base_url, timeout=int(max(1, timeout)), retry_handlers=[])
    try:
        response = client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else str(exc)
        return Check("slack", "fail", f"auth.test refused: {error}", key=str(error))
    except Exception as exc:  # URLError, timeouts, DNS: Slack unreachable
        reason = getattr(exc, "reason", None) or exc
        return Check("slack", "fail", f"cannot reach Slack at {base_url}: {reason}", key="unreachable")
    return Check("slack", "ok", f"auth.test ok: {response.get('user', '?')} in {response.get('team', '?')}")


def check_anthropic(settings: Settings, timeout: float = NETWORK_TIMEOUT_S) -> Check:
    """The cheapest possible key check: GET /v1/models?limit=1 costs zero tokens."""
    key = settings.secret("anthropic_api_key")
    if not key:
        return Check("anthropic", "skip", "not configured (ANTHROPIC_API_KEY unset): LLM tiers are off")
    import anthropic

    client = anthropic.Anthropic(api_key=key, base_url=settings.anthropic_base_url or None, max_retries=0,
                                 timeout=timeout)
    try:
        page = client.models.list(limit=1)
    except anthropic.AuthenticationError:
        return Check("anthropic", "fail", "API key rejected (401)", key="auth")
    except anthropic.PermissionDeniedError:
        return Check("anthropic", "fail", "API key not permitted (403)", key="permission")
    except anthropic.APIStatusError as exc:
        return Check("anthropic", "warn", f"models.list answered {exc.status_code}", key=str(exc.status_code))
    except anthropic.APIConnectionError as exc:
        return Check("anthropic", "fail", f"cannot reach the Anthropic API: {exc}", key="unreachable")
    finally:
        client.close()
    first = next(iter(page.data), None)
    return Check("anthropic", "ok", f"key valid (0 tokens){f'; e.g. {first.id}' if first else ''}")


def check_ledger(ledger: Ledger, now: dt.datetime) -> Check:
    """Writable (a real write in a BEGIN IMMEDIATE transaction) and how big it is."""
    try:
        with ledger.transaction():
            ledger.set_state("heartbeat.ledger_probe", iso(now), iso(now))
    except Exception as exc:
        return Check("ledger", "fail", f"not writable: {exc}", key="readonly")
    size = ledger.size_bytes()
    status = "warn" if size > LEDGER_WARN_BYTES else "ok"
    return Check("ledger", status, f"writable, {_bytes(size)}", key="big" if status == "warn" else "",
                 data={"bytes": size})


def check_disk(path: Path) -> Check:
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    share = usage.free / usage.total if usage.total else 0.0
    status = "ok"
    if share < DISK_FAIL_FREE or usage.free < DISK_FAIL_BYTES:
        status = "fail"
    elif share < DISK_WARN_FREE or usage.free < DISK_WARN_BYTES:
        status = "warn"
    return Check("disk", status, f"{_bytes(usage.free)} free ({share:.0%}) at {probe}",
                 data={"free": usage.free, "total": usage.total})


def check_scheduler(ledger: Ledger, jobs: list[dict], now: dt.datetime, *, enabled: bool,
                    lease_name: str = "scheduler", this_holder: str | None = None) -> Check:
    """Is a scheduler alive (someone holds the lease), and which jobs are due within the hour / overdue."""
    if not enabled:
        return Check("scheduler", "skip", "off (BOT_SCHEDULER=false)")
    row = ledger.db.execute("SELECT holder, expires_at FROM leases WHERE name = ?", [lease_name]).fetchone()
    soon = now + dt.timedelta(hours=1)
    due = [j["name"] for j in jobs if j.get("next_run") and dt.datetime.fromisoformat(j["next_run"]) <= soon]
    overdue = sorted(j["name"] for j in jobs if j.get("overdue"))
    counts = f"{len(due)} due within the hour"
    if overdue:
        counts += f"; overdue: {', '.join(overdue)}"
    if row is None:
        return Check("scheduler", "warn", f"no scheduler has run yet; {counts}", key="never")
    holder, expires_at = row
    left = expires_at - now.timestamp()
    if left <= 0:
        return Check("scheduler", "fail", f"not alive: lease of {holder} expired {-left:.0f}s ago; {counts}",
                     key="dead", data={"holder": holder})
    who = "this process" if holder == this_holder else holder
    status = "warn" if overdue else "ok"
    return Check("scheduler", status, f"alive ({who}); {counts}", key=",".join(overdue),
                 data={"holder": holder, "due": due, "overdue": overdue})


def check_jobs(jobs: list[dict]) -> Check:
    """Auto-disabled jobs are trouble; failing ones too. Disabled by hand or waiting is information."""
    auto = [j for j in jobs if j["state"] == "disabled" and j.get("auto_disabled")]
    failing = [j for j in jobs if j["state"] == "scheduled" and j["consecutive_failures"]]
    manual = [j for j in jobs if j["state"] == "disabled" and not j.get("auto_disabled")]
    waiting = [j for j in jobs if j["state"] == "waiting"]
    parts = []
    if auto:
        parts.append("disabled after failures: " + ", ".join(
            f"{j['name']} ({cut(j.get('last_error') or '?', 80)})" for j in auto))
    if failing:
        parts.append("failing: " + ", ".join(
            f"{j['name']} {j['consecutive_failures']}/{j['max_failures']}" for j in failing))
    if manual:
        parts.append("disabled by hand: " + ", ".join(j["name"] for j in manual))
    if waiting:
        parts.append(f"{len(waiting)} waiting for credentials")
    scheduled = sum(j["state"] == "scheduled" for j in jobs)
    status = "warn" if auto or failing else "ok"
    detail = f"{scheduled} scheduled" + (f"; {'; '.join(parts)}" if parts else "")
    key = json.dumps([sorted(j["name"] for j in auto), sorted(j["name"] for j in failing)])
    return Check("jobs", status, detail, key=key if status != "ok" else "",
                 data={"disabled": [j["name"] for j in auto], "failing": [j["name"] for j in failing]})


def check_stuck_requests(ledger: Ledger, now: dt.datetime, after: dt.timedelta) -> Check:
    """Requests that never got an outcome, older than `after` (a crash, a hung tier, a lost thread)."""
    cutoff = iso(now - after)
    rows = ledger.db.execute(
        "SELECT id, source, received_at FROM requests WHERE outcome IS NULL AND received_at < ? "
        "ORDER BY received_at DESC LIMIT 20", [cutoff]).fetchall()
    total = ledger.db.execute("SELECT COUNT(*) FROM requests WHERE outcome IS NULL AND received_at < ?",
                              [cutoff]).fetchone()[0]
    minutes = int(after.total_seconds() // 60)
    if not total:
        return Check("requests", "ok", f"none stuck (no outcome after {minutes} min)")
    ids = ", ".join(f"`{r[0]}` ({r[1]})" for r in rows[:5])
    return Check("requests", "warn", f"{total} stuck without an outcome after {minutes} min: {ids}",
                 key=",".join(sorted(r[0] for r in rows)), data={"stuck": [r[0] for r in rows]})


def check_tiers(ledger: Ledger, now: dt.datetime) -> Check:
    """Error rate and p95 latency per tier over the last hour."""
    stats = compute_stats(ledger, now - dt.timedelta(hours=1))
    if not stats["requests"]:
        return Check("tiers", "ok", "no requests in the last hour")
    status, parts, bad = "ok", [], []
    for tier, row in sorted(stats["by_tier"].items()):
        rate = row["errors"] / row["requests"] if row["requests"] else 0.0
        p95 = row["p95_ms"]
        parts.append(f"{tier} {row['requests']} req, {rate:.0%} errors, p95 "
                     f"{'—' if p95 is None else f'{p95 / 1000:.1f}s'}")
        if row["requests"] >= TIER_MIN_REQUESTS and rate >= TIER_FAIL_ERROR_RATE:
            status, bad = "fail", [*bad, f"{tier}:errors"]
        elif row["requests"] >= TIER_MIN_REQUESTS and rate >= TIER_WARN_ERROR_RATE:
            status = "warn" if status == "ok" else status
            bad.append(f"{tier}:errors")
        if p95 is not None and p95 > TIER_WARN_P95_MS.get(tier, 60_000) and row["requests"] >= TIER_MIN_REQUESTS:
            status = "warn" if status == "ok" else status
            bad.append(f"{tier}:slow")
    return Check("tiers", status, "; ".join(parts), key=",".join(bad), data=stats["by_tier"])


def check_spend(ledger: Ledger, budget_usd: float | None, now: dt.datetime) -> Check:
    spent = ledger.spend_today(now)
    if budget_usd is None or budget_usd <= 0:
        what = "no budget set" if budget_usd is None else "LLM spend is off (BOT_DAILY_BUDGET_USD=0)"
        return Check("spend", "ok" if spent == 0 else "warn", f"${spent:.2f} today, {what}",
                     data={"spent": spent})
    share = spent / budget_usd
    status = "fail" if share >= BUDGET_FAIL else "warn" if share >= BUDGET_WARN else "ok"
    band = "" if status == "ok" else f"{int(share * 10) * 10}%+"     # re-post only when a 10 % band is crossed
    return Check("spend", status, f"${spent:.2f} of ${budget_usd:.2f} daily budget ({share:.0%})", key=band,
                 data={"spent": spent, "budget": budget_usd, "share": share})


def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def check_memory(memory: Path | MemoryStore, now: dt.datetime, stale_after: dt.timedelta) -> Check:
    """Triage of memory notes (*.md under BOT_HOME/memory, or the notes table of a shared ledger): count,
    size, stale, near-duplicates."""
    cutoff = (now - stale_after).timestamp()
    size = 0
    stale: list[str] = []
    texts: list[tuple[str, str]] = []
    if isinstance(memory, MemoryStore):        # notes in the database: created_at stands for the mtime
        notes = memory.notes()
        for note in notes:
            size += len(note.body.encode())
            created = dt.datetime.fromisoformat(note.created_at) if note.created_at else now
            if created.timestamp() < cutoff:
                stale.append(note.name)
            if len(texts) < MAX_NOTES_COMPARED:
                texts.append((note.name, _normalised(note.body[:5000])))
    else:
        memory_dir = Path(memory)
        notes = sorted(memory_dir.rglob("*.md")) if memory_dir.is_dir() else []
        for path in notes:
            stat = path.stat()
            size += stat.st_size
            rel = str(path.relative_to(memory_dir))
            if stat.st_mtime < cutoff:
                stale.append(rel)
            if len(texts) < MAX_NOTES_COMPARED:
                try:
                    texts.append((rel, _normalised(split_note(path.read_text(errors="replace"))[1][:5000])))
                except OSError:
                    continue
    if not notes:
        return Check("memory", "ok", "no notes yet")
    duplicates = []
    for i, (name_a, a) in enumerate(texts):
        for name_b, b in texts[i + 1:]:
            matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
            if matcher.real_quick_ratio() >= NEAR_DUPLICATE_RATIO and matcher.quick_ratio() >= NEAR_DUPLICATE_RATIO \
                    and matcher.ratio() >= NEAR_DUPLICATE_RATIO:
                duplicates.append((name_a, name_b))
    detail = f"{len(notes)} notes, {_bytes(size)}, {len(stale)} stale (>{stale_after.days}d)"
    if duplicates:
        shown = ", ".join(f"{a} ≈ {b}" for a, b in duplicates[:3])
        detail += f", {len(duplicates)} near-duplicate pair{'s' if len(duplicates) != 1 else ''}: {shown}"
    return Check("memory", "warn" if duplicates else "ok", detail,
                 key=json.dumps(sorted(duplicates)) if duplicates else "",
                 data={"notes": len(notes), "bytes": size, "stale": stale, "duplicates": duplicates})


# -- the report ----------------------------------------------------------------------------------------


def build_report(checks: Iterable[tuple[str, Callable[[], Check]]], now: dt.datetime) -> Report:
    """Run each check; one that raises becomes a failed check instead of breaking the heartbeat."""
    results = []
    for name, run in checks:
        try:
            results.append(run())
        except Exception as exc:
            log.exception("heartbeat check %s crashed", name)
            results.append(Check(name, "fail", f"check crashed: {type(exc).__name__}: {exc}", key="crashed"))
    return Report(results, now)


def should_post(report: Report, *, last_fingerprint: str | None, last_full_day: str | None,
                now: dt.datetime) -> tuple[bool, bool]:
    """(post?, full?) — post on change or trouble (a failing check), and a full report once a day."""
    full = last_full_day != now.astimezone(dt.UTC).date().isoformat()
    changed = report.fingerprint() != last_fingerprint
    return full or changed or report.status == "fail", full


def anthropic_summarizer(settings: Settings, ledger: Ledger, *, budget_left: Callable[[], float],
                         redactor: Redactor | None = None) -> Callable[[Report], str | None] | None:
    """A mid-model summary of a report that is not ok: ≤ 2,000 output tokens (thinking included), one attempt, skipped when
    less than SUMMARY_BUDGET_USD of today's budget is left. Through bot.llm, so it is priced and
    recorded in the ledger (purpose "heartbeat-summary") like every other call. None without a key."""
    if not settings.secret("anthropic_api_key"):
        return None

    @functools.cache
    def client():
        """Built on the first summary, then kept: a client, the pricing table and the model checks once."""
        from bot.llm import LLM, RetryPolicy

        return LLM.from_settings(settings, ledger=ledger, redactor=redactor, retry=RetryPolicy(max_retries=0))

    def summarize(report: Report) -> str | None:
        if report.status == "ok" or budget_left() < SUMMARY_BUDGET_USD:
            return None
        from bot.llm import LLMError

        problems = "\n".join(f"- {c.name} ({c.status}): {c.detail}" for c in report.problems)
        try:
            response = client().create(
                model=settings.bot_model_mid, max_tokens=SUMMARY_MAX_TOKENS, purpose="heartbeat-summary",
                effort=settings.bot_effort_summary,
                system="You summarise a chat-ops bot's health report for the on-call engineer: two or three "
                       "short sentences, most urgent first, with the next step. No preamble.",
                messages=[{"role": "user", "content": problems}], timeout_s=30)
        except LLMError as exc:
            log.warning("heartbeat summary failed: %s", exc)
            return None
        return response.text or None

    return summarize
