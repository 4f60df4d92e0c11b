"""LangGraph's checkpointer protocol through the client, blocking and
asyncio: a thread's checkpoints and writes round-trip as bytes, a list
pages through them newest first, another tenant's same thread id is
another thread, and the deletions answer what they took."""

from __future__ import annotations

import asyncio
import base64

from pplane_client import models as m

from .plane import Plane


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def checkpoint(id: str, parent: str | None = None) -> m.CheckpointPutBody:
    return m.CheckpointPutBody(
        checkpoint_id=id,
        parent_checkpoint_id=parent,
        checkpoint={"v": 4, "id": id, "channel_versions": {"messages": id}},
        metadata={"source": "loop", "run_id": "lg-1", "parents": {}, "writes": None},
    )


def value(id: str, data: bytes) -> m.ChannelValue:
    return m.ChannelValue(channel="messages", version=id, value=m.Serialized(type="bytes", data=b64(data)))


def test_a_thread_round_trips_and_lists_newest_first_page_by_page(plane: Plane) -> None:
    ids = [f"{i:04}" for i in range(1, 104)]
    with plane.client("runtime") as pplane:
        parent = None
        for id in ids:
            pplane.langgraph.put("thread-1", checkpoint(id, parent), [value(id, b"\x00\xff" + id.encode())])
            parent = id
        write = m.PendingWrite(task_id="t", idx=0, channel="messages", value=m.Serialized(type="json", data=b64(b"1")))
        stored = pplane.langgraph.put_writes("thread-1", "0103", [write])
        assert stored.key.checkpoint_id == "0103"

        latest = pplane.langgraph.get("thread-1")
        assert latest is not None
        assert latest.key.checkpoint_id == "0103"
        assert base64.b64decode(latest.values[0].value.data or "") == b"\x00\xff0103"
        assert latest.metadata["writes"] is None
        assert [w.channel for w in latest.writes] == ["messages"]
        assert pplane.langgraph.get("thread-1", checkpoint_id="9999") is None

        listed = [t.key.checkpoint_id for t in pplane.langgraph.list(m.CheckpointSearchBody(thread_id="thread-1"))]
        assert listed == ids[::-1]
        older = pplane.langgraph.list(m.CheckpointSearchBody(before="0050", limit=2, metadata={"writes": None}))
        assert [t.key.checkpoint_id for t in older] == ["0049", "0048"]


def test_another_tenants_same_thread_is_another_thread_and_deletions_answer_what_they_took(plane: Plane) -> None:
    async def scenario() -> None:
        async with plane.aclient("runtime") as a, plane.aclient("runtime", plane.other) as b:
            await a.langgraph.put("shared", checkpoint("0001"), [value("0001", b"A")])
            await a.langgraph.put("shared", checkpoint("0002", "0001"))
            assert await b.langgraph.get("shared") is None
            assert (await b.langgraph.delete_thread("shared")).checkpoints == []
            assert [t async for t in b.langgraph.list()] == []

            copied = await a.langgraph.copy_thread("shared", "copy")
            assert len(copied.checkpoints) == 2
            pruned = await a.langgraph.prune(["shared"], "keep_latest")
            assert [k.checkpoint_id for k in pruned.checkpoints] == ["0001"]
            runs = await a.langgraph.delete_for_runs(["lg-1"])
            assert len(runs.checkpoints) == len(runs.events) == 3
            assert (await a.langgraph.delete_thread("copy")).checkpoints == []
            assert await a.langgraph.get("copy") is None

    asyncio.run(scenario())
