"""Runs registry scripts: validated argv, no shell, a minimal environment, a process group, a timeout,
capped and redacted output, exit codes mapped to messages a person understands."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from bot import reaper
from bot.entries import ScriptEntry
from bot.ledger import Ledger
from bot.redact import Redactor, secret_values_from_env
from bot.registry import Registry

log = logging.getLogger(__name__)

BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
KILL_GRACE_S = 2.0
TRUNCATION_MARK = "\n…[output truncated at {cap} bytes]"

# Exit code → (status, what to tell the person). The script's own stderr line follows.
EXIT_MEANINGS = {
    0: ("ok", ""),
    2: ("usage", "bad arguments"),
    3: ("config", "missing credentials or configuration"),
    4: ("upstream_error", "the service returned an error"),
    5: ("upstream_timeout", "the service did not answer in time"),
}


@dataclass
class ScriptResult:
    script: str
    args: dict[str, Any]
    exit_code: int | None
    status: str                  # ok | usage | config | upstream_error | upstream_timeout | timeout | error
    stdout: str
    stderr: str
    duration_ms: float
    truncated: bool = False
    output_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def message(self, entry: ScriptEntry | None = None) -> str:
        """The reply for a person: the output when it worked, otherwise what went wrong and what to do."""
        if self.ok:
            return self.stdout.strip() or "_(no output)_"
        detail = _last_line(self.stderr).removeprefix(f"{self.script}: ")
        if self.status == "timeout":
            return f"`{self.script}` took longer than {self.extra.get('timeout_s', '?')}s and was stopped."
        if self.status == "usage":
            usage = f"\nusage: `{entry.usage()}`" if entry else ""
            return f"`{self.script}`: {detail or 'bad arguments'}{usage}"
        if self.status == "config":
            return f"`{self.script}` is not configured: {detail or 'missing credentials'}"
        if self.status == "upstream_error":
            service = self.script.split(".", 1)[0]
            return f"{service.capitalize()} API error in `{self.script}`: {detail or 'no details'}"
        if self.status == "upstream_timeout":
            return f"`{self.script}`: {detail or 'the service did not answer in time'}"
        return f"`{self.script}` failed (exit {self.exit_code}): {detail or 'no details'}"


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_pid(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip() and not line.startswith("usage:")]
    return lines[-1][:400] if lines else ""


class _CappedReader(threading.Thread):
    """Drains a pipe so the child never blocks, keeping only the first `cap` bytes."""

    def __init__(self, stream: IO[bytes], cap: int):
        super().__init__(daemon=True)
        self.stream, self.cap = stream, cap
        self.chunks: list[bytes] = []
        self.kept = 0
        self.total = 0

    def run(self) -> None:
        for chunk in iter(lambda: self.stream.read1(65536), b""):
            self.total += len(chunk)
            if self.kept < self.cap:
                piece = chunk[: self.cap - self.kept]
                self.chunks.append(piece)
                self.kept += len(piece)
        self.stream.close()

    @property
    def truncated(self) -> bool:
        return self.total > self.kept

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", "replace")


class Runner:
    def __init__(self, registry: Registry, ledger: Ledger | None = None, *, output_cap: int = 64 * 1024,
                 environ: dict[str, str] | None = None, redactor: Redactor | None = None):
        self.registry = registry
        self.ledger = ledger
        self.output_cap = output_cap
        self.environ = dict(os.environ if environ is None else environ)
        self.redactor = redactor or Redactor()
        self.redactor.add(*secret_values_from_env(self.environ))
        for entry in registry.scripts.values():     # every configured service's Basic credentials
            self.redactor.add_credentials(*(self.environ.get(name) for name in (*entry.env, *entry.env_optional)))

    def child_env(self, entry: ScriptEntry) -> dict[str, str]:
        """Only what the entry names, its <SERVICE>_API_URL, and a minimal PATH/HOME/LANG."""
        env = {
            "PATH": os.path.dirname(sys.executable) + os.pathsep + BASE_PATH,
            "HOME": self.environ.get("HOME", "/tmp"),
            "LANG": self.environ.get("LANG", "C.UTF-8"),
        }
        for name in (*entry.env, *entry.env_optional, entry.api_url_var):
            if self.environ.get(name):
                env[name] = self.environ[name]
        return env

    def run(self, entry: ScriptEntry, args: dict[str, Any], *, request_id: str | None = None,
            job_run_id: int | None = None, json_output: bool = False,
            timeout_s: float | None = None, on_start: Callable[[int], None] | None = None) -> ScriptResult:
        """Run a script with already-validated args (see ScriptEntry.validate_args).

        `on_start(pid)` is called once the script's process (and its process group, same id) exists."""
        timeout = timeout_s or entry.timeout_s
        argv = [str(self.registry.script_path(entry)), *entry.to_argv(args)]
        if json_output:
            argv.append("--json")
        if any("\x00" in part for part in argv):       # the OS cannot pass it: a usage error, not a crash
            result = ScriptResult(entry.name, args, None, "usage", "", f"{entry.name}: an argument contains a NUL "
                                  "byte", 0.0)
            return self._record(result, request_id, job_run_id)
        env = self.child_env(entry)
        self.redactor.add(*(env[name] for name in entry.env if name in env))
        supervised = reaper.available()
        if supervised:                  # a subreaper per run: see bot/reaper.py
            argv = reaper.supervised_argv(argv, KILL_GRACE_S)
        started = time.monotonic()
        exit_code: int | None
        try:
            proc = subprocess.Popen(  # noqa: S603 - argv list, never a shell
                argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True, cwd=str(self.registry.scripts_dir),
            )
        except OSError as exc:
            result = ScriptResult(entry.name, args, None, "error", "", f"could not start: {exc.strerror}",
                                  0.0)
            return self._record(result, request_id, job_run_id)
        out_reader = _CappedReader(proc.stdout, self.output_cap)
        err_reader = _CappedReader(proc.stderr, self.output_cap)
        out_reader.start()
        err_reader.start()
        if on_start is not None:
            try:
                on_start(proc.pid)
            except Exception:
                log.exception("script %s: on_start callback failed", entry.name)
        timed_out = False
        try:
            exit_code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            exit_code = self._stop(proc, supervised)
        except BaseException:           # interrupted (Ctrl-C, shutdown): the run's processes go with it
            self._stop(proc, supervised)
            raise
        finally:
            if not supervised:          # the supervisor cleared its tree; without one, at least the group
                _signal_group(proc.pid, signal.SIGKILL)
        out_reader.join(KILL_GRACE_S)
        err_reader.join(KILL_GRACE_S)
        duration_ms = (time.monotonic() - started) * 1000

        stdout = self.redactor(out_reader.text())
        stderr = self.redactor(err_reader.text())
        truncated = out_reader.truncated
        if truncated:
            stdout += TRUNCATION_MARK.format(cap=self.output_cap)
        if timed_out:
            status = "timeout"
        else:
            status = EXIT_MEANINGS.get(exit_code, ("error", ""))[0]
        result = ScriptResult(entry.name, args, exit_code, status, stdout, stderr, duration_ms, truncated,
                              out_reader.total, {"timeout_s": timeout})
        return self._record(result, request_id, job_run_id)

    @classmethod
    def _stop(cls, proc: subprocess.Popen, supervised: bool) -> int | None:
        """Stop a run: the supervisor SIGTERMs, waits and SIGKILLs every process of the run, then exits.
        Should it not exit in time, SIGKILL it and everything below it."""
        if not supervised:
            return cls._kill_group(proc)
        try:
            proc.send_signal(signal.SIGTERM)
            return proc.wait(timeout=2 * KILL_GRACE_S + 1)
        except subprocess.TimeoutExpired:
            left = reaper.descendants(proc.pid)
            _signal_group(proc.pid, signal.SIGKILL)
            for pid in left:
                _signal_pid(pid, signal.SIGKILL)
            return cls._kill_group(proc)

    @staticmethod
    def _kill_group(proc: subprocess.Popen) -> int | None:
        """SIGTERM the script's whole process group, then SIGKILL whatever is left of the group
        (children that ignored SIGTERM or outlived the script would otherwise keep running)."""
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            code = proc.wait(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            code = None
        _signal_group(proc.pid, signal.SIGKILL)
        if code is None:
            try:
                code = proc.wait(timeout=KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                log.error("script process %s survived SIGKILL", proc.pid)
        return code

    def _record(self, result: ScriptResult, request_id: str | None, job_run_id: int | None) -> ScriptResult:
        if result.status != "ok":
            log.warning("script %s ended %s (exit %s): %s", result.script, result.status, result.exit_code,
                        _last_line(result.stderr))
        if self.ledger is not None:
            self.ledger.record_script_run(
                script=result.script, args=self.redactor.value(result.args), exit_code=result.exit_code,
                status=result.status, duration_ms=round(result.duration_ms, 1),
                output_bytes=result.output_bytes, truncated=result.truncated,
                error=None if result.ok else _last_line(result.stderr)[:500] or result.status,
                request_id=request_id, job_run_id=job_run_id,
            )
        return result
