"""A real headless Chromium for tests, driven over the DevTools protocol, and OCR of its
screenshots: textual-serve draws the terminal on a canvas, so the text a user reads is in
the pixels only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TESSERACT = shutil.which("tesseract")

# The flags this machine needs: no sandbox as root, no GPU, and no background traffic to
# hosts a closed network cannot reach.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._next = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        await self._ws.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = await self._ws.receive_json()
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    async def screenshot(self, path: Path) -> Path:
        result = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(result["data"]))
        return path


@asynccontextmanager
async def chromium_page(url: str, width: int = 1400, height: int = 900) -> AsyncIterator[Page]:
    assert CHROMIUM is not None
    profile = tempfile.mkdtemp(prefix="limbo-tui-chromium-")
    proc = subprocess.Popen(
        [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # Its singleton socket dir goes in the profile, and with it when the page ends.
        env={**os.environ, "TMPDIR": profile},
    )
    try:
        assert proc.stderr is not None
        endpoint = None
        for line in proc.stderr:
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            if found:
                endpoint = found.group(1)
                break
        assert endpoint, "chromium did not start its DevTools endpoint"
        base = "http://" + endpoint.split("/")[2]
        async with aiohttp.ClientSession() as http:
            async with http.put(f"{base}/json/new?about:blank") as response:
                target = await response.json(content_type=None)
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                await page.call("Page.enable")
                await page.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=width,
                    height=height,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                await page.call("Page.navigate", url=url)
                yield page
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def ocr(path: Path) -> str:
    assert TESSERACT is not None
    done = subprocess.run(
        [TESSERACT, str(path), "-", "--psm", "6"], capture_output=True, text=True, check=True
    )
    return done.stdout


async def wait_for_text(page: Page, needles: tuple[str, ...], shots: Path, tries: int) -> str:
    """Screenshot and read the page until every needle is on it; returns the last text."""
    text = ""
    for i in range(tries):
        try:
            shot = await page.screenshot(shots / f"shot-{i}.png")
        except RuntimeError:
            # A page still loading (or a loaded machine) can refuse a capture: try again.
            await asyncio.sleep(1.0)
            continue
        text = await asyncio.to_thread(ocr, shot)
        if all(n in text for n in needles):
            return text
        await asyncio.sleep(1.0)
    return text
