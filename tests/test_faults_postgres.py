"""The database goes away under a running TUI: restarts (fast and immediate shutdown),
killed listen backends, a network that goes silent. Each time the header says
RECONNECTING, then LIVE, and the graph ends equal to the database.

A server of its own (TCP on 127.0.0.1, a free port), so that restarting it disturbs no
other test; the silent network is tests/tcp_proxy.py between the feed and that server.
Feed-level versions of the first two faults are in test_feed.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from limbo_tui.model import WorkflowGraph
from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.settings import ExperimentSettings, FeedSettings, Settings, UISettings
from limbo_tui.ui.status_header import StatusHeader
from limbo_tui.worker.demo import CHILD_NAME
from limbo_tui.worker.protocol import ExperimentParams
from tests.faults_support import clean_env, converges, limbo_cmd, live_app, until
from tests.own_server import free_port, own_server
from tests.pg_support import fresh_database
from tests.tcp_proxy import TcpProxy

# Long fault tests: `-m "not slow"` leaves them out of a quick run.
pytestmark = pytest.mark.slow

EXPERIMENT = ExperimentSettings(
    children=2,
    steps=4,
    crash_enabled=False,
    step_delay_ms=250,
    max_recovery_attempts=5,
    child_max_recovery_attempts=5,
)
SETTINGS = Settings(
    lab=True,
    experiment=EXPERIMENT,
    feed=FeedSettings(heartbeat_s=2.0, coalesce_ms=10),
    ui=UISettings(refresh_hz=30),
)
TERMINAL = {"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"}


@pytest.fixture(scope="module")
def tcp_server() -> Iterator[EmbeddedServer]:
    with own_server("limbo-tui-faults-pg-", listen="127.0.0.1", port=free_port()) as server:
        yield server


@pytest.fixture
def remote_db(tcp_server: EmbeddedServer) -> str:
    """A fresh DBOS system database on the TCP server; its name, not its URL."""
    return fresh_database(tcp_server)


def _statuses(url: str) -> dict[str, str]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        rows = conn.execute("SELECT workflow_uuid, status FROM dbos.workflow_status").fetchall()
    return {r[0]: r[1] for r in rows}


def _all_finished(url: str, count: int) -> bool:
    try:
        st = _statuses(url)
    except psycopg.Error:
        return False
    return len(st) >= count and set(st.values()) <= TERMINAL


def _mid_experiment(graph: WorkflowGraph) -> bool:
    return any(
        wf.status == "PENDING" and graph.step_counts(wid).steps_completed >= 1
        for wid, wf in graph.workflows.items()
        if wf.name == CHILD_NAME
    )


class HeaderWatch:
    """Every feed state the header showed, in order (sampled every 20 ms by the test)."""

    def __init__(self, header: StatusHeader) -> None:
        self.header = header
        self.seen: list[str] = []

    def sample(self) -> str:
        state = self.header.feed_state
        if not self.seen or self.seen[-1] != state:
            self.seen.append(state)
        return state

    async def until(self, state: str, timeout: float) -> float:
        started = time.monotonic()
        await until(lambda: self.sample() == state, timeout, f"the header to show {state}", 0.02)
        return time.monotonic() - started


@pytest.mark.parametrize("shutdown", ["fast", "immediate"])
async def test_restart_under_a_running_experiment(
    tcp_server: EmbeddedServer, remote_db: str, shutdown: str
) -> None:
    url = tcp_server.tcp_url(remote_db)
    app = live_app(url, SETTINGS, "thread")
    async with app.run_test(size=(100, 30)):
        header = HeaderWatch(app.query_one(StatusHeader))
        await header.until("LIVE", 20)
        await until(lambda: app.worker.state == "RUNNING", 60, "the worker")
        params = ExperimentParams.from_settings(EXPERIMENT, dedup_id="")
        result = await asyncio.to_thread(app.worker.enqueue_experiment, params)
        assert result.ok, result.message
        # Mid-experiment: a child has completed a step and has more to go.
        await until(lambda: _mid_experiment(app.graph), 30, "the experiment to run")
        assert tcp_server.process is not None
        if shutdown == "fast":
            tcp_server.stop()
        else:
            # SIGQUIT: immediate shutdown, no checkpoint; the next start runs crash recovery.
            proc = tcp_server.process
            proc.send_signal(signal.SIGQUIT)
            proc.wait(10)
            tcp_server.process = None
        await header.until("RECONNECTING", 15)
        await asyncio.sleep(0.5)  # a real outage lasts a little
        tcp_server.ensure_running()
        await header.until("LIVE", 30)
        assert header.seen[-3:] == ["LIVE", "RECONNECTING", "LIVE"] or header.seen[-2:] == [
            "DOWN",
            "LIVE",
        ], header.seen
        # DBOS rides out the outage (its system-database calls retry); the experiment ends.
        await until(lambda: _all_finished(url, 3), 60, "the experiment to finish")
        await converges(lambda: app.graph, url, 15)
        assert set(_statuses(url).values()) == {"SUCCESS"}
        assert not app.query_one(StatusHeader).problem


async def test_killed_backends_under_a_running_experiment(
    tcp_server: EmbeddedServer, remote_db: str
) -> None:
    """pg_terminate_backend on both feed connections (an admin, a pooler, a failover)."""
    url = tcp_server.tcp_url(remote_db)
    app = live_app(url, SETTINGS, "thread")
    async with app.run_test(size=(100, 30)):
        header = HeaderWatch(app.query_one(StatusHeader))
        await header.until("LIVE", 20)
        await until(lambda: app.worker.state == "RUNNING", 60, "the worker")
        params = ExperimentParams.from_settings(EXPERIMENT, dedup_id="")
        assert (await asyncio.to_thread(app.worker.enqueue_experiment, params)).ok
        await until(lambda: _mid_experiment(app.graph), 30, "the experiment to run")
        with psycopg.connect(url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'limbo-tui' AND pid <> pg_backend_pid()"
            ).fetchone()
        assert killed is not None and killed[0] >= 2
        took = await header.until("RECONNECTING", 30)
        assert took < 30
        await header.until("LIVE", 30)
        await until(lambda: _all_finished(url, 3), 60, "the experiment to finish")
        await converges(lambda: app.graph, url, 15)


async def test_silent_network_is_noticed_by_the_heartbeat_and_recovered(
    tcp_server: EmbeddedServer, remote_db: str
) -> None:
    """The heartbeat notices a network that carries nothing (shipped: every 15 s with a
    5 s timeout; here every 2 s, 2 s timeout). Nothing else would: TCP keepalive takes
    hours, and the proxy sends no FIN nor RST."""
    settings = replace(SETTINGS, feed=FeedSettings(heartbeat_s=2.0))
    direct = tcp_server.tcp_url(remote_db)
    with TcpProxy(("127.0.0.1", tcp_server.port)) as proxy:
        via_proxy = direct.replace(f":{tcp_server.port}/", f":{proxy.port}/")
        app = live_app(via_proxy, settings, "none")
        async with app.run_test(size=(100, 30)):
            header = HeaderWatch(app.query_one(StatusHeader))
            await header.until("LIVE", 20)
            proxy.go_silent()
            # The database goes on changing meanwhile (the writer is not behind the proxy).
            with psycopg.connect(direct, autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO dbos.workflow_status (workflow_uuid, status, name) "
                    "VALUES ('during-silence', 'ENQUEUED', 'job')"
                )
            await header.until("RECONNECTING", 35)
            assert "during-silence" not in app.graph.workflows  # nothing could arrive
            proxy.resume()
            await header.until("LIVE", 40)
            await until(lambda: "during-silence" in app.graph.workflows, 10, "the resync")
            await converges(lambda: app.graph, direct, 10)
            assert header.seen == ["STARTING", "LIVE", "RECONNECTING", "LIVE"] or header.seen[
                -2:
            ] == ["DOWN", "LIVE"], header.seen


PASSWORD = "s3cret-hunter2"


@pytest.fixture(scope="module")
def password_user(tcp_server: EmbeddedServer) -> str:
    """A role that must give its password over TCP (scram), like a real remote database."""
    hba = tcp_server.pgdata / "pg_hba.conf"
    hba.write_text(
        "local all all trust\n"
        "host all pwuser 127.0.0.1/32 scram-sha-256\n"
        "host all all 127.0.0.1/32 trust\n"
    )
    with psycopg.connect(tcp_server.url("postgres"), autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS pwuser")
        conn.execute(f"CREATE ROLE pwuser LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
        conn.execute("SELECT pg_reload_conf()")
    return "pwuser"


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        limbo_cmd(*args),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(HOME=str(tmp_path)),
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("make_url", "code", "needle"),
    [
        (lambda port, db: f"postgresql://pwuser:wrong-{PASSWORD}@127.0.0.1:{port}/{db}", 1,
         "wrong password"),
        (lambda port, db: f"postgresql://pwuser:{PASSWORD}@no-such-host.invalid:{port}/{db}", 1,
         "unknown host"),
        (lambda port, db: f"postgresql://pwuser:{PASSWORD}@127.0.0.1:1/{db}", 1,
         "cannot reach the database server at 127.0.0.1:1"),
        (lambda port, db: f"postgresql://pwuser:{PASSWORD}@127.0.0.1:{port}/nodb", 1,
         "database 'nodb' does not exist"),
        (lambda port, db: f"postgresql://pwuser:{PASSWORD}@127.0.0.1:99999/{db}", 2,
         "malformed database URL"),
        (lambda port, db: f"mysql://pwuser:{PASSWORD}@127.0.0.1:{port}/{db}", 2,
         "use postgresql://"),
        (lambda port, db: "sqlite:///dbos.sqlite", 1, "dbos.sqlite does not exist"),
        (lambda port, db: f"postgresql+asyncpg://pwuser:{PASSWORD}@[::1/{db}", 2, "malformed"),
    ],
    ids=["wrong-password", "unknown-host", "nothing-listens", "no-such-database",
         "bad-port", "mysql-scheme", "sqlite", "unparsable"],
)  # fmt: skip
def test_bad_urls_are_one_line_without_the_password(
    tcp_server: EmbeddedServer,
    remote_db: str,
    password_user: str,
    tmp_path: Path,
    make_url: Callable[[int, str], str],
    code: int,
    needle: str,
) -> None:
    url = make_url(tcp_server.port, remote_db)
    for args in (("snapshot", "--json"), ("watch", "--json"), ("triggers", "status"), ()):
        proc = _cli(tmp_path, *args, "--db-url", url)
        assert proc.returncode == code, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("limbo-tui: ")
        assert needle in proc.stderr, proc.stderr
        assert PASSWORD not in proc.stderr + proc.stdout
        assert "Traceback" not in proc.stderr


def test_missing_password_names_pgpassword_and_pgpass_which_both_work(
    tcp_server: EmbeddedServer, remote_db: str, password_user: str, tmp_path: Path
) -> None:
    """No password in the URL: the error says where one can come from, and each of those
    places works (libpq's order: the string, $PGPASSWORD, then ~/.pgpass)."""
    url = f"postgresql://pwuser@127.0.0.1:{tcp_server.port}/{remote_db}"

    def snapshot(**extra: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in clean_env(HOME=str(tmp_path)).items() if not k.startswith("PG")}
        return subprocess.run(
            limbo_cmd("snapshot", "--json", "--db-url", url),
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**env, **extra},
            timeout=60,
            stdin=subprocess.DEVNULL,
        )

    refused = snapshot()
    assert refused.returncode == 1, refused.stderr
    assert "login refused for user 'pwuser'" in refused.stderr
    assert "password required" in refused.stderr
    assert "$PGPASSWORD" in refused.stderr and "~/.pgpass" in refused.stderr
    from_env = snapshot(PGPASSWORD=PASSWORD)
    assert from_env.returncode == 0, from_env.stderr
    assert PASSWORD not in from_env.stdout + from_env.stderr
    pgpass = tmp_path / ".pgpass"
    pgpass.write_text(f"127.0.0.1:{tcp_server.port}:*:pwuser:{PASSWORD}\n")
    pgpass.chmod(0o600)
    assert snapshot().returncode == 0
    wrong = snapshot(PGPASSWORD="not-it")
    assert wrong.returncode == 1 and "wrong password" in wrong.stderr, wrong.stderr


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_password_never_on_screen_nor_in_logs(
    tcp_server: EmbeddedServer, remote_db: str, password_user: str, tmp_path: Path
) -> None:
    """The real TUI on a password-protected database: header, screen, worker log and
    `snapshot --json` show the URL masked."""
    from tests.tmux_support import Terminal

    url = f"postgresql://pwuser:{PASSWORD}@127.0.0.1:{tcp_server.port}/{remote_db}"
    env = {
        "TERM": "xterm-256color",
        "HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "PATH": clean_env()["PATH"],
        "LIMBO_TUI_DB_URL": url,  # from the environment, as an operator would
    }
    term = Terminal(f"limbo-pw-{os.getpid()}", 100, 30)
    try:
        term.start(" ".join(limbo_cmd("--lab")), env)
        screen = term.wait_for(
            lambda s: "worker RUNNING" in s and "LIVE" in s, 60, "the monitor on a password db"
        )
        term.keys("e")
        screen = term.wait_for(lambda s: "limbo_demo" in s, 30, "the experiment")
        assert "pwuser:***@127.0.0.1" in screen and PASSWORD not in screen
        term.keys("q")
        term.wait_for(lambda s: "LIMBO-EXIT=0" in s, 15, "quit")
    finally:
        term.kill()
    logs = list((tmp_path / "state").rglob("*.log"))
    assert logs, "the worker writes a log"
    for log in logs:
        assert PASSWORD not in log.read_text(errors="replace"), log
    snap = _cli(tmp_path, "snapshot", "--json", "--db-url", url)
    assert snap.returncode == 0, snap.stderr
    assert PASSWORD not in snap.stdout and "pwuser:***@" in json.loads(snap.stdout)["database"]
