"""4. Cost to the monitored application: DBOS throughput with and without limbo-tui.

One DBOS 3.x application process runs thousands of small workflows (two steps each:
one workflow_status insert, two operation_outputs inserts, one status update) from
THREADS threads, in timed phases, all in the same run and the same process:
  off   no limbo-tui triggers;
  on    limbo-tui's NOTIFY triggers installed (nobody listening);
  live  triggers installed and a limbo-tui (LimboApp headless + LiveFeed) watching,
        as a separate process on the same 2-core machine.
Phases alternate (off on live / live on off / ...) so that drift hits all of them alike;
each ratio is on/off (or live/off) within one repetition, then summarised over them.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from bench.common import BenchServer, log, set_triggers, spread

THREADS = 8


def run_dbos_app(url: str, plan: list[str], seconds: float, threads: int) -> dict[str, Any]:
    """In the app process: launch DBOS, run each phase, return workflows/s per phase."""
    from dbos import DBOS

    from bench.live import Monitor
    from limbo_tui.urls import sqlalchemy_url

    @DBOS.step()
    def add_one(x: int) -> int:
        return x + 1

    @DBOS.workflow()
    def small(x: int) -> int:
        return add_one(add_one(x))

    DBOS(
        config={
            "name": "bench-app",
            "system_database_url": sqlalchemy_url(url),
            "log_level": "WARNING",
            "executor_id": "bench-app",
            "application_version": "bench-v1",
        }
    )
    DBOS.launch()
    phases: list[dict[str, Any]] = []
    try:
        for phase in plan:
            set_triggers(url, phase in ("on", "live"))
            monitor = None
            if phase == "live":
                monitor = Monitor(url, base=2**62)
                monitor.start()
                time.sleep(0.3)
            done = [0] * threads
            stop_at = time.perf_counter() + (1.0 if phase == "warmup" else seconds)

            def loop(k: int, done: list[int] = done, stop_at: float = stop_at) -> None:
                i = 0
                while time.perf_counter() < stop_at:
                    small(k * 1_000_000 + i)
                    i += 1
                done[k] = i

            t0 = time.perf_counter()
            workers = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            elapsed = time.perf_counter() - t0
            if monitor is not None:
                monitor.stop()
            phases.append({"phase": phase, "workflows": sum(done), "per_s": sum(done) / elapsed})
    finally:
        DBOS.destroy()
    return {"phases": phases}


def run(bs: BenchServer, quick: bool) -> dict[str, Any]:
    import json

    from bench.common import run_child

    db = bs.fresh_database("app_cost")
    url = bs.url(db)
    reps = 1 if quick else 3
    seconds = 1.0 if quick else 4.0
    orders = (["off", "on", "live"], ["live", "on", "off"])
    plan = ["warmup"]
    for r in range(reps):
        plan += orders[r % 2]
    res = run_child(
        [
            "dbosapp",
            "--url",
            url,
            "--plan",
            json.dumps(plan),
            "--seconds",
            str(seconds),
            "--threads",
            str(THREADS),
        ],
        timeout=120 + len(plan) * (seconds + 15),
    )
    phases = [p for p in res["phases"] if p["phase"] != "warmup"]
    by_rep = [phases[i : i + 3] for i in range(0, len(phases), 3)]
    ratios_on, ratios_live = [], []
    rates: dict[str, list[float]] = {"off": [], "on": [], "live": []}
    for rep in by_rep:
        r = {p["phase"]: p["per_s"] for p in rep}
        for k, v in r.items():
            rates[k].append(v)
        ratios_on.append(r["on"] / r["off"])
        ratios_live.append(r["live"] / r["off"])
    out = {
        "threads": THREADS,
        "phase_s": seconds,
        "reps": reps,
        "workflows_per_s": {k: spread(v, 1) for k, v in rates.items()},
        "ratio_triggers": spread(ratios_on, 3),
        "ratio_triggers_and_monitor": spread(ratios_live, 3),
        "phases": res["phases"],
    }
    log(
        f"app cost: off {out['workflows_per_s']['off']['median']} wf/s, ratio triggers "
        f"{out['ratio_triggers']['median']}, with monitor "
        f"{out['ratio_triggers_and_monitor']['median']}"
    )
    bs.drop_database(db)
    return out
