"""The report pages in a real browser: every deployable running (the analytics projection among them),
the scenario of tests/integration/test_analytics_projection.py in the store, and headless Chromium
(Debian's ``chromium``, driven by Playwright) loading each page: it loads, every chart draws the right
number of series, and the console stays free of errors.

Chromium is installed with apt-get when it is missing and we are root (as hub/stack/postgres.py does
for PostgreSQL); otherwise the test is skipped, saying why.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from plumbing.eventstore.postgres import Conn
from plumbing.projection import checkpoint
from tests.integration.test_analytics_projection import WINDOW, append_all, build
from tests.support.access import issue_key_async
from tests.support.deployables import RunningHub

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
#: page -> series its chart must draw: the funnel's four stages; revenue of chat, pos and social (email
#: earned only first-touch revenue); three response-time figures; one line per configured segment.
EXPECTED_SERIES = {"funnel": 4, "revenue": 3, "staff": 3, "segments": 5}


def ensure_chromium() -> Path:
    """Debian's chromium: found, or installed with apt-get when root; else the test is skipped."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(
            f"headless Chromium is not at {CHROMIUM} and cannot be installed here (needs root and apt-get):"
            " install Debian's `chromium` package"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=1200)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(argv)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return CHROMIUM


async def _projected(dsn: str, timeout_s: float = 60) -> None:
    """Wait (with a deadline) until the analytics projection has applied the whole log."""
    async with AsyncConnectionPool[Conn](dsn, min_size=1, max_size=2) as pool:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT coalesce(max(position), 0) FROM events")
            row = await cur.fetchone()
        last = int(row[0]) if row else 0
        deadline = asyncio.get_running_loop().time() + timeout_s
        while await checkpoint(pool, "analytics") < last:
            assert asyncio.get_running_loop().time() < deadline, "analytics projection did not catch up"
            await asyncio.sleep(0.2)


async def test_report_pages_draw_their_charts_in_chromium_without_console_errors(
    hub: RunningHub, tmp_path: Path
) -> None:
    browser_path = ensure_chromium()
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
    async with AsyncConnectionPool[Conn](hub.dsn, min_size=1, max_size=2) as pool:
        await append_all(pool, build())
    await _projected(hub.dsn)
    key = (await issue_key_async(hub.dsn, "pages-analyst", ["marketing_analyst"])).key
    async with playwright_api.async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=str(browser_path), args=["--no-sandbox", "--disable-gpu"]
        )
        context = await browser.new_context(extra_http_headers={"Authorization": f"Bearer {key}"})
        problems: list[str] = []
        for report, series in EXPECTED_SERIES.items():
            page = await context.new_page()
            page.on(
                "console",
                lambda m, r=report: problems.append(f"{r}: {m.text}") if m.type == "error" else None,
            )
            page.on("pageerror", lambda e, r=report: problems.append(f"{r}: {e}"))
            url = f"{hub.ports.api_url}/v1/analytics/pages/{report}?from={WINDOW['from']}&to={WINDOW['to']}"
            answer = await page.goto(url)
            assert answer is not None and answer.status == 200, report
            await page.wait_for_function("document.body.dataset.chartsReady === '1'", timeout=15_000)
            drawn = await page.evaluate(
                "window.hubCharts.map(c => ({series: c.data.datasets.length, width: c.width,"
                " points: c.data.datasets.map((d, i) => c.getDatasetMeta(i).data.length)}))"
            )
            assert len(drawn) == 1 and drawn[0]["series"] == series, (report, drawn)
            assert drawn[0]["width"] > 0 and all(n > 0 for n in drawn[0]["points"]), (report, drawn)
            await page.screenshot(path=str(tmp_path / f"{report}.png"), full_page=True)
            await page.close()
        await browser.close()
    assert problems == []
