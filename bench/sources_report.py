"""Summary rows and the section of BENCHMARKS.md for bench.sources: each change source's
cost to the watched application (throughput with / without limbo-tui, alternated in one
run), its latency and its CPU, with the machine's load while it was measured."""

from __future__ import annotations

from typing import Any

# Sources whose cost to the application has the >= 0.95 target at 8 writers; NOTIFY's
# ratio is printed beside them (the consent dialog quotes it).
TARGETED = ("poll", "logical", "logical-pub")
TARGET = 0.95
FIGURES: tuple[str, ...] = (
    *(f"sources.ratio8@{s}" for s in ("poll", "logical", "logical-pub", "notify")),
    *(f"sources.p99_ms@{s}" for s in ("poll", "logical", "logical-pub", "notify")),
)


def rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    from bench.sources import LABELS, WRITERS

    res = results.get("sources") or {}
    out: list[dict[str, Any]] = []
    for source, info in (res.get("sources") or {}).items():
        label = LABELS.get(source, source)
        ratio = info.get("ratio") or {}
        r8 = ratio.get("8")
        targeted = source in TARGETED
        loads = info.get("loadavg") or ["?", "?"]
        out.append(
            {
                "key": f"sources.ratio8@{source}",
                "label": f"app throughput with {label}, 8 durable writers",
                "value": r8,
                "unit": "ratio",
                "extra": (
                    f"1 / 8 / 32 writers: {' / '.join(str(ratio.get(str(w))) for w in WRITERS)}"
                    f"; per pair at 8: {', '.join(str(x) for x in info['pair_ratios']['8'])}"
                    f"; load avg {loads[0]}..{loads[1]}"
                ),
                "target": f">= {TARGET}" if targeted else "",
                "met": (r8 >= TARGET) if targeted and r8 is not None else None,
            }
        )
    for source, info in (res.get("sources") or {}).items():
        lat = info.get("latency") or {}
        out.append(
            {
                "key": f"sources.p99_ms@{source}",
                "label": f"commit -> watch output, {LABELS.get(source, source)}",
                "value": lat.get("p99_ms"),
                "unit": "ms p99",
                "extra": (
                    f"median {lat.get('p50_ms')} ms; {lat.get('seen')} of {lat.get('sent')} "
                    f"seen; server CPU {info.get('idle_server_s_per_s')} s/s idle, "
                    f"{(info.get('load_server_s_per_s') or {}).get('8')} s/s under 8 writers"
                ),
                "target": "",
                "met": None,
            }
        )
    return out


def details(results: dict[str, Any]) -> list[str]:
    from bench.sources import table

    res = results.get("sources")
    if not res or "sources" not in res:
        return []
    return [
        "## Change sources side by side (the figures)",
        "",
        f"PostgreSQL {res.get('postgres')} of its own with `wal_level = logical`, `fsync = on`, "
        "`synchronous_commit = on`; pgbench single-row UPDATEs of `dbos.workflow_status` "
        f"from 1, 8 and 32 clients, {res.get('seconds')} s each; per source {res.get('rounds')} "
        "pair(s) of phases without and with a real `limbo-tui watch --json` on it, "
        "alternated (A B, then B A). CPU in s/s: limbo-tui's backends (server time) and the "
        "limbo-tui process, idle and under 8 writers. Latency on a quiet database.",
        "",
        table(res),
        "",
    ]
