"""What the registry reports: a bad script argument (ArgError) and a problem in a registry file (Problem).

Apart from bot.registry so the modules it uses (argument parsing, cross-checks) can raise and report
them without importing the registry back.
"""

from __future__ import annotations

from dataclasses import dataclass


class ArgError(ValueError):
    """A bad script argument; `usage` is the script's help to show the user."""

    def __init__(self, message: str, usage: str = ""):
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class Problem:
    file: str
    entry: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.entry}: {self.field}: {self.message}"
