"""The live page in a real browser: Debian's Chromium, headless, driven by Playwright, against
the real service (TCP meter, emulated charger)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.http.helpers import ARGS, CHROMIUM, HAVE_CHROMIUM, Live, live_site

#: set to a folder to keep the screenshots (to look at the page)
SHOTS = os.environ.get("LOADBALANCER_SCREENSHOTS")


def no_chromium(*, ci: bool) -> None:
    """Skip with one line on a developer's machine; fail in CI, which installs it (.ci/run)."""
    message = "no /usr/bin/chromium: apt-get install chromium"
    if ci:
        pytest.fail(message)
    pytest.skip(message)


def test_without_chromium_ci_fails_where_a_developer_skips() -> None:
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium"):
        no_chromium(ci=True)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        no_chromium(ci=False)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        no_chromium(ci=os.environ.get("CI") == "true")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def open_page(browser: Any, live: Live, **context: Any) -> tuple[Any, list[str]]:
    """The page at ``/`` once it shows a decision; the console's errors and the page's."""
    page = await (await browser.new_context(**context)).new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    await page.goto(live.base + "/")
    await page.wait_for_selector("body[data-decisions]")
    return page, problems


async def shown(page: Any, selector: str) -> str:
    return str(await page.locator(selector).inner_text())


def amps(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f} A"


async def same_decision(page: Any, live: Live) -> tuple[dict[str, Any], dict[str, str]]:
    """``/status`` and the page's texts for one decision (retried while ticks come between)."""
    selectors = [
        f"[data-phase={phase}] {cell}"
        for phase in ("L1", "L2", "L3")
        for cell in (".meter-a", ".house-a", ".allowed-a", ".rating-a")
    ]
    selectors += [f"[data-charger=carport] {c}" for c in (".limit", ".reason", ".reason-words")]
    selectors.append("#ready")
    for _ in range(50):
        status = await live.status()
        await page.wait_for_function(
            f"() => document.body.dataset.decisions >= {status['decisions']}"
        )
        before = int(await page.evaluate("document.body.dataset.decisions"))
        seen = {selector: await shown(page, selector) for selector in selectors}
        after = int(await page.evaluate("document.body.dataset.decisions"))
        if before == after == status["decisions"]:
            return status, seen
    raise AssertionError("the page and /status never showed the same decision in 50 tries")


async def test_the_page_shows_what_status_says_and_follows_each_decision(
    tmp_path: Path, browser: Any
) -> None:
    async with live_site(tmp_path) as live:
        await live.settle((3.0, 1.0, 2.0), "carport", 16.0)
        page, problems = await open_page(browser, live)
        # the page shows what /status says for the same decision: both are read, and the page's
        # decision counter checked before and after, until no control tick came in between
        status, seen = await same_decision(page, live)
        for phase in status["phases"]:
            row = f"[data-phase={phase['phase']}]"
            assert seen[f"{row} .meter-a"] == amps(phase["meter_a"])
            assert seen[f"{row} .house-a"] == amps(phase["house_a"])
            assert seen[f"{row} .allowed-a"] == amps(phase["allowed_a"])
            assert seen[f"{row} .rating-a"] == amps(phase["rating_a"], 0)
        (charger,) = status["chargers"]
        card = "[data-charger=carport]"
        assert seen[f"{card} .limit"] == "16 A" == f"{round(charger['limit_a'], 1):g} A"
        assert seen[f"{card} .reason"] == charger["reason"]
        assert seen[f"{card} .reason-words"] == charger["reason_words"]
        assert seen["#ready"] == "ready"
        assert await page.locator("#tariff").is_hidden()  # no tariff on this site
        # the house load changes: the page follows over /events, without a reload
        await live.site.telegram((9.0, 1.0, 2.0))
        await page.wait_for_function(
            "() => document.querySelector('[data-phase=L1] .house-a').textContent.startsWith('9.')",
            timeout=5000,
        )
        assert await page.locator("canvas#chart").count() == 1
        if SHOTS:
            await page.screenshot(path=str(Path(SHOTS) / "status-desktop.png"), full_page=True)
        assert problems == []


async def test_on_a_phone_nothing_overflows_sideways(tmp_path: Path, browser: Any) -> None:
    async with live_site(tmp_path) as live:
        await live.site.telegram((2.0, 2.0, 2.0))
        page, problems = await open_page(
            browser, live, viewport={"width": 360, "height": 740}, device_scale_factor=2
        )
        widths = await page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1] == 360
        assert await page.locator("[data-charger=carport]").is_visible()
        if SHOTS:
            await page.screenshot(path=str(Path(SHOTS) / "status-phone.png"), full_page=True)
        assert problems == []


async def test_the_page_tells_the_tariff_interval_energy_against_its_budget(
    tmp_path: Path, browser: Any
) -> None:
    tariff = {"profile": "generic-hourly", "budget_kw": 5.0, "state_dir": str(tmp_path / "st")}
    async with live_site(tmp_path, sections={"tariff": tariff}) as live:
        while not (await live.status())["tariff"]["limited"]:  # a register reading or two
            await live.site.telegram((2.0, 2.0, 2.0))
            await asyncio.sleep(0.2)
        page, problems = await open_page(browser, live)
        status = await live.status()
        await page.wait_for_function(
            f"() => document.body.dataset.decisions >= {status['decisions']}"
        )
        status = await live.status()
        t = status["tariff"]
        line = await shown(page, "#tariff")
        assert line.startswith("Capacity tariff (generic-hourly): ")
        assert f"{t['energy_kwh_so_far']:.2f} kWh so far of 5.00 kWh" in line
        assert f"from {t['interval_start'][11:16]} (budget 5 kW)" in line
        assert problems == []
