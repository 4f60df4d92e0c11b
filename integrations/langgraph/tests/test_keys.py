"""The key decides what a saver may do, on both paths: a wrong key is
refused (``UnauthorizedError``), a read key reads and never writes
(``ForbiddenError``), and nothing is stored by a refused call."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import empty_checkpoint
from pplane_client import ForbiddenError, UnauthorizedError

from pplane_langgraph import PplaneSaver

from .conftest import Plane

CONFIG: RunnableConfig = {"configurable": {"thread_id": "t-1", "checkpoint_ns": ""}}


def test_a_wrong_key_and_a_read_key_are_refused_blocking_and_asyncio(plane: Plane) -> None:
    wrong = plane.own.keys["runtime"][:-4] + "AAAA"
    with PplaneSaver(url=plane.base_url, api_key=wrong) as saver, pytest.raises(UnauthorizedError):
        saver.get_tuple(CONFIG)

    async def refused() -> None:
        async with PplaneSaver(url=plane.base_url, api_key=wrong) as saver:
            with pytest.raises(UnauthorizedError):
                await saver.aget_tuple(CONFIG)
        async with PplaneSaver(url=plane.base_url, api_key=plane.own.keys["read"]) as reader:
            with pytest.raises(ForbiddenError):
                await reader.aput(CONFIG, empty_checkpoint(), {}, {})
            assert await reader.aget_tuple(CONFIG) is None

    asyncio.run(refused())
    with PplaneSaver(url=plane.base_url, api_key=plane.own.keys["read"]) as reader:
        with pytest.raises(ForbiddenError):
            reader.put(CONFIG, empty_checkpoint(), {}, {})
        with pytest.raises(ForbiddenError):
            reader.delete_thread("t-1")
        assert list(reader.list(None)) == []
