"""`bot manifest`: the app manifest for Socket Mode (default) or HTTP mode."""

from __future__ import annotations

import json

import yaml

from bot.cli import main
from bot.slack.manifest import build_manifest


def test_socket_mode_manifest_has_what_the_bot_listens_to(capsys):
    assert main(["manifest"]) == 0
    manifest = yaml.safe_load(capsys.readouterr().out)
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True and settings["interactivity"] == {"is_enabled": True}
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_mention", "message.channels", "message.groups", "message.im", "message.mpim", "reaction_added"}
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/run", "/ops"]
    assert all("url" not in c for c in manifest["features"]["slash_commands"])
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "commands", "im:history", "reactions:read", "reactions:write",
            "files:write", "usergroups:read", "channels:history"} <= scopes
    assert manifest["features"]["bot_user"]["display_name"] == "opsbot"


def test_http_manifest_points_everything_at_the_request_url(capsys):
    url = "https://opsbot.example.com/slack/events"
    assert main(["manifest", "--request-url", url, "--name", "ops", "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest == build_manifest("ops", request_url=url)
    assert manifest["settings"]["socket_mode_enabled"] is False
    assert manifest["settings"]["event_subscriptions"]["request_url"] == url
    assert manifest["settings"]["interactivity"]["request_url"] == url
    assert {c["url"] for c in manifest["features"]["slash_commands"]} == {url}
