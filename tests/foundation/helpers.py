"""Build small throw-away registries (YAML + executable scripts) for foundation tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml


def write_script(root: Path, name: str, body: str) -> Path:
    """scripts/<service>/<action> as an executable Python file."""
    service, action = name.split(".", 1)
    path = root / "scripts" / service / action
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/usr/bin/env python3\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


def write_registry(root: Path, scripts: list[dict], file: str = "test.yaml", jobs: list[dict] | None = None) -> Path:
    reg = root / "registry"
    reg.mkdir(parents=True, exist_ok=True)
    data: dict = {"scripts": [{"side_effects": "read", **s} for s in scripts]}   # the registry requires it
    if jobs is not None:
        data["jobs"] = jobs
    (reg / file).write_text(yaml.safe_dump(data, sort_keys=False))
    return reg


ECHO_ARGS = """
import json, os, sys
print(json.dumps({"argv": sys.argv[1:], "env": sorted(os.environ)}))
"""
