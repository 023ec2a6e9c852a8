"""The Slack app manifest: scopes, events, slash commands, interactivity, Socket Mode (or HTTP URLs).

Paste the output of `bot manifest` into https://api.slack.com/apps → Create New App → From a manifest.
"""

from __future__ import annotations

from typing import Any

BOT_SCOPES = [
    "app_mentions:read",     # app_mention events
    "channels:history",      # message.channels: follow-ups in threads the bot is part of; thread context
    "groups:history",        # the same in private channels
    "im:history",            # message.im: direct messages
    "im:read",
    "im:write",
    "mpim:history",          # group DMs
    "chat:write",            # replies, ephemeral prompts
    "commands",              # /run and /ops
    "reactions:read",        # 👍/👎 feedback
    "reactions:write",       # the ⏳ progress reaction
    "files:write",           # long output as a file
    "usergroups:read",       # registry `allowed.groups`
    "users:read",
    "channels:read",         # the slack.* scripts: conversations.list (slack.channels, channel names)
    "groups:read",
    "users:read.email",      # slack.user-lookup: users.lookupByEmail
]
BOT_EVENTS = ["app_mention", "message.channels", "message.groups", "message.im", "message.mpim", "reaction_added"]
COMMANDS = [
    ("/run", "Run an opsbot script", "<script> [--arg value …]"),
    ("/ops", "opsbot: scripts, jobs, health, stats, help", "scripts [service] | jobs | health | stats | help"),
]


def build_manifest(name: str = "opsbot", *, request_url: str | None = None,
                   description: str = "Chat-ops on the cheapest tier that can answer") -> dict[str, Any]:
    """Socket Mode when `request_url` is None; otherwise HTTP mode with every URL set to it
    (e.g. https://opsbot.example.com/slack/events)."""
    socket_mode = request_url is None
    commands = []
    for command, desc, hint in COMMANDS:
        entry: dict[str, Any] = {"command": command, "description": desc, "usage_hint": hint,
                                 "should_escape": False}
        if not socket_mode:
            entry["url"] = request_url
        commands.append(entry)
    events: dict[str, Any] = {"bot_events": list(BOT_EVENTS)}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if not socket_mode:
        events["request_url"] = request_url
        interactivity["request_url"] = request_url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {"name": name, "description": description[:140], "background_color": "#2c2d30"},
        "features": {
            "app_home": {"home_tab_enabled": False, "messages_tab_enabled": True,
                         "messages_tab_read_only_enabled": False},
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": commands,
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }
