"""`bot replay` and `bot learn`: the learning loop from the terminal."""

from __future__ import annotations

import json
import sys

from bot.config import Settings


def _since(text: str):
    from bot.stats import parse_since

    try:
        return parse_since(text)
    except ValueError as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return None


def _registry(settings: Settings):
    from bot.registry import load_registry

    return load_registry(settings.bot_registry, settings.bot_skills, settings.bot_scripts, check_paths=False)


def cmd_replay(args, settings: Settings, console) -> int:
    from bot.ledger import Ledger
    from bot.replay import replay

    since = _since(args.since)
    if since is None:
        return 2
    result = replay(Ledger(settings.ledger_target), _registry(settings), since)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return 0
    print(f"{result.requests} requests since {since:%Y-%m-%d %H:%M} UTC re-routed under today's registry: "
          f"{len(result.changes)} would change, {result.now_zero_token} now at 0 tokens, "
          f"{len(result.regressions)} possible regressions")
    for change in result.changes:
        flag = f"  ⚠ {change.regression}" if change.regression else ""
        print(f"  {change.past.id}  {change.past.was} → {change.now}  {change.past.text!r}{flag}")
    return 0


def learn_now(settings: Settings, ledger, registry, since, *, skipped=frozenset()):
    from bot.learning import corpus_dir, learn, load_corpus

    return learn(ledger, registry, since, corpus=load_corpus(corpus_dir(settings.bot_registry)), skipped=skipped)


def cmd_learn(args, settings: Settings, console) -> int:
    from bot.learned import LearnedWriteError
    from bot.learning import apply
    from bot.ledger import Ledger

    since = _since(args.since)
    if since is None:
        return 2
    registry = _registry(settings)
    ledger = Ledger(settings.ledger_target)
    from bot.learn_ops import skipped_in
    from bot.learning import corpus_dir

    result = learn_now(settings, ledger, registry, since, skipped=skipped_in(ledger))
    added = 0
    if args.apply and result.suggestions:
        try:
            added = apply(settings.bot_registry, result.suggestions)
        except LearnedWriteError as exc:
            print(f"bot: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        print(f"{result.candidates} candidate requests: {len(result.suggestions)} suggestions, "
              f"{len(result.refused)} refused")
        if corpus_dir(settings.bot_registry) is None:
            print("  (no labelled corpus found next to the registry: the corpus check was skipped)")
        for s in result.suggestions:
            print(f"  + {s.script}: {s.example!r}  (support {s.support})")
        for r in result.refused:
            print(f"  - {r['text']!r}: {r['why']}")
    if args.apply:
        where = settings.bot_registry / "learned.yaml"
        print(f"wrote {added} new example(s) to {where}" if added else f"nothing new to write to {where}",
              file=sys.stderr if args.json else sys.stdout)
    return 0


def add_commands(subparsers) -> None:
    replay = subparsers.add_parser("replay", help="re-route past requests under today's registry (0 tokens)")
    replay.add_argument("--since", default="7d", help="how far back (30m, 24h, 7d; default 7d)")
    replay.add_argument("--json", action="store_true")
    replay.set_defaults(func=cmd_replay)

    learn = subparsers.add_parser("learn", help="suggest phrasings the orchestrator answered with one read script")
    learn.add_argument("--since", default="30d", help="how far back (default 30d)")
    learn.add_argument("--json", action="store_true")
    learn.add_argument("--apply", action="store_true", help="write the suggestions to learned.yaml in the registry")
    learn.set_defaults(func=cmd_learn)
