"""bench.sources' phases -> each change source's figures and the side-by-side table.

Per workload (pgbench clients, or the DBOS application): the median of the per-pair
ratios (limbo-tui running / paused) with its bootstrap interval (bench.paired), over all
pairs and apart for the quieter and the busier half of them (by the CPU that other work
took of the machine during the pair); and the cost
the noise does not touch: limbo-tui's CPU per 1,000 application commits, its share of the
machine at that rate, and the ratio a CPU-bound application would keep if it had to pay
that CPU from its own (the floor: in truth the limbo-tui process runs niced and mostly
takes CPU the application leaves idle).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from bench.common import percentile
from bench.paired import summary

# Each is measured against phases with its limbo-tui paused, alternated with its own.
SOURCES = ("poll", "logical", "logical-pub", "notify")
# Variants for finding where the cost is: the same source with limbo-tui at its normal
# CPU priority (`[feed] nice = 0`).
VARIANTS = ("poll-nice0", "logical-nice0")
LABELS = {
    "poll": "delta polling",
    "logical": "logical decoding",
    "logical-pub": "logical decoding over a publication",
    "notify": "NOTIFY triggers",
    "poll-nice0": "delta polling, nice = 0",
    "logical-nice0": "logical decoding, nice = 0",
}
WRITERS = (1, 8, 32)
# Sources whose cost to the application has the >= 0.95 target at 8 writers; NOTIFY's
# ratio is printed beside them (the consent dialog quotes it).
TARGETED = ("poll", "logical", "logical-pub")
TARGET = 0.95
TARGET_WORKLOAD = "8"


def _r(x: float, digits: int = 4) -> float:
    return round(x, digits)


def _pairs(phases: list[dict[str, Any]], workload: str) -> list[tuple[dict[str, Any], ...]]:
    by_pair: dict[int, dict[bool, dict[str, Any]]] = {}
    for ph in phases:
        if ph["workload"] == workload:
            by_pair.setdefault(ph["pair"], {})[ph["on"]] = ph
    return [(p[False], p[True]) for _, p in sorted(by_pair.items()) if len(p) == 2]


def _background(pair: tuple[dict[str, Any], ...]) -> float:
    return max(float(p["cpu"]["background"]) for p in pair)


def _cost(
    offs: Sequence[dict[str, Any]], ons: Sequence[dict[str, Any]], cores: int
) -> dict[str, Any]:
    """CPU per 1,000 commits (ms) of limbo-tui's backends and process while running, and
    of the application itself (server + pgbench) while limbo-tui was paused."""

    def total(phases: Sequence[dict[str, Any]], key: str) -> float:
        return sum(p["cpu"][key] * p["cpu"]["seconds"] for p in phases)

    commits_on = sum(p["commits"] for p in ons)
    commits_off = sum(p["commits"] for p in offs)
    seconds_on = sum(p["cpu"]["seconds"] for p in ons)
    if not commits_on or not commits_off or not seconds_on:
        return {}
    backends = total(ons, "limbo_backends") / commits_on * 1e6
    process = total(ons, "limbo_process") / commits_on * 1e6
    app = (total(offs, "app_server") + total(offs, "loader")) / commits_off * 1e6
    # The application's own CPU per commit with limbo-tui running: above `app` when the
    # source adds work inside the commits (NOTIFY's lock), equal when it only reads.
    app_on = (total(ons, "app_server") + total(ons, "loader")) / commits_on * 1e6
    limbo_s_per_s = (total(ons, "limbo_backends") + total(ons, "limbo_process")) / seconds_on
    return {
        "limbo_backends_ms_per_1k": _r(backends, 2),
        "limbo_process_ms_per_1k": _r(process, 2),
        "app_ms_per_1k": _r(app, 1),
        "app_ms_per_1k_running": _r(app_on, 1),
        "commits_per_s_on": _r(commits_on / seconds_on, 1),
        "limbo_s_per_s": _r(limbo_s_per_s),
        "limbo_share_of_machine": _r(limbo_s_per_s / cores),
        "backends_share_of_machine": _r(total(ons, "limbo_backends") / seconds_on / cores),
        "cpu_bound_floor": _r(app / (app + backends + process), 3),
        "backends_floor": _r(app / (app + backends), 3),
        # Paused, limbo-tui must take nothing: a check of the method.
        "paused_limbo_s": _r(total(offs, "limbo_backends") + total(offs, "limbo_process")),
    }


def _workload(
    phases: list[dict[str, Any]], workload: str, target: float | None, cores: int
) -> dict[str, Any]:
    pairs = [(off, on) for off, on in _pairs(phases, workload) if off["per_s"] > 0]
    ratios = [on["per_s"] / off["per_s"] for off, on in pairs]
    # Split at the median of the pairs' background (the busier phase of each pair): the
    # quieter half and the busier half, so that a load that biases the ratio shows.
    noise = [_background(pair) for pair in pairs]
    cut = statistics.median(noise) if noise else 0.0
    quiet = [r for r, b in zip(ratios, noise, strict=True) if b <= cut]
    busy = [r for r, b in zip(ratios, noise, strict=True) if b > cut]
    offs, ons = [p[0] for p in pairs], [p[1] for p in pairs]
    background = [p["cpu"]["background"] for p in offs + ons]
    loads = [p["load"] for p in offs + ons]
    out: dict[str, Any] = {
        "ratio": summary(ratios, target),
        "quiet": summary(quiet, target),
        "busy": summary(busy, target),
        "pair_ratios": [_r(x, 3) for x in ratios],
        "per_s_off": _r(statistics.median(p["per_s"] for p in offs), 1) if offs else None,
        "per_s_on": _r(statistics.median(p["per_s"] for p in ons), 1) if ons else None,
        "quiet_background_cores_max": _r(cut, 2),
        "background_cores": {
            "median": _r(statistics.median(background), 2) if background else None,
            "max": _r(max(background), 2) if background else None,
        },
        "loadavg": [min(loads), max(loads)] if loads else None,
    }
    if workload != "dbos":
        out["cost"] = _cost(offs, ons, cores)
        if ons:
            out["server_cpu_s_per_s"] = _r(statistics.mean(p["cpu"]["limbo_backends"] for p in ons))
            out["process_cpu_s_per_s"] = _r(statistics.mean(p["cpu"]["limbo_process"] for p in ons))
    return out


def summarise(
    raw: dict[str, Any], workloads: Sequence[str], source: str, cores: int = 2
) -> dict[str, Any]:
    """One source's raw phases -> its figures."""
    phases = raw["phases"]
    info: dict[str, Any] = {"state": raw.get("state", ""), "state_end": raw.get("state_end", "")}
    info["workloads"] = {
        w: _workload(
            phases,
            w,
            TARGET if source in TARGETED and w == TARGET_WORKLOAD else None,
            cores,
        )
        for w in workloads
    }
    idle = raw.get("idle_cpu") or {}
    info["idle_server_s_per_s"] = idle.get("limbo_backends")
    info["idle_process_s_per_s"] = idle.get("limbo_process")
    switches = raw.get("switches") or []
    catch = [s["catch_up_s"] for s in switches if "catch_up_s" in s]
    info["resume"] = {
        "catch_up_s_max": max(catch) if catch else None,
        "all_caught_up": all(s.get("caught_up", True) for s in switches),
    }
    lat = raw.get("latency_ms") or {}
    ms = lat.get("ms") or []
    info["latency"] = {
        "p50_ms": round(percentile(ms, 50), 1) if ms else None,
        "p99_ms": round(percentile(ms, 99), 1) if ms else None,
        "seen": len(ms),
        "sent": lat.get("sent", 0),
    }
    return info


def _ci(s: dict[str, Any]) -> str:
    if not s.get("n"):
        return "-"
    return f"{s['median']} [{s['ci'][0]}, {s['ci'][1]}] (n={s['n']})"


def table(res: dict[str, Any]) -> str:
    """The side-by-side table of BENCHMARKS.md."""
    lines = [
        "| source | workload | per s paused → running (medians) | ratio: median [95 % CI] "
        "(pairs) | quieter half of the pairs | busier half | limbo-tui CPU ms per 1,000 "
        "commits: backends / process | application's CPU ms per 1,000 commits: paused / "
        "running | its share of the machine | CPU-bound floor | "
        "background cores median / max | load avg |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for source, info in res.get("sources", {}).items():
        for w, f in info["workloads"].items():
            cost = f.get("cost") or {}
            bg = f["background_cores"]
            loads = f["loadavg"] or ["?", "?"]
            what = "DBOS wf" if w == "dbos" else f"{w} writers"
            lines.append(
                f"| {LABELS.get(source, source)} | {what} | {f['per_s_off']} → {f['per_s_on']} | "
                f"{_ci(f['ratio'])} | {_ci(f['quiet'])} | {_ci(f['busy'])} | "
                f"{cost.get('limbo_backends_ms_per_1k', '-')} / "
                f"{cost.get('limbo_process_ms_per_1k', '-')} | "
                f"{cost.get('app_ms_per_1k', '-')} / {cost.get('app_ms_per_1k_running', '-')} | "
                f"{_pct(cost.get('limbo_share_of_machine'))} | "
                f"{cost.get('cpu_bound_floor', '-')} | "
                f"{bg['median']} / {bg['max']} | {loads[0]}..{loads[1]} |"
            )
    lines += [
        "",
        "| source | commit -> output p50 / p99 | idle CPU s/s: backends / process | "
        "state | resume: longest catch-up |",
        "| --- | --- | --- | --- | --- |",
    ]
    for source, info in res.get("sources", {}).items():
        lat = info["latency"]
        lines.append(
            f"| {LABELS.get(source, source)} | {lat['p50_ms']} / {lat['p99_ms']} ms "
            f"({lat['seen']} of {lat['sent']}) | {info['idle_server_s_per_s']} / "
            f"{info['idle_process_s_per_s']} | {info['state_end'] or info['state']} | "
            f"{info['resume']['catch_up_s_max']} s |"
        )
    return "\n".join(lines)


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.2f} %"
