"""No process outlives its run: a per-run supervisor that is a child subreaper.

The runner starts every script as `python -I -S bot/reaper.py GRACE PARENT_PID -- argv…` (this file, run
as a plain script: stdlib only, no package import). The supervisor

* makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER): whatever the script leaves behind —
  a background child (`sleep 300 &`), a double fork, a `setsid` child in a session of its own — is
  re-parented to the supervisor, not to init, so the run's processes are exactly the supervisor's
  descendants (found by walking /proc parent links; no guessing, no other run's processes);
* asks to get SIGTERM when the bot dies (prctl PR_SET_PDEATHSIG), however it dies, SIGKILL included;
* runs the script, and when it ends — exit, error, crash — or when the supervisor is told to stop
  (SIGTERM/SIGINT/SIGHUP: a timeout, a shutdown, the bot's death), SIGTERMs every descendant, gives
  them GRACE seconds, SIGKILLs what is left, reaps them all, and only then exits: with the script's
  exit code, or killed by the script's signal, so the runner sees what it would have seen directly.

Why a supervisor per run rather than making the bot itself the subreaper: with several scripts running
at once (the Slack worker pool, the scheduler), orphans re-parented to the bot cannot be told apart by
run, and reaping them would race the bot's own subprocess bookkeeping; a per-run subreaper knows its
run's processes exactly. It also keeps working when the bot is SIGKILLed, which an in-bot reaper cannot.
cgroups would do the same job but are rarely delegated inside containers; prctl needs nothing.
Elsewhere (no prctl or no /proc) the runner falls back to killing the script's process group after
every run (see `available`).
"""

from __future__ import annotations

import _signal as signal  # the C module: no enum import (this file starts once per script run)
import os
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
START_FAILED = 127            # the script could not be executed (the reason is on stderr)
_KILL_DEADLINE_S = 10.0       # a fork bomb cannot keep the supervisor busy for ever


def _libc():
    """prctl from libc through _ctypes: the ctypes package costs more to import than the rest of the
    supervisor's start-up together."""
    try:
        import _ctypes
    except ImportError:
        return None

    class _Int(_ctypes._SimpleCData):
        _type_ = "i"

    class _Function(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = _Int

    class _Libc:
        _handle = _ctypes.dlopen(None, 0)

    try:
        return _Function(("prctl", _Libc()))
    except (AttributeError, OSError):
        return None


_PRCTL: list = []


def _prctl(option: int, value: int) -> bool:
    if not _PRCTL:
        _PRCTL.append(_libc())
    return _PRCTL[0] is not None and _PRCTL[0](option, value, 0, 0, 0) == 0


_AVAILABLE: bool | None = None


def available() -> bool:
    """Linux with /proc and prctl: the supervisor can do its job."""
    global _AVAILABLE
    if _AVAILABLE is None:
        _AVAILABLE = sys.platform.startswith("linux") and os.path.isdir("/proc/self") and _libc() is not None
    return _AVAILABLE


_START = "import sys; sys.path[:0] = [{root!r}]; from bot.reaper import main; sys.exit(main(sys.argv[1:]))"


def supervised_argv(argv: list[str], grace_s: float) -> list[str]:
    """Imported, not run as a file: the module's bytecode is cached, a main script's is not."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [sys.executable, "-I", "-S", "-c", _START.format(root=root), f"{grace_s:g}", str(os.getpid()), "--", *argv]


def _parents() -> dict[int, int]:
    """pid → parent pid of every process, from /proc/<pid>/stat."""
    out: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        out[int(name)] = int(fields[1])
    return out


def descendants(root: int) -> list[int]:
    """Every process below `root` (children, their children, …)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _reap(script: int, status: dict[int, int]) -> bool:
    """Reap every exited child; remember the script's status. False when there are no children left."""
    while True:
        try:
            pid, code = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
        if pid == script:
            status[script] = code


def clear_tree(me: int, script: int, status: dict[int, int], grace_s: float) -> None:
    """SIGTERM every descendant, wait up to `grace_s` for them to go, SIGKILL the rest, reap all."""
    _signal_all(descendants(me), signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    delay = 0.001
    while _reap(script, status) and time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    give_up = time.monotonic() + _KILL_DEADLINE_S
    while time.monotonic() < give_up:
        left = descendants(me)
        _signal_all(left, signal.SIGKILL)
        if not _reap(script, status) and not left:
            return
        time.sleep(0.001)


class _Stop(Exception):
    pass


def main(argv: list[str]) -> int:
    grace_s, parent = float(argv[0]), int(argv[1])
    command = argv[3:]                                   # argv[2] is "--"
    stop_set = set(STOP_SIGNALS)
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_set)   # a stop that comes early waits until the script runs

    def stop(_signum, _frame):
        raise _Stop

    for sig in STOP_SIGNALS:
        signal.signal(sig, stop)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:                           # the bot died before PDEATHSIG was armed
        return START_FAILED
    me, status = os.getpid(), {}
    try:
        script = os.posix_spawn(command[0], command, os.environ, setsigmask=())
    except OSError as exc:
        os.write(2, f"could not start: {exc.strerror}\n".encode())
        return START_FAILED
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_set)
        while script not in status:
            _reap_blocking(script, status)
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_set)   # cleaning up is not interrupted by a signal
    except _Stop:
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_set)
    clear_tree(me, script, status, grace_s)
    code = status.get(script)
    if code is None:
        return START_FAILED
    if os.WIFSIGNALED(code):                             # die the way the script died
        sig = os.WTERMSIG(code)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
        os.kill(me, sig)
    return os.waitstatus_to_exitcode(code) if code >= 0 else START_FAILED


def _reap_blocking(script: int, status: dict[int, int]) -> None:
    """Wait for any child: the script (done) or an orphan the subreaper adopted and that has now exited."""
    pid, code = os.waitpid(-1, 0)
    if pid == script:
        status[script] = code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
