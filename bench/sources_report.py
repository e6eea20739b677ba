"""Summary rows and the section of BENCHMARKS.md for bench.sources: each change source's
cost to the watched application (the median of per-pair throughput ratios, limbo-tui
running / paused, with its 95 % interval; its CPU per 1,000 commits), its latency and
the machine's load while it was measured."""

from __future__ import annotations

from typing import Any

from bench.sources_summary import LABELS, SOURCES, TARGET, TARGET_WORKLOAD, TARGETED, table

FIGURES: tuple[str, ...] = (
    *(f"sources.ratio8@{s}" for s in SOURCES),
    *(f"sources.p99_ms@{s}" for s in SOURCES),
)


def _ratio_text(s: dict[str, Any]) -> str:
    if not s.get("n"):
        return "no pairs"
    return f"{s['median']} [{s['ci'][0]}, {s['ci'][1]}] over {s['n']} pairs"


def rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    res = results.get("sources") or {}
    out: list[dict[str, Any]] = []
    for source, info in (res.get("sources") or {}).items():
        label = LABELS.get(source, source)
        f = (info.get("workloads") or {}).get(TARGET_WORKLOAD) or {}
        ratio = f.get("ratio") or {}
        cost = f.get("cost") or {}
        targeted = source in TARGETED
        loads = f.get("loadavg") or ["?", "?"]
        others = [
            f"{w}: {(g.get('ratio') or {}).get('median')}"
            for w, g in (info.get("workloads") or {}).items()
            if w != TARGET_WORKLOAD
        ]
        out.append(
            {
                "key": f"sources.ratio8@{source}",
                "label": f"app throughput with {label}, 8 durable writers (median of pairs)",
                "value": ratio.get("median"),
                "unit": "ratio",
                "extra": (
                    f"95 % CI {_ratio_text(ratio)}; "
                    f"quieter half {_ratio_text(f.get('quiet') or {})}"
                    f"; limbo-tui {cost.get('limbo_backends_ms_per_1k')} ms (backends) + "
                    f"{cost.get('limbo_process_ms_per_1k')} ms (process) CPU per 1,000 commits"
                    + (f"; other workloads {', '.join(others)}" if others else "")
                    + f"; load avg {loads[0]}..{loads[1]}"
                ),
                "target": f">= {TARGET}" if targeted else "",
                # Met or missed only when the whole interval says so.
                "met": ratio.get("met") if targeted else None,
            }
        )
    for source, info in (res.get("sources") or {}).items():
        lat = info.get("latency") or {}
        f = (info.get("workloads") or {}).get(TARGET_WORKLOAD) or {}
        out.append(
            {
                "key": f"sources.p99_ms@{source}",
                "label": f"commit -> watch output, {LABELS.get(source, source)}",
                "value": lat.get("p99_ms"),
                "unit": "ms p99",
                "extra": (
                    f"median {lat.get('p50_ms')} ms; {lat.get('seen')} of {lat.get('sent')} "
                    f"seen; server CPU {info.get('idle_server_s_per_s')} s/s idle, "
                    f"{f.get('server_cpu_s_per_s')} s/s under 8 writers"
                ),
                "target": "",
                "met": None,
            }
        )
    return out


def details(results: dict[str, Any]) -> list[str]:
    res = results.get("sources")
    if not res or "sources" not in res:
        return []
    workloads = ", ".join(
        "a DBOS application" if w == "dbos" else f"{w} clients" for w in res.get("workloads") or []
    )
    return [
        "## Change sources side by side (the figures)",
        "",
        f"PostgreSQL {res.get('postgres')} of its own with `wal_level = logical`, "
        "`fsync = on`, `synchronous_commit = on`; per source one real `limbo-tui watch "
        f"--json` running throughout, paused (SIGSTOP) and resumed between "
        f"{res.get('seconds')} s phases of pgbench single-row UPDATEs of "
        f"`dbos.workflow_status` ({workloads}), {res.get('rounds')} pairs "
        "per workload in alternating order (A B, B A, ...). Ratio: the median of the "
        "pairs' ratios (running / paused) with a bootstrap 95 % interval, also for the "
        "quieter and the busier half of the pairs (by the cores other people's work took "
        "during the pair: background). limbo-tui's CPU per 1,000 application commits does "
        "not depend on the noise; the CPU-bound floor is the ratio an application bound by "
        "this machine's CPU would keep if it paid all of that CPU itself. Latency on a "
        "quiet database.",
        "",
        table(res),
        "",
    ]


def paste_text(res: dict[str, Any]) -> str:
    """What a focused run changes in BENCHMARKS.md, ready to paste by hand: the sources'
    rows of the summary table, then the section of the figures (the hand-written sections
    around them stay as they are)."""
    from bench.report import _fmt, _mark

    lines = [
        f"| {r['label']} | {_fmt(r['value'])} | {r['unit']} | {r['target']} | "
        f"{_mark(r['met'])} | {r['extra']} |"
        for r in rows({"sources": res})
    ]
    return "\n".join([*lines, "", *details({"sources": res})])
