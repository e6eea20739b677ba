"""limbo-tui benchmarks: `uv run python -m bench` runs them all against a private Postgres.

Each module measures one question of issue #6 and returns a plain dict; report.py turns
the collected dicts into bench/results.json and BENCHMARKS.md. Modules that need a
separate process (writers, the monitored app, the monitor under test) run them through
`python -m bench.child ...` so that CPU and memory figures belong to one program only.
"""
