"""cancel_and_wait ends every task it is given, whatever each was doing or raised."""

from __future__ import annotations

import asyncio

from birbctl.tasks import cancel_and_wait


def test_every_task_ends_and_nothing_is_raised() -> None:
    async def run() -> None:
        async def forever() -> None:
            await asyncio.Event().wait()

        async def fails() -> None:
            raise RuntimeError("it broke")

        async def done() -> int:
            return 1

        tasks = [asyncio.create_task(c) for c in (forever(), fails(), done(), forever())]
        await asyncio.sleep(0)  # `fails` and `done` finish; the others wait
        async with asyncio.timeout(5):
            await cancel_and_wait(iter(tasks))  # any iterable, read once
        assert all(task.done() for task in tasks)
        assert [task.cancelled() for task in tasks] == [True, False, False, True]
        await cancel_and_wait([])

    asyncio.run(run())
