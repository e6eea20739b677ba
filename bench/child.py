"""Entry point of the benchmark's helper processes: `python -m bench.child KIND ...`.

KIND is `monitor` (limbo-tui under test), `writer` (paced UPDATEs) or `dbosapp` (the
monitored DBOS application). Each prints one JSON line on stdout as its last line, or
writes its (large) result to --out and prints a short summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.child")
    sub = p.add_subparsers(dest="kind", required=True)

    m = sub.add_parser("monitor")
    m.add_argument("--url", required=True)
    m.add_argument("--base", type=int, required=True)
    m.add_argument("--stop-file", type=Path, required=True)
    m.add_argument("--ready-file", type=Path, required=True)
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--mode", choices=("app", "feed"), default="app")
    m.add_argument("--size", default="120x40")
    m.add_argument("--read-only", action="store_true")
    m.add_argument("--max-s", type=float, default=600)
    m.add_argument("--profile", type=Path, default=None, help="pyinstrument HTML output")

    w = sub.add_parser("writer")
    w.add_argument("--url", required=True)
    w.add_argument("--rate", type=float, required=True)
    w.add_argument("--seconds", type=float, required=True)
    w.add_argument("--rows", type=int, required=True)
    w.add_argument("--base", type=int, required=True)
    w.add_argument("--seq0", type=int, default=0)
    w.add_argument("--first", type=int, default=0, help="index of the first hot row used")
    w.add_argument("--out", type=Path, required=True)

    d = sub.add_parser("dbosapp")
    d.add_argument("--url", required=True)
    d.add_argument("--plan", required=True, help="JSON list of phases: ['off', 'on', ...]")
    d.add_argument("--seconds", type=float, required=True)
    d.add_argument("--threads", type=int, default=8)
    d.add_argument("--monitor-cmd", default="", help="JSON argv of a monitor to run in 'live'")

    args = p.parse_args(argv)
    if args.kind == "monitor":
        return _monitor(args)
    if args.kind == "writer":
        from bench.writer import run

        res = run(args.url, args.rate, args.seconds, args.rows, args.base, args.seq0, args.first)
        args.out.write_text(json.dumps(res))
        print(json.dumps({k: v for k, v in res.items() if k != "commits"}))
        return 0
    from bench.app_cost import run_dbos_app

    res = run_dbos_app(args.url, json.loads(args.plan), args.seconds, args.threads)
    print(json.dumps(res))
    return 0


def _monitor(args: argparse.Namespace) -> int:
    from bench.common import peak_rss_mb, rss_mb
    from bench.monitor import run_app, run_feed

    w, h = (int(x) for x in args.size.split("x"))
    profiler = None
    if args.profile is not None:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled")
        profiler.start()
    if args.mode == "app":
        res = asyncio.run(
            run_app(
                args.url,
                args.base,
                args.stop_file,
                args.ready_file,
                (w, h),
                args.read_only,
                args.max_s,
            )
        )
    else:
        res = asyncio.run(
            run_feed(
                args.url, args.base, args.stop_file, args.ready_file, args.read_only, args.max_s
            )
        )
    if profiler is not None:
        profiler.stop()
        args.profile.write_text(profiler.output_html())
        print(profiler.output_text(unicode=False, color=False, show_all=False), file=sys.stderr)
    res["rss_mb"] = rss_mb()
    res["peak_rss_mb"] = peak_rss_mb()
    args.out.write_text(json.dumps(res))
    summary = {k: v for k, v in res.items() if k not in ("graph", "screen", "cpu_samples")}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
