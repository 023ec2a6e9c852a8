"""What the LLM tiers may use of the bot, and nothing more: the orchestrator and its tiers get a `Services`
built by `OpsBot` (bot/pipeline.py), never the bot itself, so they cannot reach the front ends, the
confirmations store or the runner directly, and the pipeline does not import them back.

Scripts a model asks for go through `run_script`: the pipeline's own script tier (ACL of the requesting
user → confirmation for writes → runner → ledger), so a model-proposed write still waits for its
requester's Confirm, exactly as on every other path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.ledger import Ledger
    from bot.memory import MemoryStore
    from bot.redact import Redactor
    from bot.registry import Registry, ScriptEntry
    from bot.request import Incoming, Reply
    from bot.vocab import DecidedBy


class RunScript(Protocol):
    """`OpsBot.execute_script` as the tiers see it: there is no way to say "already confirmed"."""

    def __call__(self, incoming: Incoming, request_id: str, entry: ScriptEntry, args: dict[str, Any], *,
                 decided_by: DecidedBy) -> Reply: ...


@dataclass(frozen=True)
class Services:
    settings: Settings
    registry: Registry
    ledger: Ledger
    redactor: Redactor
    memory: MemoryStore | None
    run_script: RunScript
    closest_scripts: Callable[[str], list[str]]     # names near a mistyped one, for the model's retry
