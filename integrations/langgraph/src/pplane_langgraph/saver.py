"""``PplaneSaver``: LangGraph's ``BaseCheckpointSaver`` on ``pplane serve``.

Each call is one request and one transaction on the server, under the API
key's tenant. Values go through LangGraph's serde protocol (``dumps_typed``)
and travel as their type tag and base64 bytes; a channel's value is sent
once, with the checkpoint that makes its version new."""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from pplane_client import Pplane
from pplane_client import models as m

from .transport import AiohttpPplane

# A channel in `new_versions` with no value in the checkpoint (LangGraph
# bumps a version when it empties a channel): stored without bytes and left
# out of `channel_values` when read back.
EMPTY = "empty"
# The most threads one prune request names.
PRUNE_CHUNK = 1000


class PplaneSaver(BaseCheckpointSaver[str]):
    """Stores LangGraph checkpoints in a pplane plane, in the API key's tenant.

    ``url`` and ``api_key`` default to ``$PPLANE_URL`` and ``$PPLANE_KEY``;
    the key fixes the tenant, so two tenants' same ``thread_id`` are two
    threads. ``actor`` names who changes the threads in the plane's events
    (default ``user:<the key's principal>``). Use it as a context manager
    (``with`` or ``async with``), or call ``close``/``aclose``.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        actor: str | None = None,
        serde: SerializerProtocol | None = None,
        timeout: float = 60.0,
    ) -> None:
        super().__init__(serde=serde)
        self._url, self._key, self._timeout, self._actor = url, api_key, timeout, actor
        self._client: Pplane | None = None
        # An asyncio client belongs to the event loop it was made on.
        self._aclients: dict[asyncio.AbstractEventLoop, AiohttpPplane] = {}

    # --- Clients ------------------------------------------------------------

    @property
    def client(self) -> Pplane:
        if self._client is None:
            self._client = Pplane(self._url, self._key, timeout=self._timeout)
        return self._client

    @property
    def aclient(self) -> AiohttpPplane:
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            self._aclients = {k: v for k, v in self._aclients.items() if not k.is_closed()}
            client = self._aclients[loop] = AiohttpPplane(self._url, self._key, timeout=self._timeout)
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        self.close()
        client = self._aclients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def __enter__(self) -> PplaneSaver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> PplaneSaver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- The protocol, blocking ---------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread, ns, checkpoint_id = _where(config)
        found = self.client.langgraph.get(thread, ns, checkpoint_id)
        return None if found is None else self._tuple(found)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        for found in self.client.langgraph.list(_search(config, filter, before, limit)):
            yield self._tuple(found)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        thread, body, values = self._put(config, checkpoint, metadata, new_versions)
        self.client.langgraph.put(thread, body, values)
        return _config(thread, body.checkpoint_ns or "", body.checkpoint_id)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        thread, ns, checkpoint_id = _where(config)
        pending = self._writes(writes, task_id, task_path)
        self.client.langgraph.put_writes(thread, cast(str, checkpoint_id), pending, checkpoint_ns=ns, actor=self._actor)

    def delete_thread(self, thread_id: str) -> None:
        self.client.langgraph.delete_thread(str(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            self.client.langgraph.delete_for_runs([str(r) for r in run_ids], self._actor)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self.client.langgraph.copy_thread(str(source_thread_id), str(target_thread_id), self._actor)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        for chunk in _chunks(thread_ids, strategy):
            self.client.langgraph.prune(chunk, strategy, self._actor)

    # --- The protocol, asyncio ----------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread, ns, checkpoint_id = _where(config)
        found = await self.aclient.langgraph.get(thread, ns, checkpoint_id)
        return None if found is None else self._tuple(found)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        async for found in self.aclient.langgraph.list(_search(config, filter, before, limit)):
            yield self._tuple(found)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        thread, body, values = self._put(config, checkpoint, metadata, new_versions)
        await self.aclient.langgraph.put(thread, body, values)
        return _config(thread, body.checkpoint_ns or "", body.checkpoint_id)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        thread, ns, checkpoint_id = _where(config)
        pending = self._writes(writes, task_id, task_path)
        await self.aclient.langgraph.put_writes(
            thread, cast(str, checkpoint_id), pending, checkpoint_ns=ns, actor=self._actor
        )

    async def adelete_thread(self, thread_id: str) -> None:
        await self.aclient.langgraph.delete_thread(str(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            await self.aclient.langgraph.delete_for_runs([str(r) for r in run_ids], self._actor)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self.aclient.langgraph.copy_thread(str(source_thread_id), str(target_thread_id), self._actor)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        for chunk in _chunks(thread_ids, strategy):
            await self.aclient.langgraph.prune(chunk, strategy, self._actor)

    def get_next_version(self, current: str | None, channel: None) -> str:
        """A version that sorts after ``current`` as text: a zero-padded
        counter, then a random fraction so that two writers' versions of one
        channel differ."""
        if current is None:
            counter = 0
        elif isinstance(current, int):
            counter = current
        else:
            counter = int(current.split(".")[0])
        return f"{counter + 1:032}.{random.random():016}"

    # --- Between LangGraph's shapes and the API's ----------------------------

    def _put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> tuple[str, m.CheckpointPutBody, Sequence[m.ChannelValue]]:
        thread, ns, parent = _where(config)
        document = {k: v for k, v in checkpoint.items() if k != "channel_values"}
        channel_values = checkpoint["channel_values"]
        values = [
            m.ChannelValue(
                channel=channel,
                version=str(version),
                value=self._dump(channel_values[channel]) if channel in channel_values else m.Serialized(type=EMPTY),
            )
            for channel, version in new_versions.items()
        ]
        body = m.CheckpointPutBody(
            checkpoint_ns=ns,
            checkpoint_id=checkpoint["id"],
            parent_checkpoint_id=parent,
            checkpoint=document,
            metadata=_json_safe(get_checkpoint_metadata(config, metadata)),
            actor=self._actor,
        )
        return thread, body, values

    def _writes(self, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str) -> Sequence[m.PendingWrite]:
        return [
            m.PendingWrite(
                task_id=task_id,
                idx=WRITES_IDX_MAP.get(channel, i),
                channel=channel,
                value=self._dump(value),
                task_path=task_path,
            )
            for i, (channel, value) in enumerate(writes)
        ]

    def _dump(self, value: Any) -> m.Serialized:
        kind, data = self.serde.dumps_typed(value)
        return m.Serialized(type=kind, data=base64.b64encode(data).decode("ascii"))

    def _load(self, value: m.Serialized) -> Any:
        return self.serde.loads_typed((value.type, base64.b64decode(value.data or "")))

    def _tuple(self, found: m.CheckpointTuple) -> CheckpointTuple:
        key = found.key
        ns = key.checkpoint_ns or ""
        checkpoint = cast(Checkpoint, dict(found.checkpoint))
        checkpoint["channel_values"] = {v.channel: self._load(v.value) for v in found.values if v.value.type != EMPTY}
        parent = None
        if found.parent_checkpoint_id:
            parent = _config(key.thread_id, ns, found.parent_checkpoint_id)
        return CheckpointTuple(
            config=_config(key.thread_id, ns, key.checkpoint_id),
            checkpoint=checkpoint,
            metadata=cast(CheckpointMetadata, found.metadata),
            parent_config=parent,
            pending_writes=[(w.task_id, w.channel, self._load(w.value)) for w in found.writes],
        )


def _where(config: RunnableConfig) -> tuple[str, str, str | None]:
    """The thread, namespace and checkpoint id a config names."""
    configurable = config["configurable"]
    return str(configurable["thread_id"]), configurable.get("checkpoint_ns") or "", get_checkpoint_id(config)


def _config(thread: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}}


def _search(
    config: RunnableConfig | None,
    filter: dict[str, Any] | None,
    before: RunnableConfig | None,
    limit: int | None,
) -> m.CheckpointSearchBody:
    search = m.CheckpointSearchBody(
        metadata=_json_safe(filter) if filter else None,
        before=get_checkpoint_id(before) if before else None,
        limit=limit,
    )
    if config is not None:
        configurable = config.get("configurable", {})
        if "thread_id" in configurable:
            search.thread_id = str(configurable["thread_id"])
        # A namespace is a filter only when the config names one.
        if configurable.get("checkpoint_ns") is not None:
            search.checkpoint_ns = configurable["checkpoint_ns"]
        search.checkpoint_id = get_checkpoint_id(config)
    return search


def _chunks(thread_ids: Sequence[str], strategy: str) -> Iterator[list[str]]:
    if strategy not in ("keep_latest", "delete"):
        raise ValueError(f"unknown prune strategy {strategy!r}: use 'keep_latest' or 'delete'")
    threads = [str(t) for t in thread_ids]
    for start in range(0, len(threads), PRUNE_CHUNK):
        yield threads[start : start + PRUNE_CHUNK]


def _json_safe(value: Any) -> Any:
    """Metadata as JSON PostgreSQL stores: text without NUL (jsonb refuses
    it), keys as text, anything else JSON cannot hold as its text."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return str(value)
