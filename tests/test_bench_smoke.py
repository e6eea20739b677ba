"""`python -m bench --quick` runs end to end and reports every figure of issue #6.

Timing is not asserted (a noisy 2-core CI machine); only that each benchmark ran and
produced its figure. The bench starts its own private PostgreSQL server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(240)
def test_bench_quick_reports_every_figure(tmp_path: Path) -> None:
    if str(REPO) not in sys.path:  # bench/ is a top-level package beside limbo_tui/
        sys.path.insert(0, str(REPO))
    from bench.__main__ import ALL
    from bench.report import FIGURES

    out = tmp_path / "results.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        # The real-terminal bench has a test of its own (test_bench_terminal_smoke.py).
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--no-write",
            "--json",
            str(out),
            "--only",
            ",".join(b for b in ALL if b != "terminal"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=230,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    errors = {k: v["error"] for k, v in results.items() if isinstance(v, dict) and "error" in v}
    assert not errors
    figures = [key for key in FIGURES if not key.startswith("terminal.")]
    missing = [key for key in figures if results["summary"].get(key) is None]
    assert not missing, f"figures without a value: {missing}"
    assert set(results["machine"]) >= {"date", "cpu", "cores", "postgres"}
