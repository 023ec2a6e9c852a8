"""Run integration scripts the way the runner does: a subprocess, a clean environment, no shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"

# Retries fast in tests; Retry-After values from fakes are still honoured (capped at 2 s).
RETRIES = 3  # _lib's default, stated so tests can count the attempts of an idempotent call
FAST_RETRY_ENV = {"OPSBOT_RETRY_BASE_S": "0.01", "OPSBOT_RETRY_MAX_WAIT_S": "2", "OPSBOT_HTTP_TIMEOUT_S": "3",
                  "OPSBOT_HTTP_RETRIES": str(RETRIES)}


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def script_path(name: str) -> Path:
    service, action = name.split(".", 1)
    return SCRIPTS / service / action


def run_script(name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 30) -> Result:
    """Run `scripts/<service>/<action>` with only PATH/HOME/LANG, the fast-retry knobs and `env`."""
    base = {
        "PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        **FAST_RETRY_ENV,
    }
    proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [str(script_path(name)), *args], env={**base, **(env or {})}, capture_output=True, text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)
