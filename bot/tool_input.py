"""Reading the orchestrator tools' inputs: a mistake the model can correct is a BadInput."""

from __future__ import annotations

from typing import Any


class BadInput(ValueError):
    """A tool call the model can correct: the message goes back as an error tool result."""


def required_text(data: dict[str, Any], key: str, what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f'"{key}" is required: {what}.')
    return value.strip()


def name_list(raw: Any, key: str) -> list[str]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        raw = [s.strip() for s in raw.split(",") if s.strip()]
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        raise BadInput(f'"{key}" must be a list of names.')
    return [n.strip() for n in raw if n.strip()]
