"""`limbo-tui serve` in a real headless Chromium: the page shows the seeded database's tree.

The seed's 2.8-shaped limbo is written into a fresh database; `limbo-tui serve` runs as a
user would start it; Chromium opens the printed address, and the screenshot, read back
with OCR, must show the parent in limbo. The database password never appears in what
`serve` prints nor on the session's command line.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests import dbos28, seed
from tests.browser import CHROMIUM, TESSERACT, chromium_page, wait_for_text
from tests.own_server import free_port

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run)"),
    pytest.mark.skipif(TESSERACT is None, reason="tesseract-ocr is not installed (.ci/run)"),
    pytest.mark.slow,
]

COMMAND = Path(sys.executable).parent / "limbo-tui"


def _with_password(url: str, password: str) -> str:
    # The embedded server trusts every local login: a password in the URL is accepted and
    # ignored, which is what lets this test check that it is never shown.
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@", 1)


async def test_serve_shows_the_tree_in_chromium(db_url: str, tmp_path: Path) -> None:
    dbos28.create_schema(db_url)
    seed.write(db_url)
    secret = "s3cr3t-pw-7731"
    port = free_port()
    proc = subprocess.Popen(
        [
            str(COMMAND),
            "serve",
            "--port",
            str(port),
            "--db-url",
            _with_password(db_url, secret),
            "--worker",
            "none",
            "--read-only",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert f"open http://127.0.0.1:{port} in a browser" in banner, banner
        async with chromium_page(f"http://127.0.0.1:{port}/") as page:
            text = await wait_for_text(page, ("PENDING", "LIMBO"), tmp_path, tries=60)
        assert "PENDING" in text and "LIMBO" in text, text
        # One tab is one limbo-tui process, and its command line holds no password.
        sessions = subprocess.run(
            ["pgrep", "-a", "-f", "limbo_tui --worker none --read-only"],
            capture_output=True,
            text=True,
        ).stdout
        assert secret not in sessions
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    assert secret not in banner + out


def test_serve_refuses_a_taken_port(db_url: str) -> None:
    dbos28.create_schema(db_url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(COMMAND), "serve", "--port", str(port), "--db-url", db_url, "--worker", "none"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"limbo-tui: serve: 127.0.0.1:{port} is already in use: pick another with --port"
    )
