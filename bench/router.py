"""Pre-router benchmark on the labelled corpus in bench/corpus/*.yaml.

Prints: zero-token share of script-intended requests, wrong-script count (a script run for a
request that wanted another script, other args, or the orchestrator), and p50/p99 decision
latency with the full registry loaded. Targets: ≥ 90 % zero-token, 0 wrong, p99 < 5 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.registry import load_registry  # noqa: E402
from bot.router import PreRouter  # noqa: E402


def load_corpus(folder: Path) -> list[dict]:
    items = []
    for path in sorted(folder.glob("*.yaml")):
        for item in yaml.safe_load(path.read_text()) or []:
            items.append({**item, "file": path.name})
    return items


def args_match(expected: dict | None, got: dict) -> bool:
    return all(str(got.get(k.replace("_", "-"))) == str(v) for k, v in (expected or {}).items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", "-v", action="store_true", help="list every miss and wrong decision")
    parser.add_argument("--repeat", type=int, default=20, help="timing passes over the corpus")
    opts = parser.parse_args()

    registry = load_registry(ROOT / "registry", check_paths=False)
    router = PreRouter(registry)
    corpus = load_corpus(ROOT / "bench" / "corpus")
    unknown = [c for c in corpus if c.get("script") and c["script"] not in registry.scripts]

    intended = [c for c in corpus if c.get("script")]
    handoffs = [c for c in corpus if not c.get("script")]
    hits, misses, wrong = [], [], []
    for item in corpus:
        decision = router.route(item["text"])
        ran = decision.script if decision.tier == "script" and not decision.error else None
        expected = item.get("script")
        if ran is None:
            (misses if expected else hits).append((item, decision))
        elif ran == expected and args_match(item.get("args"), decision.args):
            hits.append((item, decision))
        else:
            wrong.append((item, decision))

    latencies = []
    texts = [c["text"] for c in corpus]
    for _ in range(opts.repeat):
        for text in texts:
            started = time.perf_counter()
            router.route(text)
            latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]

    zero_token = sum(1 for item, _ in hits if item.get("script"))
    share = zero_token / len(intended) if intended else 0.0
    print(f"scripts registered:            {len(registry.scripts)}")
    print(f"corpus:                        {len(corpus)} requests ({len(intended)} script-intended, "
          f"{len(handoffs)} for the orchestrator)")
    print(f"zero-token share (intended):   {share:.1%}  ({zero_token}/{len(intended)})   target ≥ 90%")
    print(f"wrong scripts:                 {len(wrong)}   target 0")
    print(f"handed off correctly:          {sum(1 for i, _ in hits if not i.get('script'))}/{len(handoffs)}")
    print(f"decision latency:              p50 {p50:.3f} ms · p99 {p99:.3f} ms   target p99 < 5 ms")
    if unknown:
        print(f"corpus names unknown scripts:  {sorted({c['script'] for c in unknown})}")
    if opts.verbose or wrong:
        for item, decision in wrong:
            print(f"WRONG  {item['text']!r}: expected {item.get('script')} {item.get('args') or ''}, "
                  f"got {decision.script} {decision.args} ({decision.reason})")
    if opts.verbose:
        for item, decision in misses:
            print(f"MISS   {item['text']!r}: expected {item['script']}, {decision.reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
