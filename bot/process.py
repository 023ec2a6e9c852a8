"""Naming a process for good: a pid is reused, a pid plus its start time on this boot is not."""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_identity(pid: int) -> str | None:
    """The boot id and the process's start time (clock ticks since boot), from /proc: together they name
    one process for good, since a reused pid has another start time. None when the process is gone (or
    a zombie), or where there is no /proc."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()       # after "pid (comm)": state is field 3, starttime 22
    if fields[0] in ("Z", "X"):
        return None
    return f"{boot}:{fields[19]}"


@cache
def this_worker() -> str:
    """`pid@identity@host` of this process, recorded on the requests it handles."""
    return f"{os.getpid()}@{process_identity(os.getpid()) or 'unknown'}@{socket.gethostname()}"


def worker_alive(worker: str) -> bool:
    """Whether the process that recorded `worker` (see this_worker) still runs. Only a process on this
    host can be judged from /proc: a replica on another machine (a shared PostgreSQL ledger) is not ours
    to judge (its own restart closes its requests)."""
    pid, _, rest = worker.partition("@")
    identity, _, host = rest.partition("@")
    if not pid.isdigit() or (host and host != socket.gethostname()):
        return True                                      # not ours to judge
    if identity == "unknown":
        return pid_alive(int(pid))
    return process_identity(int(pid)) == identity
