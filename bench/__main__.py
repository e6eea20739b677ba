"""`uv run python -m bench [--quick] [--no-write] [--json PATH] [--only a,b]`.

Runs every benchmark of issue #6 against a private Postgres and prints each figure; writes
bench/results.json and BENCHMARKS.md unless --no-write.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import report
from bench.common import REPO, BenchServer, bench_server, log, machine

ALL = ("startup", "scale", "idle", "latency", "throughput", "app_cost", "terminal", "sources")
RESULTS = REPO / "bench" / "results.json"
MARKDOWN = REPO / "BENCHMARKS.md"
ANALYSIS = REPO / "bench" / "analysis.md"


def _guard(results: dict[str, Any], name: str, fn: Callable[[], dict[str, Any]]) -> None:
    """One failing benchmark is reported, and the others still run."""
    t0 = time.perf_counter()
    log(f"{name}: start")
    try:
        results[name] = fn()
    except Exception as exc:
        log(f"{name}: FAILED: {exc}")
        traceback.print_exc(file=sys.stderr)
        results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    results.setdefault("durations_s", {})[name] = round(time.perf_counter() - t0, 1)
    log(f"{name}: done in {results['durations_s'][name]} s")


def run(quick: bool, only: set[str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    results: dict[str, Any] = {"version": 1, "quick": quick, "machine": machine()}
    if "startup" in only:
        from bench import startup

        _guard(results, "startup", lambda: startup.run(quick))
    if "sources" in only:
        # On a PostgreSQL 18 server of its own (wal_level = logical, durable commits).
        from bench import sources

        _guard(results, "sources", lambda: sources.run(quick))
    rest = only - {"startup", "sources"}
    if rest:
        with bench_server() as bs:
            _run_on_server(bs, results, quick, rest)
    results["elapsed_s"] = round(time.perf_counter() - t0, 1)
    return results


def _run_on_server(bs: BenchServer, results: dict[str, Any], quick: bool, only: set[str]) -> None:
    from bench import app_cost, idle_load, latency, real_terminal, scale, throughput

    # The idle benchmark watches the 100k database that scale builds anyway.
    keep_size = 10_000 if quick else 100_000
    if "scale" in only:
        _guard(results, "scale", lambda: scale.run(bs, quick, keep={keep_size}))
    kept = (results.get("scale") or {}).get("databases", {}).get(str(keep_size))
    if "idle" in only:
        _guard(results, "idle", lambda: idle_load.run(bs, quick, source_db=kept))
    if kept:
        bs.drop_database(kept)
    if "latency" in only:
        _guard(results, "latency", lambda: latency.run(bs, quick))
    if "throughput" in only:
        _guard(results, "throughput", lambda: throughput.run(bs, quick))
    if "app_cost" in only:
        _guard(results, "app_cost", lambda: app_cost.run(bs, quick))
    if "terminal" in only:
        _guard(results, "terminal", lambda: real_terminal.run(bs, quick))


def missed_notes(rows: list[dict[str, Any]]) -> str:
    missed = [r for r in rows if r["met"] is False]
    if not missed:
        return ""
    lines = ["## Targets missed in this run", ""]
    for r in missed:
        lines.append(f"- {r['label']}: {r['value']} {r['unit']} (target {r['target']}).")
    return "\n".join(lines)


def _notes(rows: list[dict[str, Any]]) -> str:
    notes = missed_notes(rows)
    if ANALYSIS.exists():
        notes += "\n\n" + ANALYSIS.read_text()
    return notes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="everything small (smoke test, < 60 s)")
    p.add_argument(
        "--no-write", action="store_true", help="write neither results nor BENCHMARKS.md"
    )
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {ALL}")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite BENCHMARKS.md from bench/results.json without measuring",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="update bench/results.json with these benchmarks only (keep the others)",
    )
    args = p.parse_args(argv)
    if args.report_only:
        results = json.loads(RESULTS.read_text())
        rows = report.summary(results)
        print(report.print_table(rows))
        MARKDOWN.write_text(report.markdown(results, rows, _notes(rows)))
        return 0
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    unknown = only - set(ALL)
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    results = run(args.quick, only)
    if args.merge and RESULTS.exists():
        merged = json.loads(RESULTS.read_text())
        for name in only:
            merged[name] = results[name]
            merged.setdefault("durations_s", {})[name] = results["durations_s"][name]
        merged["merged"] = sorted(set(merged.get("merged", [])) | only)
        merged["merged_at"] = results["machine"]["date"]
        results = merged
    rows = report.summary(results)
    results["summary"] = {r["key"]: r["value"] for r in rows}
    results["targets"] = {r["key"]: r["met"] for r in rows if r["met"] is not None}
    print(report.print_table(rows), flush=True)
    errors = {k: v["error"] for k, v in results.items() if isinstance(v, dict) and "error" in v}
    for k, e in errors.items():
        print(f"{k}: ERROR {e}", flush=True)
    text = json.dumps(results, indent=1, default=str)
    if args.json is not None:
        args.json.write_text(text)
    if not args.no_write:
        RESULTS.write_text(text)
        MARKDOWN.write_text(report.markdown(results, rows, _notes(rows)))
        log(f"wrote {MARKDOWN.relative_to(REPO)} and {RESULTS.relative_to(REPO)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
