"""Summary rows of bench.real_terminal (issue #16's targets), each with the machine's load
while it was measured; latencies as ratios to the floor listener of the same run."""

from __future__ import annotations

from typing import Any

FIGURES: tuple[str, ...] = (
    "terminal.watch_p99_ms@1000",
    "terminal.screen_p99_ms@100",
    "terminal.screen_p99_ms@1000",
    "terminal.screen_p99_ms@dbos",
    "terminal.idle_cpu_pct",
    "terminal.warm_first_frame_s",
    "terminal.backlog_first_paint_s",
    "terminal.backlog_rss_mb",
    "terminal.backlog_idle_cpu_pct",
    "terminal.backlog_filter_ms",
    "terminal.backlog_totals_on_screen",
)


def _load(d: dict[str, Any] | None) -> str:
    load = (d or {}).get("load") or {}
    return (
        f"load: {load.get('busy_pct_of_all_cores')}% of {load.get('cores')} cores busy, "
        f"loadavg {load.get('loadavg_1m')}"
    )


def _run(results: dict[str, Any], mode: str, rate: float) -> dict[str, Any]:
    for r in results.get("latency") or []:
        if r.get("mode") == mode and float(r.get("target_per_s") or 0) == rate:
            return dict(r)
    return {}


def rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    t = results.get("terminal") or {}
    out: list[dict[str, Any]] = []

    def add(key: str, label: str, value: Any, unit: str, extra: str, target: str,
            met: bool | None) -> None:  # fmt: skip
        out.append(
            {"key": key, "label": label, "value": value, "unit": unit, "extra": extra,
             "target": target, "met": met}
        )  # fmt: skip

    def latency(key: str, label: str, run: dict[str, Any], what: str, limit: float,
                ratio_limit: float | None) -> None:  # fmt: skip
        d = run.get(f"{what}_ms") or {}
        f = run.get("floor_ms") or {}
        p99, ratio = d.get("p99"), run.get(f"{what}_p99_over_floor")
        met = None if p99 is None else p99 < limit
        if met is not None and ratio_limit is not None:
            met = met and ratio is not None and ratio <= ratio_limit
        target = f"p99 < {limit:g} ms" + (f", <= {ratio_limit:g}x floor" if ratio_limit else "")
        add(
            key,
            label,
            p99,
            "ms p99",
            f"median {d.get('median')} ms; floor p99 {f.get('p99')} ms (x{ratio}); "
            f"{run.get('achieved_per_s')}/s achieved by {run.get('writers')} writer "
            f"processes; {_load(run)}",
            target,
            met,
        )

    latency("terminal.watch_p99_ms@1000", "commit -> watch --json at 1,000/s",
            _run(t, "update", 1000.0), "watch", 20.0, 10.0)  # fmt: skip
    latency("terminal.screen_p99_ms@100", "commit -> real terminal at 100/s",
            _run(t, "update", 100.0), "screen", 100.0, None)  # fmt: skip
    latency("terminal.screen_p99_ms@1000", "commit -> real terminal at 1,000/s",
            _run(t, "update", 1000.0), "screen", 150.0, None)  # fmt: skip
    latency("terminal.screen_p99_ms@dbos", "DBOS-shaped workflow -> real terminal",
            _run(t, "dbos", 50.0), "screen", 150.0, None)  # fmt: skip
    idle = t.get("idle") or {}
    cpu = idle.get("cpu_pct_of_a_core")
    add("terminal.idle_cpu_pct", "idle TUI CPU (small database)", cpu, "% of a core",
        f"over {idle.get('seconds')} s; RSS {idle.get('rss_mb')} MB; {_load(idle)}",
        "< 3%", None if cpu is None else cpu < 3.0)  # fmt: skip
    st = t.get("startup_warm") or {}
    ff = (st.get("first_frame_s") or {}).get("median")
    add("terminal.warm_first_frame_s", "warm start to first frame (--worker none)", ff, "s",
        f"p99 {(st.get('first_frame_s') or {}).get('p99')} s; to LIVE "
        f"{(st.get('live_s') or {}).get('median')} s; {st.get('runs')} runs; {_load(st)}",
        "< 0.7 s", None if ff is None else ff < 0.7)  # fmt: skip
    b = t.get("backlog") or {}
    db = t.get("backlog_database") or {}
    size = f"{db.get('workflow_rows', 0):,} rows + {b.get('enqueued', 0):,} ENQUEUED"
    fp = b.get("first_paint_s")
    add("terminal.backlog_first_paint_s", f"first paint from exec, {size}", fp, "s",
        f"header: {b.get('header')}; {_load(b)}", "< 2 s",
        None if fp is None else fp < 2.0)  # fmt: skip
    rss = b.get("rss_mb")
    add("terminal.backlog_rss_mb", f"memory, {size}", rss, "MB RSS", _load(b), "< 300 MB",
        None if rss is None else rss < 300)  # fmt: skip
    ic = b.get("idle_cpu_pct_of_a_core")
    add("terminal.backlog_idle_cpu_pct", f"idle TUI CPU, {size}", ic, "% of a core",
        _load(b), "< 3%", None if ic is None else ic < 3.0)  # fmt: skip
    fm = b.get("filter_ms")
    add("terminal.backlog_filter_ms", f"`/` filter result, {size}", fm, "ms",
        f"typed text arrived whole: {b.get('filter_text_whole')}; {_load(b)}", "< 100 ms",
        None if fm is None else fm < 100 and bool(b.get("filter_text_whole")))  # fmt: skip
    tos = b.get("totals_on_screen")
    add("terminal.backlog_totals_on_screen", f"true totals on screen, {size}", tos, "",
        "the header's count of ENQUEUED >= the backlog", "shown",
        None if tos is None else bool(tos))  # fmt: skip
    return out
