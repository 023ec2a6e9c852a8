"""Shared helper for opsbot's integration scripts (stdlib only).

A script does:

    import os, sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), ".."))
    from _lib import ApiClient, Script  # noqa: E402

    script = Script("github.open-prs", "List open pull requests.", env=["GITHUB_TOKEN"])
    script.arg("--repo", help="owner/name", env_default="GITHUB_REPO", required=True)

    @script.main
    def run(args, out):
        gh = ApiClient.for_service("github", "https://api.github.com", bearer=script.env("GITHUB_TOKEN"))
        ...
        out.text(...); out.data(...)

Exit codes (the script contract): 0 ok · 2 bad arguments · 3 missing credentials/config ·
4 upstream API error · 5 upstream timeout.
"""

from _lib.cli import MissingConfig, Output, Script, UsageError
from _lib.fmt import ago, bullet_list, escape, human_bytes, iso, money, more_line, parse_time, span, table
from _lib.http import ApiClient, ApiError, UpstreamTimeout

__all__ = [
    "ApiClient", "ApiError", "MissingConfig", "Output", "Script", "UpstreamTimeout", "UsageError",
    "ago", "bullet_list", "escape", "human_bytes", "iso", "money", "more_line", "parse_time", "span", "table",
]
