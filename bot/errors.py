"""One line, never a traceback, for configuration and environment faults: a BOT_HOME that cannot hold
the ledger, a missing or invalid file a setting names, a file that is not UTF-8, a full disk, a ledger
locked past its busy timeout, a NUL byte where the OS allows none. `describe` says what happened and
what to do, with exit code 2 for configuration (fix a setting or a file) and 1 for the environment
(try again once the disk or the other process is dealt with)."""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_FAIL, EXIT_CONFIG = 1, 2
log = logging.getLogger(__name__)

_HOME_REASONS = {
    errno.EEXIST: "is a file, not a directory", errno.ENOTDIR: "is not a directory (a file is in the way)",
    errno.EACCES: "is not writable (permission denied)", errno.EPERM: "is not writable (operation not permitted)",
    errno.EROFS: "is on a read-only file system", errno.ENOENT: "cannot be created (a parent directory is missing)",
}


@dataclass
class Fault:
    line: str                      # for the operator: names the setting, file or path
    exit_code: int
    public: str = "the bot is misconfigured; an admin has to fix it"   # for chat: no paths

    def __post_init__(self) -> None:
        self.line = " ".join(self.line.split())     # a YAML error's caret diagram, folded into the line

    def __str__(self) -> str:
        return self.line


def _within(path: Path, other: Path) -> bool:
    try:
        path.resolve().relative_to(other.resolve())
        return True
    except (ValueError, OSError):
        return False


def describe(exc: BaseException, settings: Any = None) -> Fault | None:
    """The one-line account of a known fault (None for anything else: a bug, worth its traceback)."""
    home = Path(settings.bot_home) if settings is not None else None
    ledger = f" {home / 'ledger.db'}" if home is not None else ""
    name = type(exc).__name__
    if name in ("ConfigError", "PricingError"):        # bot.config, bot.pricing: their messages name the setting
        return Fault(str(exc), EXIT_CONFIG)
    if isinstance(exc, sqlite3.Error):
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            return Fault(f"the ledger{ledger} is locked by another process and stayed locked past the busy "
                         "timeout; try again in a moment", EXIT_FAIL, "my ledger is busy; try again in a moment")
        if "full" in text:
            return Fault(f"the disk holding the ledger{ledger} is full; free some space and try again", EXIT_FAIL,
                         "my disk is full; an admin has to free some space")
        if "readonly" in text or "read-only" in text:
            return Fault(f"BOT_HOME {home}: the ledger{ledger} is read-only; make it writable", EXIT_CONFIG)
        if "unable to open" in text:
            return Fault(f"BOT_HOME {home}: cannot open the ledger{ledger} (is the directory writable?)", EXIT_CONFIG)
        if "not a database" in text or "malformed" in text:
            return Fault(f"BOT_HOME {home}: the ledger{ledger} is not a usable SQLite database ({exc})", EXIT_CONFIG)
        return Fault(f"the ledger{ledger}: {exc}", EXIT_FAIL)
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return Fault(f"{exc.filename or 'a file'}: the disk is full; free some space and try again", EXIT_FAIL,
                         "my disk is full; an admin has to free some space")
        where = Path(exc.filename) if exc.filename else None
        if home is not None and where is not None and (_within(where, home) or _within(home, where)):
            reason = _HOME_REASONS.get(exc.errno, f"cannot be used ({exc.strerror})")
            subject = "" if where.resolve() == home.resolve() else f" ({where})"
            return Fault(f"BOT_HOME {home}{subject} {reason}; set BOT_HOME to a writable directory", EXIT_CONFIG)
        return Fault(f"{exc.filename or 'a file'}: {exc.strerror or exc}", EXIT_FAIL)
    if isinstance(exc, UnicodeDecodeError):
        return Fault(f"a file is not UTF-8 text ({exc.reason} at byte {exc.start})", EXIT_CONFIG)
    if isinstance(exc, ValueError) and "null byte" in str(exc):
        return Fault("text with a NUL byte cannot be passed on (arguments, paths, settings)", EXIT_CONFIG,
                     "a NUL byte cannot be passed to a script")
    return None


def unreadable(exc: Exception) -> str:
    """Why a YAML file could not be loaded, for a registry problem line."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    if isinstance(exc, OSError):
        return f"cannot be read: {exc.strerror}"
    return f"not valid YAML: {exc}"


def check_home(settings: Any) -> Fault | None:
    """Before the bot starts: can BOT_HOME hold the ledger? (SQLite opens a read-only file without
    complaint and fails at the first write, in the middle of someone's request.)"""
    home = Path(settings.bot_home)
    if home.exists() and not home.is_dir():
        return Fault(f"BOT_HOME {home} {_HOME_REASONS[errno.EEXIST]}; set BOT_HOME to a writable directory",
                     EXIT_CONFIG)
    for path in (home / "ledger.db", home / "ledger.db-wal", home / "ledger.db-shm"):
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            return Fault(f"BOT_HOME {home}: {path} is read-only; make it writable", EXIT_CONFIG)
    if home.is_dir() and not os.access(home, os.W_OK | os.X_OK):
        return Fault(f"BOT_HOME {home} {_HOME_REASONS[errno.EACCES]}; set BOT_HOME to a writable directory",
                     EXIT_CONFIG)
    return None


def quietly(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Bookkeeping after the answer went out (e.g. the reply's ts): a known fault is logged in one line
    instead of turning a delivered answer into a failure. False when it failed."""
    try:
        fn(*args, **kwargs)
        return True
    except Exception as exc:
        if type(exc).__name__ == "NotFoundError":       # sqlite_utils: the request itself was never recorded
            log.info("%s: no such row (the request was not recorded)", getattr(fn, "__name__", "bookkeeping"))
            return False
        if (fault := describe(exc)) is None:
            raise
        log.error("%s failed: %s", getattr(fn, "__name__", "bookkeeping"), fault)
        return False


def for_user(fault: Fault) -> str:
    """What the person who asked is told when the bot itself is in trouble."""
    return f":warning: I can't answer right now: {fault.public}."
