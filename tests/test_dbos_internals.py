"""The one seam onto DBOS's private modules (limbo_tui/worker/dbos_internals.py) works
on the installed DBOS and on dbos 2.8.0: a release that moves a private name fails here,
before the worker's limits, the embedded schema or the release helper go quiet."""

from __future__ import annotations

import ast
import json
import subprocess
import textwrap
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from dbos import DBOS
from release_support import OLD, migrate_with, need_2x_server, release_python

from limbo_tui.pg.dbos_schema import SCHEMA_RELEASES
from limbo_tui.pg.embedded import EmbeddedServer
from limbo_tui.urls import sqlalchemy_url
from limbo_tui.worker import dbos_internals

SEAM = Path(dbos_internals.__file__)


# Registered once, at import, like any DBOS app.
@DBOS.workflow(name="dbos_internals_test.wf", max_recovery_attempts=7)
def _seven() -> None:
    return None


def _plain() -> None:
    return None


def _schema_version(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT version FROM dbos.dbos_migrations").fetchone()
        assert conn.execute("SELECT to_regclass('dbos.workflow_status')").fetchone() != (None,)
    assert row is not None
    return int(row[0])


def test_the_registered_maximum_is_read_and_set_on_the_installed_dbos() -> None:
    assert dbos_internals.max_recovery_attempts(_seven) == 7
    assert dbos_internals.max_recovery_attempts(_plain) is None
    assert dbos_internals.registered_workflows()["dbos_internals_test.wf"] is _seven
    try:
        dbos_internals.set_max_recovery_attempts(_seven, 3)
        assert dbos_internals.max_recovery_attempts(_seven) == 3
    finally:
        dbos_internals.set_max_recovery_attempts(_seven, 7)
    with pytest.raises(RuntimeError, match="_plain is not registered with DBOS"):
        dbos_internals.set_max_recovery_attempts(_plain, 3)


def test_the_installed_dbos_migrates_a_schema_to_its_own_version(db_url: str) -> None:
    engine = sa.create_engine(sqlalchemy_url(db_url))
    try:
        dbos_internals.migrate(engine, "dbos")
    finally:
        engine.dispose()
    assert _schema_version(db_url) == SCHEMA_RELEASES[-1][0]


def test_on_dbos_28_the_seam_reads_the_maximum_and_the_helper_migrates(
    pg_server: EmbeddedServer, db_url: str
) -> None:
    need_2x_server(pg_server)
    python = release_python(OLD)
    # The seam alone, by path, in 2.8's interpreter: as release_helper.py loads it.
    script = textwrap.dedent(
        f"""
        import importlib.util, json
        from dbos import DBOS
        spec = importlib.util.spec_from_file_location("seam", {str(SEAM)!r})
        seam = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(seam)

        @DBOS.workflow(name="seam_28.wf", max_recovery_attempts=4)
        def four():
            return None

        seen = [seam.max_recovery_attempts(four)]
        seam.set_max_recovery_attempts(four, 2)
        seen.append(seam.max_recovery_attempts(four))
        seen.append(seam.registered_workflows()["seam_28.wf"] is four)
        print(json.dumps(seen))
        """
    )
    out = subprocess.run(
        [str(python), "-I", "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == [4, 2, True]
    # The helper's migrate op goes through the seam: 2.8's schema is version 7.
    migrate_with(python, db_url)
    assert _schema_version(db_url) == SCHEMA_RELEASES[0][0]


def test_no_other_module_imports_a_private_dbos_module() -> None:
    package = SEAM.parent.parent
    found = []
    for path in sorted(package.rglob("*.py")):
        if path == SEAM:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module] + [
                    f"{node.module}.{alias.name}" for alias in node.names if node.module == "dbos"
                ]
            found += [
                f"{path.relative_to(package)}: {name}"
                for name in names
                if name.startswith("dbos._")
            ]
    assert found == []
