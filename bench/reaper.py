"""What the per-run supervisor (bot/reaper.py) costs, and what it buys.

Prints p50/p95 wall time of a trivial script run through the Runner with the supervisor and with the
plain process group (the fallback where prctl is unavailable), and how many processes each leaves
behind after runs whose scripts leave a background child, a setsid child and a double fork.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import reaper  # noqa: E402
from bot.registry import load_registry  # noqa: E402
from bot.runner import Runner  # noqa: E402

RUNS = 30
TOKEN = f"{4000 + os.getpid() % 1000}.4242"
SCRIPTS = {
    "bench.trivial": "echo ok\n",
    "bench.leaky": f"sleep {TOKEN} &\nsetsid sleep {TOKEN} &\n"
                   f"python3 -c 'import os\nif os.fork()==0:\n os.setsid()\n if os.fork()==0: os.execvp(\"sleep\",[\"sleep\",\"{TOKEN}\"])\n'\n",
}


def leftovers() -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if TOKEN.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                    found.append(int(name))
            except OSError:
                pass
    return found


def main() -> None:
    if not reaper.available():
        print("reaper: prctl or /proc unavailable here; the runner uses the process-group fallback")
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, body in SCRIPTS.items():
            path = root / "scripts" / "bench" / name.split(".")[1]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("#!/bin/sh\n" + body)
            path.chmod(0o755)
        (root / "registry").mkdir()
        (root / "registry" / "bench.yaml").write_text(yaml.safe_dump(
            {"scripts": [{"name": n, "summary": n, "side_effects": "read"} for n in SCRIPTS]}))
        registry = load_registry(root / "registry")
        runner = Runner(registry, environ={"PATH": os.environ["PATH"]})
        for mode in ("supervised", "process group only"):
            reaper._AVAILABLE = mode == "supervised"
            times = []
            for _ in range(RUNS):
                started = time.perf_counter()
                runner.run(registry.scripts["bench.trivial"], {})
                times.append((time.perf_counter() - started) * 1000)
            for _ in range(5):
                runner.run(registry.scripts["bench.leaky"], {})
            time.sleep(0.2)
            left = leftovers()
            times.sort()
            print(f"{mode:>20}: trivial script p50 {statistics.median(times):6.1f} ms · "
                  f"p95 {times[int(len(times) * 0.95) - 1]:6.1f} ms · leftovers after 5 leaky runs: {len(left)}")
            for pid in left:
                os.kill(pid, 9)
        reaper._AVAILABLE = None


if __name__ == "__main__":
    main()
