"""Cost per request of a production-like mix, vs sending everything to the premium model with naive context.

The mix (default 100 requests, like the production reports): 40 % service queries ("what's our MRR"),
40 % mid-tier work (skills, script + reasoning, direct answers), 15 % coding (review, debugging) and
5 % content → implementation (landing page, blog post).

Ours: every request goes through the real OpsBot — pre-router, orchestrator prompts exactly as the bot
builds them, premium sub-agent, pipeline — against the local fake Messages API (the real SDK). Scripts
are stubs that print ~150 tokens. The fake answers with the same scripted turns (same output lengths)
in both arms; input tokens are the fake's estimate, prices come from bot/pricing.py.

Baseline: the same conversations on the premium model with the naive prompt (every skill body and
every script schema), no prompt caching — "send everything to the big model".

The fake's prompt cache never expires, which models steady traffic; the "cold cache" line prices every
cache read as a cache write instead (the worst case: traffic so sparse the 5-minute cache always expires).
Target: ours ≤ 20 % of the all-premium cost.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import anthropic
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._fakes import (  # noqa: E402
    OFFLINE_METHOD,
    ROOT,
    BenchBot,
    diff_text,
    filler,
    load_catalog,
    naive_prompt,
    write_stub_scripts,
)
from bot.app import Incoming  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.ledger import Ledger  # noqa: E402
from bot.llm import LLM, RetryPolicy  # noqa: E402
from bot.pricing import PriceTable  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic, Reply  # noqa: E402

TARGET = 0.20


# -- the request mix ---------------------------------------------------------------------------------


def service_queries(n: int, rng: random.Random) -> list[dict[str, Any]]:
    corpus = []
    for path in sorted((ROOT / "bench" / "corpus").glob("*.yaml")):
        corpus += [c for c in yaml.safe_load(path.read_text()) or [] if c.get("script")]
    picks = rng.sample(corpus, min(n, len(corpus)))
    return [{"kind": "service", "text": c["text"], "script": c["script"], "args": c.get("args") or {},
             "answer": filler(120, seed=i)} for i, c in enumerate(picks)]


SKILL_FLOWS = [
    ("summarise this thread for me", "thread-summary", [], 350, True),
    ("give me an incident summary for #inc-checkout", "incident-summary",
     [("pagerduty.incidents", {}), ("sentry.top-issues", {})], 400, False),
    ("write the weekly revenue report", "revenue-report", [("stripe.mrr", {}), ("stripe.subscriptions", {})], 350, False),
    ("draft release notes for acme/web", "release-notes",
     [("github.releases", {"repo": "acme/web"}), ("github.recent-commits", {"repo": "acme/web", "days": 7})], 450, False),
    ("help me answer this customer: jane@acme.io asks why she was charged twice", "customer-reply",
     [("stripe.customer", {"email": "jane@acme.io"})], 250, False),
    ("write the standup digest", "standup-digest", [("github.recent-commits", {}), ("github.open-prs", {})], 300, False),
    ("draft the postmortem for yesterday's checkout outage", "postmortem-draft", [], 900, True),
]
REASONING = [
    ("why did MRR drop last week?", "stripe.mrr", {}),
    ("compare this month's failed payments with last month", "stripe.failed-payments", {"days": 60}),
    ("explain why the latest vercel deploy is slow", "vercel.latest-deploy", {}),
    ("should we worry about the sentry errors today?", "sentry.top-issues", {}),
]
DIRECT = ["explain the difference between blue-green and canary deploys",
          "how should we name our feature flags?", "what is a good on-call handover checklist?",
          "explain idempotency keys in one paragraph"]


def mid_work(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        lane = i % 3
        if lane == 0:
            text, skill, scripts, answer, thread = SKILL_FLOWS[(i // 3) % len(SKILL_FLOWS)]
            out.append({"kind": "mid", "text": text, "skill": skill, "scripts": scripts,
                        "answer": filler(answer, seed=i),
                        "thread": [{"user": f"U{j % 4}", "text": filler(60, seed=j)} for j in range(12)] if thread else []})
        elif lane == 1:
            text, script, args = REASONING[(i // 3) % len(REASONING)]
            out.append({"kind": "mid", "text": text, "scripts": [(script, args)], "answer": filler(250, seed=i)})
        else:
            out.append({"kind": "mid", "text": DIRECT[(i // 3) % len(DIRECT)], "answer": filler(300, seed=i)})
    return out


def coding(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append({"kind": "coding", "skill": "code-review", "text": "review this diff please\n" + diff_text(80 + 15 * i),
                        "answer": filler(800, seed=i)})
        else:
            trace = "\n".join(f'  File "/app/svc.py", line {10 + j}, in run\n    x = step(x)' for j in range(25))
            out.append({"kind": "coding", "skill": "debug-helper",
                        "text": f"why does this crash?\nTraceback (most recent call last):\n{trace}\nKeyError: 'id'",
                        "answer": filler(700, seed=i)})
    return out


def content(n: int) -> list[dict[str, Any]]:
    skills = ["landing-page", "blog-post"]
    return [{"kind": "content", "skill": skills[i % 2], "text": f"make a {skills[i % 2].replace('-', ' ')} for deploy previews",
             "brief": "Deploy Previews: a preview URL for every branch, comments on the PR. " + filler(150, seed=i),
             "stage1": "# Ship with confidence\n" + filler(1200, seed=i), "stage2": "```html\n<!doctype html>\n" + filler(3000, seed=i) + "\n```"}
            for i in range(n)]


def request_mix(total: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    n_service, n_mid, n_code = round(total * 0.40), round(total * 0.40), round(total * 0.15)
    n_content = total - n_service - n_mid - n_code
    mix = service_queries(n_service, rng) + mid_work(n_mid) + coding(n_code) + content(n_content)
    rng.shuffle(mix)
    return mix


# -- ours: the real bot --------------------------------------------------------------------------------


def our_turns(req: dict[str, Any], routed_to_script: bool) -> list[Reply]:
    kind = req["kind"]
    if kind == "service":
        if routed_to_script:
            return []
        return [Reply.tool_use("run_script", {"name": req["script"], "args": req["args"], "reason": "live data"}),
                Reply.text(req["answer"])]
    if kind == "mid":
        turns = []
        if req.get("skill"):
            turns.append(Reply.tool_use("load_skill", {"name": req["skill"]}))
        for name, args in req.get("scripts", []):
            turns.append(Reply.tool_use("run_script", {"name": name, "args": args, "reason": "needs data"}))
        return turns + [Reply.text(req["answer"])]
    if kind == "coding":
        return [Reply.tool_use("delegate_premium", {"task": "Do what the request asks, using the pasted material.",
                                                    "skills": [req["skill"]], "context": "[[request]]",
                                                    "reason": "coding work goes to the premium model"}),
                Reply.text(req["answer"])]
    return [Reply.tool_use("run_pipeline", {"skill": req["skill"], "brief": req["brief"], "reason": "content + HTML"}),
            Reply.text(req["stage1"]), Reply.text(req["stage2"])]


def run_ours(mix: list[dict[str, Any]]) -> dict[str, Any]:
    with FakeAnthropic() as fake:
        bench = BenchBot(fake)
        bot = bench.bot
        try:
            per_kind: dict[str, list[float]] = defaultdict(list)
            tiers: dict[str, int] = defaultdict(int)
            routed = 0
            for req in mix:
                route = bot.router.route(req["text"])
                to_script = route.tier == "script"
                routed += to_script and req["kind"] == "service"
                fake.enqueue(*our_turns(req, to_script))
                reply = bot.handle(Incoming(req["text"], user="U1", channel="C1", source="slack",
                                            thread=req.get("thread", [])))
                assert fake.pending == 0, f"unused turns for {req['text'][:40]!r}"
                per_kind[req["kind"]].append(reply.cost_usd)
                tiers[reply.tier] += 1
            rows = list(bot.ledger.db["llm_calls"].rows)
            cold = sum(r["cost_usd"] + r["cache_read_tokens"] * (
                bot.orchestrator.llm.pricing.price(r["model"]).cache_write
                - bot.orchestrator.llm.pricing.price(r["model"]).cache_read) / 1e6 for r in rows)
            by_model: dict[str, float] = defaultdict(float)
            for r in rows:
                by_model[r["model"]] += r["cost_usd"]
            largest_premium = max((r.input_tokens or 0 for r in fake.message_requests
                                   if r.model == bot.settings.bot_model_premium), default=0)
            return {"total": sum(r["cost_usd"] for r in rows), "cold": cold, "per_kind": per_kind, "tiers": tiers,
                    "routed": routed, "calls": len(rows), "by_model": dict(by_model),
                    "tokens": sum(r["input_tokens"] + r["cache_read_tokens"] + r["cache_write_tokens"]
                                  + r["output_tokens"] for r in rows), "largest_premium": largest_premium}
        finally:
            bench.close()


# -- baseline: everything on premium with naive context -----------------------------------------------


def baseline_turns(req: dict[str, Any]) -> list[tuple[str, Any]]:
    kind = req["kind"]
    if kind == "service":
        return [("tool", (req["script"], req["args"])), ("text", req["answer"])]
    if kind == "mid":
        return [("tool", s) for s in req.get("scripts", [])] + [("text", req["answer"])]
    if kind == "coding":
        return [("text", req["answer"])]
    return [("text", req["stage1"] + "\n\n" + req["stage2"])]


def run_baseline(mix: list[dict[str, Any]], registry, premium_model: str, stub_output: dict[str, str]) -> dict[str, Any]:
    system, tools = naive_prompt(registry)
    epoch = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    with FakeAnthropic() as fake:
        with tempfile.TemporaryDirectory() as tmp:
            ledger = Ledger(Path(tmp) / "baseline.db")
            llm = LLM(client=anthropic.Anthropic(api_key="bench", base_url=fake.base_url, max_retries=0, timeout=30),
                      pricing=PriceTable(), ledger=ledger, retry=RetryPolicy(max_retries=0))
            per_kind: dict[str, list[float]] = defaultdict(list)
            for i, req in enumerate(mix):
                thread = req.get("thread") or []
                text = req["text"] if not thread else (
                    "Thread:\n" + "\n".join(f"{m['user']}: {m['text']}" for m in thread) + "\n\n" + req["text"])
                messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
                before = ledger.spend_since(epoch)
                for kind, value in baseline_turns(req):
                    if kind == "tool":
                        name, args = value
                        fake.enqueue(Reply.tool_use(name.replace(".", "__"), args))
                    else:
                        fake.enqueue(Reply.text(value))
                    response = llm.create(model=premium_model, system=system, tools=tools, messages=messages,
                                          max_tokens=8000, purpose="baseline", request_id=f"b{i}")
                    if kind == "tool":
                        use = response.tool_uses[0]
                        messages += [response.message.to_param(), {"role": "user", "content": [
                            {"type": "tool_result", "tool_use_id": use.id, "content": stub_output[value[0]]}]}]
                after = ledger.spend_since(epoch)
                per_kind[req["kind"]].append(after - before)
            rows = list(ledger.db["llm_calls"].rows)
            total = sum(r["cost_usd"] for r in rows)
            tokens = sum(r["input_tokens"] + r["output_tokens"] for r in rows)
            ledger.close()
    return {"total": total, "per_kind": per_kind, "calls": len(rows), "tokens": tokens}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    opts = parser.parse_args()

    mix = request_mix(opts.requests, opts.seed)
    ours = run_ours(mix)

    registry, _ = load_catalog(pad_to=0)     # the same stub outputs the bot saw
    with tempfile.TemporaryDirectory() as tmp:
        write_stub_scripts(registry, Path(tmp))
        stub_output = {e.name: (Path(tmp) / e.name.replace(".", "/", 1)).read_text().split("EOF\n", 1)[1]
                       .rsplit("\nEOF", 1)[0] for e in registry.scripts.values()}
    settings = Settings(_env_file=None)
    base = run_baseline(mix, registry, settings.bot_model_premium, stub_output)

    n = len(mix)
    kinds = [("service", "service queries"), ("mid", "mid-tier work"), ("coding", "coding"),
             ("content", "content → implementation")]
    print(f"{n} requests; token counting: {OFFLINE_METHOD} (fake server); prices: bot/pricing.py")
    print(f"models: mid {settings.bot_model_mid}, premium {settings.bot_model_premium}")
    print(f"service queries answered by the pre-router at 0 tokens: {ours['routed']}/"
          f"{sum(1 for r in mix if r['kind'] == 'service')}")
    print(f"tiers chosen: {dict(sorted(ours['tiers'].items()))}")
    print()
    print(f"{'kind':<26}{'share':>7}{'ours $/req':>13}{'all-premium $/req':>20}{'ratio':>8}")
    for key, label in kinds:
        o, b = ours["per_kind"].get(key, []), base["per_kind"].get(key, [])
        if not o:
            continue
        mo, mb = sum(o) / len(o), sum(b) / len(b)
        print(f"{label:<26}{len(o) / n:>7.0%}{mo:>13.5f}{mb:>20.5f}{(mo / mb if mb else 0):>8.1%}")
    ratio = ours["total"] / base["total"]
    cold_ratio = ours["cold"] / base["total"]
    print(f"{'all requests':<26}{'100%':>7}{ours['total'] / n:>13.5f}{base['total'] / n:>20.5f}{ratio:>8.1%}")
    print()
    print(f"ours: {ours['calls']} LLM calls, {ours['tokens']:,} tokens, ${ours['total']:.4f} "
          f"({', '.join(f'{m} ${c:.4f}' for m, c in sorted(ours['by_model'].items()))}); "
          f"largest premium input {ours['largest_premium']:,} tokens")
    print(f"all-premium naive: {base['calls']} LLM calls, {base['tokens']:,} tokens, ${base['total']:.4f}")
    print(f"cold cache (every cache read priced as a write): ours ${ours['cold'] / n:.5f}/req = {cold_ratio:.1%}")
    print(f"ours vs all-premium: {ratio:.1%}   target ≤ {TARGET:.0%}  {'OK' if ratio <= TARGET else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
