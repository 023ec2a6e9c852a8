"""`bot manifest`: print the Slack app manifest (YAML, or JSON with --json)."""

from __future__ import annotations

import json

import yaml

from bot.slack.manifest import build_manifest


def cmd_manifest(args, settings, console) -> int:
    manifest = build_manifest(args.name, request_url=args.request_url)
    if args.json:
        print(json.dumps(manifest, indent=2, ensure_ascii=False))
    else:
        print(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True), end="")
    return 0


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser("manifest", help="print the Slack app manifest (paste it into api.slack.com/apps)")
    parser.add_argument("--name", default="opsbot", help="app and bot user name (default: opsbot)")
    parser.add_argument("--request-url", metavar="URL",
                        help="HTTP mode: https://HOST/slack/events for events, commands and interactivity "
                             "(default: Socket Mode, no public URL)")
    parser.add_argument("--json", action="store_true", help="JSON instead of YAML")
    parser.set_defaults(func=cmd_manifest)
