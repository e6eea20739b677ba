"""Actions on a database written by another DBOS release act with that release's code.

The 2.8 databases here are made by dbos 2.8.0's own migrations (run in its own venv);
the seed's limbo is written into them, and the rows after each limbo-tui action are
compared with the rows after the same call made by dbos 2.8.0's own DBOS API.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from release_support import (
    OLD,
    old_database,
    release_python,
    run_release_api,
    workflow_rows,
)

from limbo_tui import releases
from limbo_tui.pg.dbos_schema import SCHEMA_RELEASES, SchemaVersion, read_schema_version
from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.settings import Settings
from limbo_tui.worker.actions import Actions
from limbo_tui.worker.protocol import ExperimentParams
from tests import seed
from tests.pg_support import drop_database


@pytest.fixture
def old_url(pg_server: EmbeddedServer) -> Iterator[str]:
    """A fresh database with dbos 2.8.0's schema, from 2.8.0's own migrations."""
    name = old_database(pg_server)
    yield pg_server.url(name)
    drop_database(pg_server, name)


@pytest.fixture
def twin_urls(pg_server: EmbeddedServer) -> Iterator[tuple[str, str]]:
    """Two 2.8 databases holding the same seed limbo: one for limbo-tui, one for 2.8."""
    names = [old_database(pg_server) for _ in range(2)]
    urls = [pg_server.url(n) for n in names]
    yield urls[0], urls[1]
    for name in names:
        drop_database(pg_server, name)


def _seed_twice(urls: tuple[str, str]) -> None:
    for url in urls:
        seed.write(url)


def test_the_schema_version_names_the_releases(old_url: str, dbos_url: str, db_url: str) -> None:
    old = read_schema_version(old_url, "dbos")
    assert old.version == 7 and old.label == "dbos schema 7 (2.8-2.10)"
    assert old.covers("2.8.0") and old.covers("2.10.0") and not old.covers("2.11.0")
    new = read_schema_version(dbos_url, "dbos")
    assert new.label == f"dbos schema {new.version} (3.4)"
    assert new.version == SCHEMA_RELEASES[-1][0]
    assert read_schema_version(db_url, "dbos").label == "dbos schema ? (no migrations table)"
    assert SchemaVersion(5).releases == "older than 2.8: not supported"


def test_2x_actions_choose_the_release_that_wrote_the_schema(old_url: str) -> None:
    actions = Actions(old_url, Settings())
    release = actions.action_release()
    assert (release.release, release.in_process) == (OLD, False)
    assert not actions.can_cancel_children()


def test_c_on_28_matches_28_and_frees_the_dedup_id(twin_urls: tuple[str, str]) -> None:
    ours, reference = twin_urls
    _seed_twice(twin_urls)
    actions = Actions(ours, Settings())
    try:
        # Before: the seed's second enqueue is rejected and names the holder.
        rejected = actions.enqueue_experiment(ExperimentParams())
        assert not rejected.ok and rejected.holder_id == seed.PARENT
        assert f"held by {seed.PARENT} (PENDING)" in rejected.message

        result = actions.cancel(seed.PARENT)
        assert result.ok, result.message
        run_release_api(release_python(OLD), reference, f"DBOS.cancel_workflow({seed.PARENT!r})")
        assert workflow_rows(ours) == workflow_rows(reference)
        parent = next(r for r in workflow_rows(ours) if r["workflow_uuid"] == seed.PARENT)
        assert parent["status"] == "CANCELLED" and parent["deduplication_id"] is None

        again = actions.enqueue_experiment(ExperimentParams())
        assert again.ok, again.message
        assert "dedup id 6/5" in again.message
    finally:
        actions.close()


def test_u_on_28_resumes_as_28_would(twin_urls: tuple[str, str]) -> None:
    ours, reference = twin_urls
    _seed_twice(twin_urls)
    actions = Actions(ours, Settings())
    try:
        result = actions.resume(seed.PARENT)
        assert result.ok, result.message
        run_release_api(release_python(OLD), reference, f"DBOS.resume_workflow({seed.PARENT!r})")
        assert workflow_rows(ours) == workflow_rows(reference)
        parent = next(r for r in workflow_rows(ours) if r["workflow_uuid"] == seed.PARENT)
        # 2.8's resume: back on its internal queue with the attempts reset.
        assert (parent["status"], parent["recovery_attempts"]) == ("ENQUEUED", 0)
    finally:
        actions.close()


def test_fork_on_28_copies_what_28_copies(twin_urls: tuple[str, str]) -> None:
    ours, reference = twin_urls
    _seed_twice(twin_urls)
    actions = Actions(ours, Settings())
    try:
        result = actions.fork(seed.CHILD, 2)
        assert result.ok, result.message
        run_release_api(release_python(OLD), reference, f"DBOS.fork_workflow({seed.CHILD!r}, 2)")

        def forked(url: str) -> dict[str, object]:
            rows = [r for r in workflow_rows(url) if r["forked_from"] == seed.CHILD]
            assert len(rows) == 1
            row = dict(rows[0])
            row.pop("workflow_uuid")
            return row

        assert forked(ours) == forked(reference)
        with psycopg.connect(ours) as conn:
            copied = conn.execute(
                "SELECT function_id FROM dbos.operation_outputs WHERE workflow_uuid = %s",
                (result.workflow_id,),
            ).fetchall()
        assert copied == [(1,)]  # the checkpoints before step 2
    finally:
        actions.close()


def test_cancel_with_children_is_refused_on_28_with_what_to_do(
    twin_urls: tuple[str, str],
) -> None:
    ours, _ = twin_urls
    _seed_twice(twin_urls)
    actions = Actions(ours, Settings())
    try:
        result = actions.cancel(seed.PARENT, children=True)
        assert not result.ok
        assert "cannot cancel a workflow's children" in result.message
        assert "cancel each child" in result.message
        parent = next(r for r in workflow_rows(ours) if r["workflow_uuid"] == seed.PARENT)
        assert parent["status"] == "PENDING"  # nothing was written
    finally:
        actions.close()


def test_offline_provisioning_says_so_in_one_line_with_the_command(
    old_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cache of its own and a uv that may not use the network: the registry is out of
    # reach for this release.
    monkeypatch.setenv(releases.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("UV_OFFLINE", "1")
    with pytest.raises(releases.ProvisionError) as caught:
        releases.ensure_release(OLD)
    message = caught.value.message
    assert "\n" not in message
    assert "cannot install dbos 2.8.0" in message
    assert "package registry cannot be reached" in message
    assert f"uv pip install --python {tmp_path / 'cache'}" in message
    assert not (tmp_path / "cache" / "dbos" / f"dbos-{OLD}-py3.{sys.version_info.minor}").exists()

    seed.write(old_url)
    url_with_password = old_url.replace("postgresql://postgres@", "postgresql://postgres:s3cret@")
    actions = Actions(url_with_password, Settings())
    result = actions.cancel(seed.PARENT)
    assert not result.ok
    assert "s3cret" not in result.message and "\n" not in result.message
    assert f"or run: uvx --from dbos==2.8.0 dbos workflow cancel {seed.PARENT} -s" in result.message


def test_a_bad_release_is_a_config_error() -> None:
    for text, fragment in (("2.8", "write it as 2.8.0"), ("2.7.0", "not supported")):
        with pytest.raises(releases.ConfigError, match=fragment):
            releases.parse_release(text)


async def test_the_tui_on_a_28_database_diagnoses_and_c_frees_the_dedup_id(
    old_url: str,
) -> None:
    from faults_support import until

    from limbo_tui.pg.feed import LiveFeed
    from limbo_tui.ui.app import LimboApp
    from limbo_tui.ui.screens.confirm import ConfirmScreen
    from limbo_tui.worker import create_worker

    seed.write(old_url)
    settings = Settings()
    worker = create_worker("none", old_url, settings)
    actions = worker.actions  # type: ignore[attr-defined]
    actions.action_release()  # as launch does, off the UI loop
    app = LimboApp(
        settings,
        "the seed's database",
        feed_factory=lambda b, s: LiveFeed(old_url, settings, b, s),
        worker=worker,
        actions=actions,
    )
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await until(lambda: seed.CHILD in app.graph.workflows, 15, "the seed's rows")
            await pilot.pause(0.2)
            kinds = {(d.workflow_id, d.kind) for d in app.diagnoses}
            assert (seed.PARENT, "awaiting-dead-child") in kinds
            assert (seed.PARENT, "dedup-blocked") in kinds
            app.jump_to(seed.PARENT)
            await pilot.pause(0.1)
            await pilot.press("c")
            await pilot.pause(0.1)
            assert isinstance(app.screen, ConfirmScreen)
            # 2.8 cannot cancel children: the option is not offered, the dialog says why.
            assert not app.screen.query("#option")
            question = str(app.screen.query_one("#question").render())
            assert "cancel each one" in question
            await pilot.press("y")
            await until(
                lambda: app.graph.workflows[seed.PARENT].status == "CANCELLED", 30, "cancelled"
            )
            await pilot.pause(0.2)
            kinds = {(d.workflow_id, d.kind) for d in app.diagnoses}
            assert (seed.PARENT, "dedup-blocked") not in kinds
    finally:
        worker.stop()
    again = Actions(old_url, settings)
    try:
        # As the UI does it: off the event loop.
        result = await asyncio.to_thread(again.enqueue_experiment, ExperimentParams())
        assert result.ok, result.message
    finally:
        again.close()


def test_the_header_names_the_schema_and_its_releases(old_url: str, dbos_url: str) -> None:
    from limbo_tui.database import Database
    from limbo_tui.launch import header_database, preflight
    from limbo_tui.worker import create_worker

    for url, label in ((old_url, "dbos schema 7 (2.8-2.10)"), (dbos_url, "(3.4)")):
        worker = create_worker("none", url, Settings())
        try:
            line = header_database(Database(url), preflight(url, "dbos"), worker)
            assert line.endswith(label), line
        finally:
            worker.stop()


def test_dbos_release_out_of_reach_stops_the_command_in_one_line(tmp_path: Path) -> None:
    import os
    import subprocess

    from tests.pg_support import shared_tmp

    data_dir = shared_tmp("limbo-tui-offline-") / "pg"
    config = tmp_path / "limbo-tui.toml"
    config.write_text(f'[embedded]\ndata_dir = "{data_dir}"\n', encoding="utf-8")
    env = {
        **os.environ,
        releases.ENV_CACHE: str(tmp_path / "cache"),
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "UV_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "limbo_tui", "--config", str(config), "--worker", "process",
         "--dbos", "2.9.0", "snapshot"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("limbo-tui: cannot install dbos 2.9.0 into limbo-tui's cache")
    assert "package registry cannot be reached" in lines[0]
    assert "uv pip install --python" in lines[0] and "dbos==2.9.0" in lines[0]
