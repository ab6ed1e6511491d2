import asyncio
import sys
from collections.abc import AsyncIterator

import pytest


@pytest.fixture(autouse=True)
async def _dump_on_hang() -> AsyncIterator[None]:
    async def dump() -> None:
        await asyncio.sleep(30)
        for task in asyncio.all_tasks():
            task.print_stack(limit=10, file=sys.stderr)
        sys.stderr.flush()

    d = asyncio.create_task(dump())
    yield
    d.cancel()
