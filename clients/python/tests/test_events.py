"""The tail of the tenant's log delivers every event once, in order, while
writers append and the server restarts under it."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from .plane import Plane


def test_the_tail_sees_every_event_exactly_once_across_a_server_restart(plane: Plane) -> None:
    seen: list[int] = []
    reconnects: list[int] = []
    stop = threading.Event()

    def follow() -> None:
        with plane.client("read") as reader:
            for event in reader.events.tail(limit=7, wait=1, on_reconnect=lambda _e, after: reconnects.append(after)):
                seen.append(event.sequence_number)
                if stop.is_set() and len(seen) >= expected:
                    return

    expected = 4 * 10 * 3  # signal received, run created, run started
    follower = threading.Thread(target=follow, daemon=True)
    follower.start()

    def drive(first: int, last: int) -> None:
        def writer(w: int) -> None:
            with plane.client("runtime") as pplane:
                for i in range(first, last):
                    pplane.signals.ingest("load", source_id=f"w{w}-{i}").run.start()

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(writer, range(4)))

    drive(0, 5)
    plane.restart()
    drive(5, 10)
    stop.set()
    follower.join(timeout=30)
    assert reconnects, "the restart cut the tail's connection"
    assert seen == list(range(1, expected + 1)), "every position once, in order, no gaps"


def test_the_asyncio_tail_resumes_after_the_position_it_is_given(plane: Plane) -> None:
    with plane.client("runtime") as writer:
        for i in range(3):
            writer.signals.ingest("load", source_id=f"s{i}")

    async def read() -> list[int]:
        async with plane.aclient("read") as reader:
            first = await reader.events.page(after=0, limit=4)
            assert len(first.events) == 4 and first.next_after == 4
            rest: list[int] = []
            async for event in reader.events.tail(after=first.next_after, wait=1):
                rest.append(event.sequence_number)
                if len(rest) == 2:
                    break
            return rest

    assert asyncio.run(read()) == [5, 6]
