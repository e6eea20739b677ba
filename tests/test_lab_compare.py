"""`limbo-tui lab compare 2.8.0 3.4.0`: the real command, both real releases, side by side."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from limbo_tui.lab_compare import (
    Moment,
    ReleaseRun,
    first_difference,
    in_family_words,
    render,
)
from tests.pg_support import shared_tmp


@pytest.mark.slow
def test_compare_prints_both_timelines_and_where_they_part(tmp_path: Path) -> None:
    data_dir = shared_tmp("limbo-tui-compare-") / "pg"
    config = tmp_path / "limbo-tui.toml"
    config.write_text(f'[embedded]\ndata_dir = "{data_dir}"\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "limbo_tui", "--config", str(config), "lab", "compare",
         "2.8.0", "3.4.0"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    print(out)
    assert out.splitlines()[0].startswith("dbos 2.8.0") and "│ dbos 3.4.0" in out.splitlines()[0]
    rounds = [line for line in out.splitlines() if line.startswith("── ")]
    assert rounds[0] == "── launch 1 (enqueue)  (the same)"
    assert rounds[1] == "── restart 1  ≠"
    # Where they part: 2.8 puts the recovered queued parent back on its queue.
    assert "first difference: restart 1" in out
    assert "dbos 2.8.0: recovered 2; crashed at the crash point; parent ENQUEUED rec 1" in out
    assert "dbos 3.4.0: recovered 2; crashed at the crash point; parent PENDING rec 2" in out
    # The seed's limbo on 2.8.0, the second enqueue rejected; none of it on 3.4.0.
    limbo_row = next(line for line in out.splitlines() if "awaiting-dead-child" in line)
    left, right = limbo_row.split(" │ ", 1)
    assert "‼ awaiting-dead-child, dedup-blocked" in left and "awaiting" not in right
    sides = [line.split(" │ ", 1) for line in out.splitlines() if " │ " in line]
    assert any("second enqueue with 6/5: rejected, the parent holds it (PENDING)" in left
               for left, _ in sides)  # fmt: skip
    assert any("second enqueue with 6/5: accepted" in right for _, right in sides)
    assert not any("second enqueue with 6/5: accepted" in left for left, _ in sides)
    # Further restarts: the 2.8 parent dead-letters itself at last.
    last_round = out.split("\n── ")[-1].splitlines()[1:]
    lefts = [line.split(" │ ")[0] for line in last_round if " │ " in line]
    assert "parent MAX_RECOVERY_ATTEMPTS_EXCEEDED rec 4" in [x.strip() for x in lefts]
    # The seed's slow shutdown: 2.8's waits for the stuck parent at each restart in limbo;
    # 3.4's has nothing left to wait for.
    stuck = "stop: DBOS waited its whole 10 s for the parent, still active"
    assert any(left.strip().startswith(stuck) for left, _ in sides), out
    assert not any(stuck in right for _, right in sides), out
    assert any("stop: DBOS had no active workflow and stopped at once" in right
               for _, right in sides)  # fmt: skip
    assert (
        "dbos 2.8.0: its shutdown waited for a workflow that never ended after restart 3, "
        "restart 4" in out
    )
    assert "dbos 3.4.0: its shutdown never waited for a stuck workflow" in out
    assert "dbos 2.8.0: in limbo from restart 3 (awaiting-dead-child, dedup-blocked)" in out
    assert "dbos 3.4.0: never in limbo" in out
    assert not list(data_dir.parent.glob("*/postmaster.pid"))


def _moment(label: str, *rows: str) -> Moment:
    return Moment(label, "recovered 0; running", rows, ())


def test_the_same_timelines_have_no_difference_and_say_so() -> None:
    a = ReleaseRun("2.30.0", [_moment("launch 1 (enqueue)", "parent SUCCESS rec 1")])
    b = ReleaseRun("3.4.0", [_moment("launch 1 (enqueue)", "parent SUCCESS rec 1")])
    assert first_difference(a, b) is None
    assert "behave the same on the seed experiment" in render(a, b)
    c = ReleaseRun("3.4.0", [*b.moments, _moment("restart 1", "parent SUCCESS rec 1")])
    assert first_difference(a, c) == 1
    assert "first difference: restart 1" in render(a, c)


def test_a_stop_names_the_family_as_the_rows_do() -> None:
    parent = "fe5f923f-1531-4c06-af78-f4e8f9b5b9c4"
    ids = [parent, f"{parent}-1"]
    said = "DBOS waited its whole 10 s for fe5f923f, still active, and gave up; it stays PENDING"
    assert in_family_words(said, ids, parent) == (
        "DBOS waited its whole 10 s for the parent, still active, and gave up; it stays PENDING"
    )
    both = "DBOS waited its whole 10 s for fe5f923f, fe5f923f-1, still active, and gave up"
    assert in_family_words(both, ids, parent).startswith("DBOS waited its whole 10 s for the "
                                                          "parent, child -1, still")  # fmt: skip
