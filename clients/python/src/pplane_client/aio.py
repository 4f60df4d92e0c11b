"""The asyncio client: ``AsyncPplane`` and its handles on runs, steps and tool
calls. This file is the source of the blocking client too: ``_sync.py`` is
made from it by ``scripts/generate.py`` (``async``/``await`` dropped, the
``Async`` prefix removed), so the two never drift apart."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx
from typing_extensions import Unpack

from . import _calls as c
from . import models as m
from ._calls import ByArgs, Call
from ._common import DEFAULT_URL, RETRY_CAP_S, describe, outcome_body, parse, retryable
from .errors import NotFoundError, PplaneError

T = TypeVar("T")

# The most checkpoints one search answers (the server's limit).
PAGE_MAX = 100


class AsyncPplane:
    """A client of ``pplane serve``; use it as a context manager or close it.

    ``base_url`` and ``api_key`` default to ``$PPLANE_URL`` and ``$PPLANE_KEY``;
    ``http`` is a client of your own, used as it is (its base URL and headers).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        base_url = (base_url or os.environ.get("PPLANE_URL") or DEFAULT_URL).rstrip("/")
        api_key = api_key if api_key is not None else os.environ.get("PPLANE_KEY")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = http or httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout)
        self.signals = AsyncSignals(self)
        self.events = AsyncEvents(self)
        self.destinations = AsyncDestinations(self)
        self.outbox = AsyncOutbox(self)
        self.langgraph = AsyncLangGraph(self)

    async def send(self, call: Call[T]) -> T:
        """Sends one request; the answer as its model, or the problem as its exception."""
        http = self._http
        response = await http.request(call.method, call.path, json=call.json, params=call.params, headers=call.headers)
        return parse(call, response)

    def run(self, id: str) -> AsyncRun:
        """A handle on a run known by id (no request is made)."""
        return AsyncRun(self, str(id))

    def step(self, id: str) -> AsyncStep:
        """A handle on a step known by id (no request is made)."""
        return AsyncStep(self, str(id))

    async def trace(self, id: str) -> m.Trace:
        """The whole story of a run or a correlation: ``pplane trace --json``."""
        return await self.send(c.trace_get(id))

    async def effect(self, id: str) -> m.EffectDiagnosis:
        """An effect with its events and its outbox entry."""
        return await self.send(c.effect_get(id))

    async def alive(self) -> bool:
        """Whether the server process answers at all (False when it cannot be reached)."""
        return await self._probe("healthz", "alive")

    async def ready(self) -> bool:
        """Whether the server's database answers and its schema is current."""
        return await self._probe("readyz", "ready")

    async def _probe(self, path: str, healthy: str) -> bool:
        try:
            return (await self.send(c.health(path))).status == healthy
        except (httpx.TransportError, PplaneError):
            return False

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncPplane:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


@dataclass
class AsyncIngested:
    """What ingestion answered, and a handle on the run it started."""

    result: m.ChangedIngested
    run: AsyncRun

    @property
    def duplicate(self) -> bool:
        return self.result.duplicate


class AsyncSignals:
    def __init__(self, client: AsyncPplane) -> None:
        self._c = client

    async def ingest(
        self,
        channel: str,
        *,
        source_id: str | None = None,
        idempotency_key: str | None = None,
        payload: Any = None,
        domain_refs: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> AsyncIngested:
        """Ingests a signal; a retry with the same source id or key returns the first one."""
        call = c.signal_ingest(channel, source_id, idempotency_key, payload, domain_refs, actor)
        result = await self._c.send(call)
        return AsyncIngested(result, AsyncRun(self._c, str(result.run_id), str(result.correlation_id)))


class AsyncEvents:
    def __init__(self, client: AsyncPplane) -> None:
        self._c = client

    async def page(self, after: int = 0, limit: int | None = None, wait: int | None = None) -> m.Page:
        """One page of the tenant's events after ``after``, in sequence order."""
        return await self._c.send(c.events_page(after, limit, wait))

    async def tail(
        self,
        after: int = 0,
        *,
        limit: int = 100,
        wait: int = 20,
        on_reconnect: Callable[[Exception, int], None] | None = None,
    ) -> AsyncIterator[m.Event]:
        """Every event after ``after`` as it is appended; break out of the loop to stop.

        The cursor is the last event yielded, so after a dropped connection the
        tail asks again from there: nothing is skipped, nothing repeated.
        """
        delay = 0.2
        while True:
            try:
                page = await self._c.send(c.events_page(after, limit, wait))
            except Exception as error:
                if not retryable(error):
                    raise
                if on_reconnect:
                    on_reconnect(error, after)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_CAP_S)
                continue
            delay = 0.2
            for event in page.events:
                after = event.sequence_number
                yield event


class AsyncDestinations:
    def __init__(self, client: AsyncPplane) -> None:
        self._c = client

    async def list(self) -> list[m.Destination]:
        return (await self._c.send(c.destination_list())).destinations

    async def add(self, name: str, *, webhook: str | None = None, nats: str | None = None) -> m.Created:
        """Adds a destination (operator); a webhook's signing secret is shown only here."""
        return await self._c.send(c.destination_add(name, webhook, nats))


class AsyncOutbox:
    def __init__(self, client: AsyncPplane) -> None:
        self._c = client

    async def list(self, status: str | None = None, limit: int | None = None) -> list[m.OutboxEntry]:
        return await self._c.send(c.outbox_list(status, limit))

    async def stats(self) -> m.OutboxStats:
        return await self._c.send(c.outbox_stats())

    async def requeue(self, entry: str, **by: Unpack[ByArgs]) -> m.ChangedSettled:
        return await self._c.send(c.outbox_requeue(entry, by))

    async def purge(self, delivered_before: datetime) -> m.Purged:
        return await self._c.send(c.outbox_purge(delivered_before))


class AsyncLangGraph:
    """LangGraph's checkpointer protocol (``/v1/langgraph``), as ``pplane-langgraph``'s
    saver calls it. A thread id is the tenant's own name; values are their
    serializer's type tag and base64 bytes."""

    def __init__(self, client: AsyncPplane) -> None:
        self._c = client

    async def put(
        self, thread_id: str, put: m.CheckpointPutBody, values: Sequence[m.ChannelValue] = ()
    ) -> m.ChangedStoredCheckpoint:
        """Stores a checkpoint with the values of the channels it makes new."""
        return await self._c.send(c.langgraph_checkpoint_put(thread_id, put, values))

    async def put_writes(
        self,
        thread_id: str,
        checkpoint_id: str,
        writes: Sequence[m.PendingWrite],
        *,
        checkpoint_ns: str = "",
        actor: str | None = None,
    ) -> m.ChangedStoredCheckpoint:
        """Stores a task's pending writes against a checkpoint."""
        return await self._c.send(c.langgraph_writes_put(thread_id, checkpoint_ns, checkpoint_id, writes, actor))

    async def get(
        self, thread_id: str, checkpoint_ns: str = "", checkpoint_id: str | None = None
    ) -> m.CheckpointTuple | None:
        """A checkpoint with its values and writes (the newest when no id is given); None when there is none."""
        try:
            return await self._c.send(c.langgraph_tuple_get(thread_id, checkpoint_ns, checkpoint_id))
        except NotFoundError:
            return None

    async def list(self, search: m.CheckpointSearchBody | None = None) -> AsyncIterator[m.CheckpointTuple]:
        """Checkpoints that match, newest first, every page in turn (``limit`` caps the whole)."""
        search = search or m.CheckpointSearchBody()
        left = search.limit
        while left is None or left > 0:
            page_size = min(left or PAGE_MAX, PAGE_MAX)
            page = await self._c.send(c.langgraph_checkpoint_search(search.model_copy(update={"limit": page_size})))
            for tuple_ in page.checkpoints:
                yield tuple_
            if len(page.checkpoints) < page_size:
                return
            left = None if left is None else left - page_size
            search = search.model_copy(update={"before": page.checkpoints[-1].key.checkpoint_id})

    async def delete_thread(self, thread_id: str) -> m.ChangedCheckpointKeys:
        """Deletes a thread's checkpoints and writes (each recorded; its run stays)."""
        return await self._c.send(c.langgraph_thread_delete(thread_id))

    async def delete_for_runs(self, run_ids: Sequence[str], actor: str | None = None) -> m.ChangedCheckpointKeys:
        """Deletes the checkpoints of these LangGraph runs, in every thread."""
        return await self._c.send(c.langgraph_runs_delete(run_ids, actor))

    async def copy_thread(self, source: str, target: str, actor: str | None = None) -> m.ChangedCheckpointKeys:
        """Copies every checkpoint of a thread, with its values and writes, into another thread."""
        return await self._c.send(c.langgraph_thread_copy(source, target, actor))

    async def prune(
        self, thread_ids: Sequence[str], strategy: str = "keep_latest", actor: str | None = None
    ) -> m.ChangedCheckpointKeys:
        """Keeps each namespace's newest checkpoint (``keep_latest``), or deletes every one (``delete``)."""
        return await self._c.send(c.langgraph_prune(thread_ids, strategy, actor))


class AsyncRun:
    """A run: ``start``, ``step(...)``, ``checkpoint``, ``effect``, ``complete``.

    ``latest`` is the last answer a change got; its ``events`` name what to pass
    as ``caused_by`` for what the change sets off.
    """

    def __init__(self, client: AsyncPplane, id: str, correlation_id: str | None = None) -> None:
        self._c = client
        self.id = id
        self.correlation_id = correlation_id
        self.latest: m.ChangedRun | None = None

    async def _move(self, move: str, by: ByArgs, **fields: Any) -> m.ChangedRun:
        self.latest = await self._c.send(c.run_move(self.id, move, by, **fields))
        return self.latest

    async def get(self) -> m.RunView:
        """The run as an orchestrator resumes it: the run, its steps, its latest checkpoint."""
        return await self._c.send(c.run_get(self.id))

    async def start(self, **by: Unpack[ByArgs]) -> m.ChangedRun:
        return await self._move("start", by)

    async def complete(self, **by: Unpack[ByArgs]) -> m.ChangedRun:
        return await self._move("complete", by)

    async def fail(self, error: Any, **by: Unpack[ByArgs]) -> m.ChangedRun:
        return await self._move("fail", by, error=error)

    async def cancel(self, reason: str, **by: Unpack[ByArgs]) -> m.ChangedRun:
        return await self._move("cancel", by, reason=reason)

    def step(
        self, step_type: str, *, input: Any = None, index: int | None = None, **by: Unpack[ByArgs]
    ) -> AsyncPendingStep:
        """A step of type ``step_type``: ``.add()`` schedules it, ``.start()`` also starts it."""
        return AsyncPendingStep(self._c, self.id, step_type, input, index, by)

    async def checkpoint(
        self, state: Any, *, last_step_index: int | None = None, **by: Unpack[ByArgs]
    ) -> m.ChangedCheckpoint:
        """Saves the orchestrator's state; a resume starts from the newest."""
        return await self._c.send(c.checkpoint_save(self.id, state, last_step_index, by))

    async def latest_checkpoint(self) -> m.Checkpoint | None:
        """The newest checkpoint, or None when the run has none."""
        try:
            return await self._c.send(c.checkpoint_latest(self.id))
        except NotFoundError:
            # A missing run is a 404 too: it is the run's absence only if the
            # run itself cannot be read (which raises that NotFoundError).
            await self.get()
            return None

    async def checkpoints(self, page_size: int = 50) -> AsyncIterator[m.Checkpoint]:
        """Every checkpoint of the run, newest first, fetched a page at a time."""
        before: int | None = None
        while True:
            page = await self._c.send(c.checkpoint_list(self.id, before, page_size))
            for checkpoint in page.checkpoints:
                yield checkpoint
            if page.next_before is None:
                return
            before = page.next_before

    async def effect(
        self,
        effect_type: str,
        *,
        idempotency_key: str,
        destination: str | None = None,
        spec: dict[str, Any] | None = None,
        step: AsyncStep | str | None = None,
        **by: Unpack[ByArgs],
    ) -> m.ChangedRequested:
        """Asks for an external effect; the outbox worker delivers it after this commits."""
        body = {
            "effect_type": effect_type,
            "idempotency_key": idempotency_key,
            "destination": destination,
            "spec": spec or {},
            "step_id": step.id if isinstance(step, AsyncStep) else step,
        }
        return await self._c.send(c.effect_request(self.id, body, by))

    async def diagnose(self) -> m.RunDiagnosis:
        return await self._c.send(c.run_diagnose(self.id))

    async def trace(self) -> m.Trace:
        return await self._c.send(c.trace_get(self.id))


class AsyncPendingStep:
    """A step about to be scheduled."""

    def __init__(
        self, client: AsyncPplane, run: str, step_type: str, input: Any, index: int | None, by: ByArgs
    ) -> None:
        self._c, self._run, self._type, self._input, self._index, self._by = client, run, step_type, input, index, by

    async def add(self) -> AsyncStep:
        """Schedules the step (PENDING)."""
        added = await self._c.send(c.step_add(self._run, self._type, self._input, self._index, self._by))
        step = AsyncStep(self._c, str(added.id))
        step.latest = added
        return step

    async def start(self) -> AsyncStep:
        """Schedules the step and starts it (RUNNING)."""
        step = await self.add()
        await step.start()
        return step


class AsyncStep:
    def __init__(self, client: AsyncPplane, id: str) -> None:
        self._c = client
        self.id = id
        self.latest: m.ChangedStep | None = None

    async def _move(self, move: str, by: ByArgs, **fields: Any) -> m.ChangedStep:
        self.latest = await self._c.send(c.step_move(self.id, move, by, **fields))
        return self.latest

    async def start(self, **by: Unpack[ByArgs]) -> m.ChangedStep:
        return await self._move("start", by)

    async def complete(self, output: Any = None, **by: Unpack[ByArgs]) -> m.ChangedStep:
        return await self._move("complete", by, output=output)

    async def fail(self, error: Any, **by: Unpack[ByArgs]) -> m.ChangedStep:
        return await self._move("fail", by, error=error)

    async def retry(
        self,
        *,
        max_retries: int | None = None,
        base_delay_ms: int | None = None,
        max_delay_ms: int | None = None,
        **by: Unpack[ByArgs],
    ) -> m.ChangedStep:
        """A FAILED step back to PENDING under a retry policy (the plane's defaults otherwise)."""
        policy = {"max_retries": max_retries, "base_delay_ms": base_delay_ms, "max_delay_ms": max_delay_ms}
        return await self._move("retry", by, **policy)

    async def skip(self, reason: str, **by: Unpack[ByArgs]) -> m.ChangedStep:
        return await self._move("skip", by, reason=reason)

    async def cancel(self, reason: str, **by: Unpack[ByArgs]) -> m.ChangedStep:
        return await self._move("cancel", by, reason=reason)

    def tool(self, name: str, args: Any = None, **by: Unpack[ByArgs]) -> AsyncPendingToolCall:
        """A call of tool ``name`` made by this step."""
        return AsyncPendingToolCall(self._c, self.id, name, args, by)


class AsyncPendingToolCall:
    """A tool call about to be recorded."""

    def __init__(self, client: AsyncPplane, step: str, name: str, args: Any, by: ByArgs) -> None:
        self._c, self._step, self._name, self._args, self._by = client, step, name, args, by

    async def start(self) -> AsyncToolCall:
        """Records the call as RUNNING."""
        started = await self._c.send(c.tool_call_start(self._step, self._name, self._args, self._by))
        call = AsyncToolCall(self._c, str(started.id))
        call.latest = started
        return call

    async def finish(self, *, result: Any = None, error: Any = None) -> AsyncToolCall:
        """Records a call that has already happened: its start and its outcome."""
        call = await self.start()
        await call.finish(result=result, error=error, **self._actor())
        return call

    async def run(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Records the call around ``fn``: COMPLETED with what it returns, or FAILED
        with what it raises (which is raised on)."""
        call = await self.start()
        try:
            value = await fn()
        except Exception as error:
            await call.finish(error=describe(error), **self._actor())
            raise
        await call.finish(result=value, **self._actor())
        return value

    def _actor(self) -> ByArgs:
        """The call's end is recorded by whoever started it."""
        return {"actor": self._by["actor"]} if "actor" in self._by else {}


class AsyncToolCall:
    def __init__(self, client: AsyncPplane, id: str) -> None:
        self._c = client
        self.id = id
        self.latest: m.ChangedToolCall | None = None

    async def finish(self, *, result: Any = None, error: Any = None, **by: Unpack[ByArgs]) -> m.ChangedToolCall:
        """Exactly one outcome: ``error`` when given, else ``result``."""
        self.latest = await self._c.send(c.tool_call_finish(self.id, outcome_body(result, error), by))
        return self.latest
