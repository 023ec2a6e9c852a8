"""`--name value` flags from /run, `run NAME …` and `bot run` → raw script arguments, strictly.

- a flag given twice is an error (`--port 22 --port 23`), never "last one wins", unless the registry
  declares the arg `repeatable: true` (then every value is kept, in order);
- a flag that expects a value must get one: `--name --help` is an error, not a query for "--help".
  A value that really looks like a flag is written `--name=--help` (negative numbers are fine as they are);
- only `--name value`, `--name=value` and bare `--flag` for booleans.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

_FLAG = re.compile(r"--[A-Za-z][\w-]*(?:=.*)?|-[A-Za-z]")


def looks_like_flag(token: str) -> bool:
    """`--help`, `--name=x`, `-h`: a flag, not a value (`-5`, `-rf /` and `--` are values)."""
    return bool(_FLAG.fullmatch(token))


class FlagsOf(Protocol):
    """What parsing needs of a script entry (bot.entries.ScriptEntry, which calls parse_flags)."""

    name: str

    def arg(self, name: str) -> Any: ...

    def help_text(self) -> str: ...


def parse_flags(entry: FlagsOf, tokens: list[str]) -> dict[str, Any]:
    from bot.problems import ArgError

    def fail(message: str) -> ArgError:
        return ArgError(message, entry.help_text())

    raw: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) == 2:
            raise fail(f"unexpected {token!r}: arguments are --name value")
        name, eq, inline = token[2:].partition("=")
        spec = entry.arg(name)
        if spec is None:
            raise fail(f"unknown argument --{name} for {entry.name}")
        if spec.name in raw and not spec.repeatable:
            raise fail(f"--{spec.name} is given more than once; give it once")
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if eq:
            value: Any = inline
        elif spec.type == "bool" and (following is None or following.startswith("--")):
            value = True
        elif following is None:
            raise fail(f"--{name} needs a value")
        elif looks_like_flag(following):
            raise fail(f"--{name} needs a value, but got the flag {following!r} "
                       f"(write --{name}={following} if that is the value)")
        else:
            i += 1
            value = following
        if spec.repeatable:
            raw.setdefault(spec.name, []).append(value)
        else:
            raw[spec.name] = value
        i += 1
    return raw
