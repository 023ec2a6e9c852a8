"""Learning benchmark: does `bot learn` turn orchestrator answers into 0-token routes on phrasings it
never saw, without ever picking a wrong script?

1. The labelled corpus (bench/corpus/, including learning/): the script-labelled phrasings that today's
   pre-router hands to the orchestrator, split per script into a learn set and a held-out set
   (alternating, so every script with two or more such phrasings is tested on an unseen one).
2. The learn set goes through the real bot (stub scripts) and the real orchestrator, whose model is the
   local fake Messages API (tests/fakes/anthropic_server.py) answering with run_script(label, args):
   the ledger records them exactly as in production.
3. `bot learn` (corpus guard = the corpus minus the held-out set: the learner never sees those labels)
   and apply to a copy of the registry's learned.yaml.
4. Route the held-out set before and after: zero-token share and wrong scripts (target 0), plus the
   whole corpus after learning.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._fakes import BenchBot  # noqa: E402
from bot.learning import apply, is_right, learn, load_corpus, outcome  # noqa: E402
from bot.registry import load_registry  # noqa: E402
from bot.request import Incoming  # noqa: E402
from bot.router import PreRouter  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic  # noqa: E402


def split(bound: list[dict]) -> tuple[list[dict], list[dict]]:
    by_script: dict[str, list[dict]] = defaultdict(list)
    for item in bound:
        by_script[item["script"]].append(item)
    learn_set, held_out = [], []
    for items in by_script.values():
        for i, item in enumerate(items):
            (learn_set if i % 2 == 0 else held_out).append(item)
    return learn_set, held_out


def score(router: PreRouter, items: list[dict]) -> tuple[int, list[tuple[dict, str]]]:
    """(how many routed right at 0 tokens, the wrong ones with what they got)."""
    right, wrong = 0, []
    for item in items:
        decision = router.route(item["text"])
        if is_right(item, decision):
            right += item.get("script") is not None
        elif outcome(decision)[0] is not None:
            wrong.append((item, f"{decision.script} {decision.args}"))
    return right, wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", "-v", action="store_true", help="list suggestions, refusals and misses")
    opts = parser.parse_args()

    corpus = load_corpus(ROOT / "bench" / "corpus")
    registry = load_registry(ROOT / "registry", check_paths=False)
    router = PreRouter(registry)
    bound = [c for c in corpus if c.get("script") and c["script"] in registry.scripts
             and outcome(router.route(c["text"]))[0] is None]
    learn_set, held_out = split(bound)
    held_texts = {c["text"] for c in held_out}

    with tempfile.TemporaryDirectory(prefix="opsbot-learning-") as tmp, FakeAnthropic() as fake:
        registry_copy = Path(tmp) / "registry"
        shutil.copytree(ROOT / "registry", registry_copy, ignore=shutil.ignore_patterns("learned.yaml"))
        bench = BenchBot(fake, bot_registry=registry_copy, bot_daily_budget_usd=1000)
        try:
            bot = bench.bot
            misrouted = 0
            for i, item in enumerate(learn_set):
                fake.reply_tool_use("run_script", {"name": item["script"], "args": item.get("args") or {},
                                                   "reason": "the script that answers this"})
                fake.reply_text("Here is what it says.")
                reply = bot.handle(Incoming(item["text"], user=f"UBENCH{i % 7}", source="slack",
                                            channel="CBENCH", thread_ts=f"{1_700_000_000 + i}.000100"))
                if reply.script != item["script"] or reply.outcome != "ok":
                    misrouted += 1
                    if opts.verbose:
                        print(f"NOT RUN  {item['text']!r}: {reply.outcome} {reply.script} {reply.notes}")
            tokens = bot.ledger.db.execute("SELECT SUM(input_tokens + output_tokens) FROM llm_calls").fetchone()[0]
            since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
            guard = [c for c in corpus if c["text"] not in held_texts]
            result = learn(bot.ledger, bot.registry, since, corpus=guard)
            added = apply(registry_copy, result.suggestions)
        finally:
            bench.close()
        learned = load_registry(registry_copy, check_paths=False)
        after = PreRouter(learned)

    before_right, before_wrong = score(router, held_out)
    after_right, after_wrong = score(after, held_out)
    _, corpus_wrong = score(after, corpus)
    top = [c for c in corpus if c["file"] != "paraphrases.yaml" and c.get("script")]
    top_before, _ = score(router, top)
    top_after, _ = score(after, top)
    n = len(held_out) or 1
    print(f"orchestrator-bound labelled phrasings: {len(bound)} (learn {len(learn_set)}, held out {len(held_out)}, "
          f"{len({c['script'] for c in held_out})} scripts)")
    print(f"learn set through the fake model:      {len(learn_set)} requests, {tokens or 0:,} tokens, "
          f"{misrouted} not answered by their script")
    print(f"learned:                               {len(result.suggestions)} suggestions ({added} written), "
          f"{len(result.refused)} refused")
    print(f"held-out zero-token share:             before {before_right / n:.1%} ({before_right}/{len(held_out)}) → "
          f"after {after_right / n:.1%} ({after_right}/{len(held_out)})")
    print(f"wrong scripts on held-out:             before {len(before_wrong)} → after {len(after_wrong)}   target 0")
    print(f"wrong scripts on the whole corpus:     {len(corpus_wrong)} after learning   target 0")
    print(f"router corpus (bench/corpus/*.yaml):   zero-token {top_before}/{len(top)} → {top_after}/{len(top)}")
    for item, got in after_wrong + corpus_wrong:
        print(f"WRONG  {item['text']!r}: expected {item.get('script')}, got {got}")
    if opts.verbose:
        for s in result.suggestions:
            print(f"LEARNED  {s.script}: {s.example!r}")
        for r in result.refused:
            print(f"REFUSED  {r['text']!r}: {r['why']}")
        for item in held_out:
            print(f"HELD-OUT {'hit ' if is_right(item, after.route(item['text'])) else 'miss'} {item['text']!r} "
                  f"({item['script']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
