"""Secret redaction for everything the bot logs, stores, replies or sends to a model."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

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


class Redactor:
    """Replaces known secret values and token-shaped strings with a marker."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: set[str] = {s for s in secrets if s and len(s) >= _MIN_SECRET_LEN}
        self._compiled: re.Pattern[str] | None = None

    def add(self, *secrets: str | None) -> None:
        new = {s for s in secrets if s and len(s) >= _MIN_SECRET_LEN} - self._secrets
        if new:
            self._secrets |= new
            self._compiled = None

    def _known(self) -> re.Pattern[str] | None:
        if self._compiled is None and self._secrets:
            # Longest first so a secret containing another is removed whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._compiled = re.compile("|".join(re.escape(s) for s in ordered))
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
