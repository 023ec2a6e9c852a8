"""GitHub REST v3 helpers for the github.* scripts: client, repo names, Link-header pagination.

Only the github scripts import this module.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from _lib.cli import Script, UsageError
from _lib.fmt import link, one_line  # noqa: F401  (re-exported for the github scripts)
from _lib.http import ApiClient, ApiError, Response, link_header_next

API_URL = "https://api.github.com"
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
PER_PAGE = 100          # GitHub's maximum page size
MAX_PAGES = 10          # full listings stop after 1,000 items (then "…and N+ more")

_REPO_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9_.-]{1,100}$")


class GitHubClient(ApiClient):
    """ApiClient with GitHub's error semantics made clearer.

    GitHub answers an exhausted rate limit with 403 (not 429), which the generic client would
    report as "credentials rejected"; a 404 is also what a token that cannot see a private repo gets.
    """

    def request(self, method: str, path: str, **kwargs: Any) -> Response:
        try:
            return super().request(method, path, **kwargs)
        except ApiError as exc:
            if exc.status == 404 and "/repos/" in exc.call:
                raise ApiError(self.service, exc.call, 404,
                               f"{exc.detail} (is the repo name right, and can GITHUB_TOKEN see it?)") from None
            raise


def client(script: Script) -> GitHubClient:
    return GitHubClient.for_service("github", API_URL, bearer=script.env("GITHUB_TOKEN"), headers=HEADERS)


def normalize_repo(value: str | None) -> str:
    """'acme/web', 'https://github.com/acme/web.git' or 'github.com/acme/web/' → 'acme/web'."""
    text = (value or "").strip()
    text = re.sub(r"^(?:https?://)?(?:www\.)?github\.com/", "", text)
    text = text.removesuffix("/").removesuffix(".git")
    if not _REPO_RE.match(text):
        raise UsageError(f"--repo must look like owner/name (got {value!r})")
    return text


def repo_path(repo: str, *parts: str | int) -> str:
    """'/repos/owner/name/…' with every segment URL-quoted."""
    owner, name = repo.split("/", 1)
    segments = [owner, name, *(str(p) for p in parts)]
    return "/repos/" + "/".join(urllib.parse.quote(s, safe="") for s in segments)


def collect(gh: ApiClient, path: str, params: dict[str, Any] | None = None, *,
            items=lambda body: body, keep=lambda item: True,
            max_pages: int = MAX_PAGES) -> tuple[list[Any], bool]:
    """Every item across Link-header pages (up to max_pages). Returns (items, truncated)."""
    found: list[Any] = []
    current, current_params = path, {"per_page": PER_PAGE, **(params or {})}
    for _ in range(max_pages):
        response = gh.request("GET", current, params=current_params)
        body = response.json()
        found.extend(item for item in (items(body) or []) if keep(item))
        following = link_header_next(response, body)
        if not following:
            return found, False
        current, current_params = following, {}
    return found, True


def more_text(shown: int, total: int, truncated: bool) -> str | None:
    """'…and N more' (or 'N+ more' when the listing was cut at MAX_PAGES)."""
    if total <= shown:
        return None
    return f"…and {total - shown}{'+' if truncated else ''} more"
