"""Benchmark: time from a start command to the ready banner, idle memory, time to stop.

    python -m bench.startup                      # `make run` (installs what is missing first)
    python -m bench.startup --command ".venv/bin/callcenter run"

Prints the figures; not a test. Run from the repository root, as root. Nothing else may use the
demo ports (5060, 5038, 8080) meanwhile.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def controller_pid(root_pid: int) -> int:
    """The python process under `make` (or the command itself)."""
    out = subprocess.run(["pgrep", "-f", "callcenter.*run", "-P", str(root_pid)], capture_output=True, text=True)
    kids = [int(p) for p in out.stdout.split()]
    return controller_pid(kids[0]) if kids else root_pid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--command", default="make run")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds to idle before reading memory")
    args = parser.parse_args()

    t0 = time.monotonic()
    proc = subprocess.Popen(shlex.split(args.command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "callcenter is running" in line:
            break
    else:
        raise SystemExit("never became ready:\n" + "".join(lines[-30:]))
    ready = time.monotonic() - t0
    asterisk_pid = int(re.search(r"pid (\d+)", line).group(1))  # type: ignore[union-attr]
    time.sleep(args.idle)
    ctl = controller_pid(proc.pid)
    ctl_rss, ast_rss = rss_mib(ctl), rss_mib(asterisk_pid)
    t1 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=60)
    stopped = time.monotonic() - t1
    left = Path(f"/proc/{asterisk_pid}").exists()
    print(f"command             {args.command}")
    print(f"time to ready       {ready:.2f} s")
    print(f"idle RSS            controller {ctl_rss:.1f} MiB, Asterisk {ast_rss:.1f} MiB (after {args.idle:g} s idle)")
    print(f"time to stop        {stopped:.2f} s; Asterisk left running: {'YES' if left else 'no'}")


if __name__ == "__main__":
    main()
