"""`python -m bench --quick` runs end to end and reports every figure of issue #6.

One test per group of benchmarks, so that a parallel run spreads them over its workers;
together they cover every figure of bench.report. A group shares one bench process and
its server (scale and idle also a database): latency, throughput and app_cost (about ten
seconds of CPU each, of which the server's start takes three) are one group.
Timing is not asserted (a noisy 2-core CI machine): only that each benchmark ran and
produced its figure. The timeout only stops a hung bench; it is no claim about speed.
The bench starts its own private PostgreSQL server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg_support import shared_tmp

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # bench/ is a top-level package beside limbo_tui/
    sys.path.insert(0, str(REPO))

from bench.__main__ import ALL  # noqa: E402
from bench.report import FIGURES  # noqa: E402

GROUPS = ("startup", "scale,idle", "latency,throughput,app_cost", "sources")


def test_the_groups_cover_every_benchmark() -> None:
    # The real-terminal bench has a test of its own (test_bench_terminal_smoke.py).
    assert sorted(b for g in GROUPS for b in g.split(",")) == sorted(set(ALL) - {"terminal"})


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("group", GROUPS)
def test_bench_quick_reports_every_figure(group: str, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    command = [sys.executable, "-m", "bench", "--quick", "--no-write", "--only", group]
    # The bench's temp dirs in a root of their own: none is left when it ends.
    tmp_root = shared_tmp("limbo-tui-bench-tmp-")
    env = {**os.environ, "TMPDIR": str(tmp_root)}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [*command, "--json", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1100,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list(tmp_root.iterdir()) == []
    assert out.exists(), proc.stdout[-3000:]
    results = json.loads(out.read_text())
    errors = {k: v["error"] for k, v in results.items() if isinstance(v, dict) and "error" in v}
    assert not errors
    names = group.split(",")
    figures = [key for key in FIGURES if key.split(".")[0] in names]
    assert figures, f"no figure belongs to {group}"
    summary = results["summary"]
    if summary.get("throughput.max_sustained_per_s") == 0:
        # A loaded machine may absorb no rate at all: a true figure, with no CPU "at it".
        figures.remove("throughput.cpu_percent_at_max")
    missing = [key for key in figures if summary.get(key) is None]
    assert not missing, f"figures without a value: {missing}"
    assert set(results["machine"]) >= {"date", "cpu", "cores", "postgres"}
