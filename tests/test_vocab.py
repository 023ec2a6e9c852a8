"""Every tier, decided_by and outcome the code writes or compares against is a word of bot/vocab.py.

Static (ast) over bot/, so a new word used anywhere (a keyword argument, `finish_request(id, "…")`, a
comparison such as `reply.outcome == "…"`, an SQL literal `outcome = '…'`) fails here until it is
added to the vocabulary, where it is documented.
"""

from __future__ import annotations

import ast
import re
from typing import get_args

from bot.config import PROJECT_ROOT
from bot.entries import SkillEntry
from bot.ledger import OUTCOMES as LEDGER_OUTCOMES
from bot.vocab import DECIDED_BY, OUTCOMES, TIERS

WORDS = {"tier": set(TIERS), "decided_by": set(DECIDED_BY), "outcome": set(OUTCOMES)}
SQL = re.compile(r"\b(outcome|tier|decided_by)\s*=\s*'([a-z_-]+)'")


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for elt in node.elts for s in _strings(elt)]
    return []


def _field(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and node.attr in WORDS:
        return node.attr
    if isinstance(node, ast.Name) and node.id in WORDS:
        return node.id
    return None


def used_words() -> list[tuple[str, str, str]]:
    """(field, word, where) for every literal use in bot/."""
    found = []
    for path in sorted((PROJECT_ROOT / "bot").rglob("*.py")):
        where = str(path.relative_to(PROJECT_ROOT))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                callee = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if callee == "RouteDecision":      # the pre-router's own "script" | "orchestrator"
                    continue
                for kw in node.keywords:
                    if kw.arg in WORDS:
                        found += [(kw.arg, s, f"{where}:{node.lineno}") for s in _strings(kw.value)]
                if callee == "finish_request" and len(node.args) >= 2:
                    found += [("outcome", s, f"{where}:{node.lineno}") for s in _strings(node.args[1])]
            elif isinstance(node, ast.Compare) and (field := _field(node.left)):
                for comparator in node.comparators:
                    found += [(field, s, f"{where}:{node.lineno}") for s in _strings(comparator)]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                found += [(m[0], m[1], f"{where}:{node.lineno}") for m in SQL.findall(node.value)]
    return found


def test_every_word_in_use_is_in_the_vocabulary() -> None:
    uses = used_words()
    assert {field for field, _, _ in uses} == set(WORDS), "the scan found no uses: it checks nothing"
    unknown = [(f, w, where) for f, w, where in uses if w not in WORDS[f]]
    assert not unknown, f"not in bot/vocab.py: {unknown}"


def test_the_ledger_and_the_registry_use_the_vocabulary() -> None:
    assert LEDGER_OUTCOMES == OUTCOMES
    assert set(get_args(SkillEntry.model_fields["tier"].annotation)) <= set(TIERS)
