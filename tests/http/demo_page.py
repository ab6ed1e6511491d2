"""``make demo``'s picture of the live page: the real service with an emulated meter and two
emulated chargers for half a minute of an evening (the oven on L1 for a while), then a
screenshot of ``/`` in headless Chromium: ``python -m tests.http.demo_page out/status.png``."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from tests.http.helpers import ARGS, CHROMIUM, THREE, live_site
from tests.service.harness import Box

#: seconds of the evening, and the house per phase in each (the oven on L1 from 10 s to 20 s)
SECONDS = 30


def house_at(second: int) -> tuple[float, float, float]:
    oven = 9.0 if 10 <= second < 20 else 0.0
    return (2.5 + oven, 1.5 + (second % 7) * 0.3, 3.0)


async def main(out: Path) -> None:
    from playwright.async_api import async_playwright

    boxes = [Box("carport", "alfen-eve", THREE), Box("garage", "vestel-evc04", ["L2"])]
    with tempfile.TemporaryDirectory() as tmp:
        async with live_site(Path(tmp), boxes) as live, async_playwright() as playwright:
            for second in range(SECONDS):
                await live.site.telegram(house_at(second))
                await asyncio.sleep(1.0)
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = await browser.new_page(viewport={"width": 1000, "height": 900})
            await page.goto(live.base + "/")
            await page.wait_for_selector("body[data-decisions]")
            out.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(out), full_page=True)
            await browser.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else "out/status.png")))
