"""Cold and warm start of the embedded PostgreSQL server, side by side in one run.

cold: a new data dir (initdb + start); warm: an existing data dir (start only);
reuse: a second limbo-tui attaching to a running server.
Run: uv run python bench/embedded_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from limbo_tui.pg.embedded import EmbeddedServer


def _shared_tmp() -> Path:
    path = Path(tempfile.mkdtemp(prefix="limbo-tui-bench-"))
    path.chmod(0o755)  # as root the server's own user must be able to enter it
    return path


def measure(runs: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"cold": [], "warm": [], "reuse": []}
    for _ in range(runs):
        base = _shared_tmp()
        try:
            server = EmbeddedServer(base / "pg")
            t0 = time.perf_counter()
            server.ensure_running()
            out["cold"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            EmbeddedServer(base / "pg").ensure_running()
            out["reuse"].append(time.perf_counter() - t0)
            server.stop()
            t0 = time.perf_counter()
            server.ensure_running()
            out["warm"].append(time.perf_counter() - t0)
            server.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = measure(args.runs)
    summary = {
        name: {
            "median_s": round(statistics.median(v), 4),
            "max_s": round(max(v), 4),
            "min_s": round(min(v), 4),
        }
        for name, v in results.items()
    }
    summary["warm_over_cold"] = {
        "ratio": round(summary["warm"]["median_s"] / summary["cold"]["median_s"], 3)
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    for name, s in summary.items():
        print(f"{name:15} {s}")


if __name__ == "__main__":
    main()
