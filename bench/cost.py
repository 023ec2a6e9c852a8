"""Cost per request of a production-like mix, vs an all-premium bot with the same prompt caching.

The mix (default 100 requests, like the production reports): 40 % service queries ("what's our MRR"),
40 % mid-tier work (skills, script + reasoning, direct answers), 15 % coding (review, debugging) and
5 % content → implementation (landing page, blog post).

Ours: every request goes through the real OpsBot — pre-router, orchestrator prompts exactly as the bot
builds them, premium sub-agent, pipeline — against the local fake Messages API (the real SDK). Scripts
are stubs that print ~150 tokens. The fake answers with the same scripted turns (same output lengths)
in both arms; input tokens are the fake's estimate, prices come from bot/pricing.py.

Baseline ("all-premium"): the same conversations on the premium model with the naive prompt (every
skill body and every script schema). The HEADLINE baseline marks that prompt as a cached prefix, as
ours marks its index (the same prompt caching), warm and cold; the all-premium bot without caching is
printed too.

The fake behaves like the 5.5 models (tests/fakes/anthropic_models.py): adaptive thinking spends output
tokens by effort (its THINKING_TOKENS table, printed) — ours at each tier's effort (BOT_EFFORT_*), the
all-premium bot at the premium model's default effort. Prompts under 512 tokens (the 5.5 models'
minimum cacheable prompt) are not cached; a hit is looked up at the block boundaries up to 20 blocks
before a breakpoint, as the API does (so the orchestrator's moving breakpoint reads the turn before). The cache never expires ("warm": steady traffic); "cold"
prices every cache read as a cache write (traffic so sparse the 5-minute cache always expires).

Routing is the bot's own: a request the pre-router sends to a tier directly (a script, or premium for
code if the router has that rule) gets only that tier's turns, so routing changes move the figures.
Targets: overall ≤ 35 % of cached all-premium (warm), coding ≤ 100 %, and ≤ 10 % of all-premium
without caching.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
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
    stub_text,
)
from bot.code_detect import detect as detect_code  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.ledger import Ledger  # noqa: E402
from bot.llm import LLM, RetryPolicy  # noqa: E402
from bot.models import profile  # noqa: E402
from bot.pricing import PriceTable  # noqa: E402
from bot.prompts import CACHE  # noqa: E402
from bot.request import Incoming  # noqa: E402
from bot.tiers.review import BUILD_EFFORT, REVIEW_EFFORT  # noqa: E402
from tests.fakes.anthropic_models import THINKING_TOKENS  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic, Reply  # noqa: E402

TARGET_CACHED, TARGET_CODING, TARGET_UNCACHED = 0.35, 1.00, 0.10
MIN_CACHE = 512
PRICES = PriceTable.load(Settings(_env_file=None).bot_pricing_file)   # the table the bot itself uses


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


def our_turns(req: dict[str, Any], routed_tier: str | None, registry: Any) -> list[Reply]:
    """The model turns a request needs, given where the bot's own pre-router sent it (and, for a
    pipeline, whether the skill's front matter asks for a premium review of a mid-model build)."""
    kind = req["kind"]
    if routed_tier == "script":
        return []
    if routed_tier == "premium":                 # straight to the premium sub-agent, no orchestrator turn
        return [Reply.text(req.get("answer") or req.get("stage2", ""))]
    if kind == "service":
        return [Reply.tool_use("run_script", {"name": req["script"], "args": req["args"], "reason": "live data"}),
                Reply.text(req["answer"])]
    if kind == "mid":
        turns = []
        if req.get("skill"):
            turns.append(Reply.tool_use("load_skill", {"name": req["skill"]}))
        for name, args in req.get("scripts", []):
            turns.append(Reply.tool_use("run_script", {"name": name, "args": args, "reason": "needs data"}))
        return turns + [Reply.text(req["answer"])]
    if kind == "coding" and detect_code(req["text"]).is_code:    # straight to premium: no mid turn
        return [Reply.text(req["answer"])]
    if kind == "coding":
        return [Reply.tool_use("delegate_premium", {"task": "Do what the request asks, using the pasted material.",
                                                    "skills": [req["skill"]], "context": "[[request]]",
                                                    "reason": "coding work goes to the premium model"}),
                Reply.text(req["answer"])]
    reviewed = registry.skills[req["skill"]].review       # `review: true`: mid builds, premium reviews
    review = [Reply.text('{"verdict": "accept", "reasons": []}')] if reviewed else []
    return [Reply.tool_use("run_pipeline", {"skill": req["skill"], "brief": req["brief"], "reason": "content + HTML"}),
            Reply.text(req["stage1"]), Reply.text(req["stage2"]), *review]


@dataclass
class Arm:
    """One arm of the comparison: its LLM calls (ledger rows) and which kind each request was."""

    rows: list[dict[str, Any]]
    kind_of: dict[str, str]                      # request id → kind, for every request (even 0-token ones)

    def cost(self, *, kind: str | None = None, cold: bool = False) -> float:
        """Total USD; `cold` prices every cache read as a cache write (a cache that always expired)."""
        total = 0.0
        for r in self.rows:
            if kind is None or self.kind_of.get(r["request_id"]) == kind:
                price = PRICES.price(r["model"])
                total += r["cost_usd"] + (r["cache_read_tokens"] * (price.cache_write - price.cache_read) / 1e6
                                          if cold else 0.0)
        return total

    def per_request(self, kind: str | None = None, *, cold: bool = False) -> float:
        n = sum(1 for k in self.kind_of.values() if kind is None or k == kind)
        return self.cost(kind=kind, cold=cold) / n if n else 0.0

    @property
    def tokens(self) -> int:
        return sum(r["input_tokens"] + r["cache_read_tokens"] + r["cache_write_tokens"] + r["output_tokens"]
                   for r in self.rows)


def run_ours(mix: list[dict[str, Any]]) -> tuple[Arm, dict[str, Any]]:
    with FakeAnthropic(min_cache_tokens=MIN_CACHE) as fake:
        bench = BenchBot(fake)
        bot = bench.bot
        try:
            kind_of: dict[str, str] = {}
            tiers: dict[str, int] = defaultdict(int)
            routed = 0
            for req in mix:
                route = bot.router.route(req["text"])
                routed_tier = route.tier if route.tier in ("script", "premium") else None
                routed += routed_tier == "script" and req["kind"] == "service"
                fake.enqueue(*our_turns(req, routed_tier, bot.registry))
                reply = bot.handle(Incoming(req["text"], user="U1", channel="C1", source="slack",
                                            thread=req.get("thread", [])))
                assert fake.pending == 0, f"unused turns for {req['text'][:40]!r}"
                kind_of[reply.request_id] = req["kind"]
                tiers[reply.tier] += 1
            rows = list(bot.ledger.db["llm_calls"].rows)
            by_model: dict[str, float] = defaultdict(float)
            for r in rows:
                by_model[r["model"]] += r["cost_usd"]
            largest_premium = max((r.input_tokens or 0 for r in fake.message_requests
                                   if r.model == bot.settings.bot_model_premium), default=0)
            return Arm(rows, kind_of), {"tiers": tiers, "routed": routed, "by_model": dict(by_model),
                                        "largest_premium": largest_premium}
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


def run_baseline(mix: list[dict[str, Any]], registry, premium_model: str, stub_output: dict[str, str], *,
                 cache: bool) -> Arm:
    """Every request on the premium model with the naive prompt; `cache` marks that prompt (every tool
    definition and every skill body) as a cached prefix, as ours marks its index."""
    naive_system, tools = naive_prompt(registry)
    system: Any = [{"type": "text", "text": naive_system, "cache_control": CACHE}] if cache else naive_system
    effort = profile(premium_model).default_effort or "medium"
    with FakeAnthropic(min_cache_tokens=MIN_CACHE) as fake, tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp) / "baseline.db")
        llm = LLM(client=anthropic.Anthropic(api_key="bench", base_url=fake.base_url, max_retries=0, timeout=30),
                  pricing=PRICES, ledger=ledger, retry=RetryPolicy(max_retries=0))
        kind_of: dict[str, str] = {}
        for i, req in enumerate(mix):
            kind_of[f"b{i}"] = req["kind"]
            thread = req.get("thread") or []
            text = req["text"] if not thread else (
                "Thread:\n" + "\n".join(f"{m['user']}: {m['text']}" for m in thread) + "\n\n" + req["text"])
            messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
            for kind, value in baseline_turns(req):
                if kind == "tool":
                    name, args = value
                    fake.enqueue(Reply.tool_use(name.replace(".", "__"), args))
                else:
                    fake.enqueue(Reply.text(value))
                response = llm.create(model=premium_model, system=system, tools=tools, messages=messages,
                                      max_tokens=32_000, effort=effort, purpose="baseline", request_id=f"b{i}")
                if kind == "tool":
                    use = response.tool_uses[0]
                    messages += [response.message.to_param(), {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": use.id, "content": stub_output[value[0]]}]}]
        rows = list(ledger.db["llm_calls"].rows)
        ledger.close()
    return Arm(rows, kind_of)


def verdict(ratio: float, target: float | None) -> str:
    if target is None:
        return f"{ratio:>6.1%}"
    return f"{ratio:>6.1%}   target ≤ {target:.0%}  {'OK' if ratio <= target else 'OVER'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    opts = parser.parse_args()

    mix = request_mix(opts.requests, opts.seed)
    ours, extra = run_ours(mix)

    registry, _ = load_catalog(pad_to=0)
    stub_output = {e.name: stub_text(e) for e in registry.scripts.values()}    # what the bot's stubs printed
    settings = Settings(_env_file=None)
    plain = run_baseline(mix, registry, settings.bot_model_premium, stub_output, cache=False)
    cached = run_baseline(mix, registry, settings.bot_model_premium, stub_output, cache=True)

    n = len(mix)
    kinds = [("service", "service queries"), ("mid", "mid-tier work"), ("coding", "coding"),
             ("content", "content → implementation")]
    print(f"{n} requests; token counting: {OFFLINE_METHOD} (fake server, both arms)")
    print(f"prices: bot/pricing.py — {PRICES.source}")
    print(f"models: mid {settings.bot_model_mid}, premium {settings.bot_model_premium}; all-premium = every request "
          f"on {settings.bot_model_premium} with the naive prompt (every skill body + every script schema)")
    print(f"service queries answered by the pre-router at 0 tokens: {extra['routed']}/"
          f"{sum(1 for r in mix if r['kind'] == 'service')}")
    print(f"tiers chosen: {dict(sorted(extra['tiers'].items()))}")
    print(f"thinking tokens by effort (the fake's assumption, both arms): {THINKING_TOKENS}")
    print(f"  ours: orchestrator {settings.bot_effort_orchestrator} (mid), delegate_premium "
          f"{settings.bot_effort_premium}, code route {settings.bot_effort_code} (premium), pipeline stage 1 "
          f"{settings.bot_effort_pipeline_stage1} / stage 2 {settings.bot_effort_pipeline_stage2}, review: build "
          f"{BUILD_EFFORT} (mid) + review {REVIEW_EFFORT} (premium); all-premium: "
          f"{profile(settings.bot_model_premium).default_effort} (the premium model's default)")
    print()
    print("Headline: ours vs an all-premium bot WITH THE SAME PROMPT CACHING ($ per request)")
    print(f"{'':<26}{'share':>6}{'ours warm':>11}{'all-prem warm':>15}{'ratio':>8}{'ours cold':>11}"
          f"{'all-prem cold':>15}{'ratio':>8}   target (warm)")
    for key, label in [*kinds, (None, "all requests")]:
        share = sum(1 for r in mix if key is None or r["kind"] == key) / n
        ow, cw = ours.per_request(key), cached.per_request(key)
        oc, cc = ours.per_request(key, cold=True), cached.per_request(key, cold=True)
        target = TARGET_CACHED if key is None else TARGET_CODING if key == "coding" else None
        print(f"{label:<26}{share:>6.0%}{ow:>11.5f}{cw:>15.5f}{(ow / cw if cw else 0):>8.1%}{oc:>11.5f}"
              f"{cc:>15.5f}{(oc / cc if cc else 0):>8.1%}   {verdict(ow / cw if cw else 0, target)[7:] if target else ''}")
    print()
    print("Also: ours vs all-premium WITHOUT prompt caching ($ per request)")
    print(f"{'':<26}{'ours warm':>11}{'all-premium':>13}{'ratio':>8}")
    for key, label in [*kinds, (None, "all requests")]:
        o, p = ours.per_request(key), plain.per_request(key)
        print(f"{label:<26}{o:>11.5f}{p:>13.5f}{(o / p if p else 0):>8.1%}")
    print()
    print(f"ours: {len(ours.rows)} LLM calls, {ours.tokens:,} tokens, ${ours.cost():.4f} "
          f"({', '.join(f'{m} ${c:.4f}' for m, c in sorted(extra['by_model'].items()))}); "
          f"largest premium input {extra['largest_premium']:,} tokens")
    print(f"all-premium, no caching: {len(plain.rows)} LLM calls, {plain.tokens:,} tokens, ${plain.cost():.4f}")
    print(f"all-premium, cached:     {len(cached.rows)} LLM calls, {cached.tokens:,} tokens, ${cached.cost():.4f} warm, "
          f"${cached.cost(cold=True):.4f} cold")
    print()
    print("targets:")
    print(f"  overall, ours warm vs cached all-premium warm   {verdict(ours.cost() / cached.cost(), TARGET_CACHED)}")
    coding_ratio = ours.cost(kind="coding") / cached.cost(kind="coding") if cached.cost(kind="coding") else 0
    print(f"  coding, ours warm vs cached all-premium warm    {verdict(coding_ratio, TARGET_CODING)}")
    print(f"  overall, ours warm vs all-premium, no caching   {verdict(ours.cost() / plain.cost(), TARGET_UNCACHED)}")
    print(f"  overall, both cached, cold                      {verdict(ours.cost(cold=True) / cached.cost(cold=True), None)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
