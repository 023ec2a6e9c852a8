"""A throw-away PostgreSQL server for tests and benchmarks: initdb + pg_ctl in a temporary folder, bound
to 127.0.0.1 on a free port, trust authentication, removed on stop.

    with TempPostgres() as pg:          # raises PostgresUnavailable (say why) when it cannot start
        url = pg.create_database("opsbot")   # postgresql://postgres@127.0.0.1:PORT/opsbot

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user (its folder is
handed to that user). Binaries: PATH first, then Debian's /usr/lib/postgresql/<version>/bin.
Used by the ledger tests' fixture and by bench/replicas.py.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

TOOLS = ("initdb", "pg_ctl", "createdb")
FAST = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")   # tests: nothing to keep after a crash


class PostgresUnavailable(Exception):
    """PostgreSQL cannot be started here; the message says why in one line (use it as a skip reason)."""


def find_bin() -> Path:
    """The folder with initdb, pg_ctl and createdb, or PostgresUnavailable."""
    found = shutil.which("pg_ctl")
    candidates = [Path(found).parent] if found else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version(p.parent.name),
                         reverse=True)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in TOOLS):
            return folder
    raise PostgresUnavailable("no PostgreSQL binaries (initdb, pg_ctl, createdb) on PATH or in "
                              "/usr/lib/postgresql/*/bin")


def _version(name: str) -> float:
    try:
        return float(name)
    except ValueError:
        return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TempPostgres:
    def __init__(self, *, fast: bool = True, settings: tuple[str, ...] = ()):
        self.bin = find_bin()
        self.settings = (FAST if fast else ()) + tuple(settings)
        self.user = None
        if os.geteuid() == 0:
            try:
                import pwd

                pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable("running as root and there is no `postgres` user to run the server as") \
                    from None
            self.user = "postgres"
        self.port = 0
        self.folder: Path | None = None

    @property
    def data(self) -> Path:
        assert self.folder is not None
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
        result = subprocess.run(argv, user=self.user, cwd=self.folder, capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()
            raise PostgresUnavailable(f"{Path(argv[0]).name} failed: {last[-1] if last else result.returncode}")
        return result

    def start(self) -> TempPostgres:
        # As root the server runs as `postgres`, which must reach the folder: /tmp, whatever TMPDIR says.
        parent = "/tmp" if self.user and os.path.isdir("/tmp") else None
        self.folder = Path(tempfile.mkdtemp(prefix="opsbot-pg-", dir=parent))
        if self.user:
            shutil.chown(self.folder, self.user, self.user)
        try:
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-sync", "--no-instructions")
            for attempt in range(3):             # the free port may be taken between finding and binding it
                self.port = free_port()
                options = " ".join([f"-p {self.port}", "-c listen_addresses=127.0.0.1",
                                    f"-c unix_socket_directories={self.folder}",
                                    *(f"-c {setting}" for setting in self.settings)])
                try:
                    self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"),
                              "-o", options, "-w", "-t", "30", "start")
                    break
                except PostgresUnavailable:
                    if attempt == 2:
                        raise PostgresUnavailable(f"pg_ctl start failed: {self.log_tail()}") from None
        except BaseException:
            self.stop()
            raise
        return self

    def create_database(self, name: str) -> str:
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def log_tail(self, lines: int = 1) -> str:
        path = self.folder / "server.log" if self.folder else None
        if path is None or not path.is_file():
            return "(no server log)"
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])

    def stop(self) -> None:
        if self.folder is None:
            return
        if (self.data / "postmaster.pid").exists():
            subprocess.run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                           user=self.user, cwd=self.folder, capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
