"""docs/ARCHITECTURE.md stays true: every module it names exists, and every module in bot/ is named."""

from __future__ import annotations

import re

from bot.config import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "ARCHITECTURE.md"
BOT = PROJECT_ROOT / "bot"
NAMED = re.compile(r"([\w/]+\.py|[\w]+/)(?=[`,\s)])")


def named_paths(text: str) -> set[str]:
    """bot-relative paths the page names: `slack/bot.py`, `bot/ledger/`, `jobs/`, `pipeline.py`…"""
    out = set()
    for found in NAMED.findall(text):
        path = found.removeprefix("bot/")
        if path and not path.startswith(("tests/", "docs/", "registry/", "scripts/", "skills/")):
            out.add(path)
    return out


def test_every_module_the_page_names_exists() -> None:
    text = DOC.read_text()
    missing = []
    for path in named_paths(text):
        candidates = [BOT / path, *(p for p in BOT.rglob(path.rstrip("/")) if "__pycache__" not in p.parts)]
        if not any(c.exists() for c in candidates):
            missing.append(path)
    assert not missing, f"docs/ARCHITECTURE.md names modules that do not exist: {sorted(missing)}"


def test_every_module_in_bot_is_on_the_page() -> None:
    text = DOC.read_text()
    packages = {p.parent.name for p in BOT.rglob("__init__.py") if p.parent != BOT}
    unnamed = []
    for path in sorted(BOT.rglob("*.py")):
        rel = path.relative_to(BOT)
        if rel.name in ("__init__.py", "__main__.py") or "__pycache__" in rel.parts:
            continue
        if rel.parts[0] in packages:            # a package is named as a whole (`jobs/`, `ledger/`, …)
            if f"{rel.parts[0]}/" not in text:
                unnamed.append(str(rel))
            continue
        if f"`{rel.name}`" not in text and str(rel) not in text:
            unnamed.append(str(rel))
    assert not unnamed, f"modules missing from docs/ARCHITECTURE.md: {unnamed}"
