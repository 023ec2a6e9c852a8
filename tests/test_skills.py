"""The shipped skills: valid front matter, real scripts, useful bodies, lazy in the prompt."""

from __future__ import annotations

import pytest

from bot.config import PROJECT_ROOT
from bot.prompts import index_text
from bot.registry import load_registry
from bot.tiers.draft_implement import split_stages

REQUIRED = {
    "thread-summary": "direct", "incident-summary": "direct", "postmortem-draft": "direct",
    "release-notes": "direct", "standup-digest": "direct", "revenue-report": "direct",
    "company-research": "direct", "customer-reply": "direct", "code-review": "premium",
    "debug-helper": "premium", "blog-post": "pipeline", "landing-page": "pipeline",
}

REGISTRY = load_registry(PROJECT_ROOT / "registry", PROJECT_ROOT / "skills", PROJECT_ROOT / "scripts",
                         check_paths=False)
SKILLS = REGISTRY.skills


def test_at_least_twelve_skills_including_the_required_ones() -> None:
    assert len(SKILLS) >= 12
    assert {name: SKILLS[name].tier for name in REQUIRED if name in SKILLS} == REQUIRED
    problems = [p for p in REGISTRY.problems if p.file.startswith("skills/")]
    assert problems == []


@pytest.mark.parametrize("name", sorted(SKILLS))
def test_skill_body_has_steps_template_and_checks(name: str) -> None:
    skill = SKILLS[name]
    body = skill.body()
    assert not body.startswith("---") and len(body) > 600
    assert "## Quality checks" in body
    if skill.tier == "pipeline":
        stage1, stage2 = split_stages(body)
        assert "## Stage 1" in stage1 and "## Stage 2" not in stage1 and "Quality checks" in stage1
        assert "## Stage 2" in stage2 and "## Stage 1" not in stage2 and "Quality checks" in stage2
    else:
        assert "## Steps" in body and "## Output template" in body
    for script in skill.scripts:
        assert script in REGISTRY.scripts, f"{name} names unknown script {script}"


def test_uses_the_named_services() -> None:
    assert any(s.startswith("github.") for s in SKILLS["release-notes"].scripts)
    assert any(s.startswith("stripe.") for s in SKILLS["revenue-report"].scripts)
    assert "stripe.refund" not in SKILLS["revenue-report"].scripts


def test_index_lists_skills_by_one_line_and_never_bodies() -> None:
    index = index_text(REGISTRY)
    for skill in SKILLS.values():
        assert f"\n{skill.name}" in index
        assert skill.body()[:80] not in index
