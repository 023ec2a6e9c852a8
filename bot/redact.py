"""Secret redaction for everything the bot logs, stores, replies or sends to a model."""

from __future__ import annotations

import base64
import itertools
import os
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"

# Token shapes of the services we talk to, plus generic bearer/basic credentials.
TOKEN_PATTERNS = [
    r"xox[abprsuoe]-[A-Za-z0-9-]{8,}",          # Slack bot/user/app tokens
    r"xapp-[0-9]-[A-Za-z0-9-]{8,}",             # Slack app-level token
    r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}",  # Stripe keys
    r"whsec_[A-Za-z0-9]{8,}",                   # Stripe webhook secret
    r"sk-ant-[A-Za-z0-9_-]{8,}",                # Anthropic
    r"gh[pousr]_[A-Za-z0-9]{20,}",              # GitHub tokens
    r"github_pat_[A-Za-z0-9_]{20,}",
    r"glpat-[A-Za-z0-9_-]{16,}",                # GitLab
    r"AKIA[0-9A-Z]{16}",                        # AWS access key id
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JWTs (Supabase keys)
    r"SK[0-9a-fA-F]{32}",                       # Twilio API key
    r"sntrys_[A-Za-z0-9_=+/-]{16,}",            # Sentry
    r"(?<=[Bb]earer )[A-Za-z0-9._~+/=-]{16,}",
    r"(?<=[Bb]asic )[A-Za-z0-9+/=]{16,}",
]
_TOKEN_RE = re.compile("|".join(f"(?:{p})" for p in TOKEN_PATTERNS))

# Environment variables whose values are secrets wherever they appear.
SECRET_NAME_RE = re.compile(r"(?i)(TOKEN|SECRET|PASSWORD|API_KEY|SERVICE_KEY|AUTH|PRIVATE|CREDENTIAL)")
_MIN_SECRET_LEN = 6


def secret_values_from_env(env: dict[str, str] | None = None, names: Iterable[str] = ()) -> set[str]:
    """Values of env vars that look secret by name, plus those explicitly named."""
    env = os.environ if env is None else env
    wanted = set(names)
    return {
        value
        for key, value in env.items()
        if value and len(value) >= _MIN_SECRET_LEN and (key in wanted or SECRET_NAME_RE.search(key))
    }


def encoded_forms(secret: str) -> set[str]:
    """How a secret shows up in URLs and form bodies: percent-encoded (a `+` for a space too)."""
    return {quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)} - {secret}


def basic_forms(user: str, secret: str) -> set[str]:
    """HTTP Basic credentials of `user:secret` as they appear in a header or an echo of it: base64 (and
    its URL-safe variant), with and without padding."""
    raw = f"{user}:{secret}".encode()
    forms = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return forms | {f.rstrip("=") for f in forms}


def credential_forms(values: Iterable[str]) -> set[str]:
    """The Basic forms of every user:secret pair among the values a service is configured with (e.g.
    JIRA_EMAIL:JIRA_API_TOKEN, TWILIO_ACCOUNT_SID:TWILIO_AUTH_TOKEN), and of each alone as a user with an
    empty password or a password with an empty user (Stripe's `sk_…:`)."""
    values = sorted({v for v in values if v})
    forms: set[str] = set()
    for user, secret in itertools.permutations(values, 2):
        forms |= basic_forms(user, secret)
    for value in values:
        forms |= basic_forms(value, "") | basic_forms("", value)
    return forms


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex for many literal strings, shaped as a trie: at each position the engine follows one
    branch instead of trying hundreds of alternatives (secrets × their encoded forms stay cheap), and
    the longest match wins, so a secret containing another is removed whole."""
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict) -> str:
        ends = "" in node
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends else body

    return build(trie)


class Redactor:
    """Replaces known secret values and token-shaped strings with a marker."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: set[str] = set()
        self._compiled: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Secret values, with their URL-encoded forms."""
        wanted = {s for s in secrets if s and len(s) >= _MIN_SECRET_LEN}
        for secret in list(wanted):
            wanted |= encoded_forms(secret)
        new = wanted - self._secrets
        if new:
            self._secrets |= new
            self._compiled = None

    def add_credentials(self, *values: str | None) -> None:
        """The values one service is configured with: their Basic-credential forms are secrets too."""
        new = {f for f in credential_forms(v for v in values if v) if len(f) >= _MIN_SECRET_LEN} - self._secrets
        if new:
            self._secrets |= new
            self._compiled = None

    def _known(self) -> re.Pattern[str] | None:
        if self._compiled is None and self._secrets:
            self._compiled = re.compile(_trie_pattern(self._secrets))
        return self._compiled

    def __call__(self, text: str | None) -> str:
        if not text:
            return text or ""
        known = self._known()
        if known is not None:
            text = known.sub(REDACTED, text)
        return _TOKEN_RE.sub(REDACTED, text)

    def value(self, obj):
        """Redact strings inside nested dicts/lists (for args and JSON payloads)."""
        if isinstance(obj, str):
            return self(obj)
        if isinstance(obj, dict):
            return {k: self.value(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.value(v) for v in obj]
        return obj


_default: Redactor | None = None


def default_redactor() -> Redactor:
    """Process-wide redactor seeded with the secret-looking variables of this environment."""
    global _default
    if _default is None:
        _default = Redactor(secret_values_from_env())
    return _default


def redact(text: str | None) -> str:
    return default_redactor()(text)
