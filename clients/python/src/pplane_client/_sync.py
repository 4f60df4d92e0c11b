"""The blocking client: ``Pplane`` and its handles on runs, steps and tool
calls. Made from ``aio.py`` by ``scripts/generate.py``; edit that file, not
this one."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
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


class Pplane:
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
        http: httpx.Client | None = None,
    ) -> None:
        base_url = (base_url or os.environ.get("PPLANE_URL") or DEFAULT_URL).rstrip("/")
        api_key = api_key if api_key is not None else os.environ.get("PPLANE_KEY")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = http or httpx.Client(base_url=base_url, headers=headers, timeout=timeout)
        self.signals = Signals(self)
        self.events = Events(self)
        self.destinations = Destinations(self)
        self.outbox = Outbox(self)
        self.langgraph = LangGraph(self)

    def send(self, call: Call[T]) -> T:
        """Sends one request; the answer as its model, or the problem as its exception."""
        http = self._http
        response = http.request(call.method, call.path, json=call.json, params=call.params, headers=call.headers)
        return parse(call, response)

    def run(self, id: str) -> Run:
        """A handle on a run known by id (no request is made)."""
        return Run(self, str(id))

    def step(self, id: str) -> Step:
        """A handle on a step known by id (no request is made)."""
        return Step(self, str(id))

    def trace(self, id: str) -> m.Trace:
        """The whole story of a run or a correlation: ``pplane trace --json``."""
        return self.send(c.trace_get(id))

    def effect(self, id: str) -> m.EffectDiagnosis:
        """An effect with its events and its outbox entry."""
        return self.send(c.effect_get(id))

    def alive(self) -> bool:
        """Whether the server process answers at all (False when it cannot be reached)."""
        return self._probe("healthz", "alive")

    def ready(self) -> bool:
        """Whether the server's database answers and its schema is current."""
        return self._probe("readyz", "ready")

    def _probe(self, path: str, healthy: str) -> bool:
        try:
            return (self.send(c.health(path))).status == healthy
        except (httpx.TransportError, PplaneError):
            return False

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Pplane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Ingested:
    """What ingestion answered, and a handle on the run it started."""

    result: m.ChangedIngested
    run: Run

    @property
    def duplicate(self) -> bool:
        return self.result.duplicate


class Signals:
    def __init__(self, client: Pplane) -> None:
        self._c = client

    def ingest(
        self,
        channel: str,
        *,
        source_id: str | None = None,
        idempotency_key: str | None = None,
        payload: Any = None,
        domain_refs: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> Ingested:
        """Ingests a signal; a retry with the same source id or key returns the first one."""
        call = c.signal_ingest(channel, source_id, idempotency_key, payload, domain_refs, actor)
        result = self._c.send(call)
        return Ingested(result, Run(self._c, str(result.run_id), str(result.correlation_id)))


class Events:
    def __init__(self, client: Pplane) -> None:
        self._c = client

    def page(self, after: int = 0, limit: int | None = None, wait: int | None = None) -> m.Page:
        """One page of the tenant's events after ``after``, in sequence order."""
        return self._c.send(c.events_page(after, limit, wait))

    def tail(
        self,
        after: int = 0,
        *,
        limit: int = 100,
        wait: int = 20,
        on_reconnect: Callable[[Exception, int], None] | None = None,
    ) -> Iterator[m.Event]:
        """Every event after ``after`` as it is appended; break out of the loop to stop.

        The cursor is the last event yielded, so after a dropped connection the
        tail asks again from there: nothing is skipped, nothing repeated.
        """
        delay = 0.2
        while True:
            try:
                page = self._c.send(c.events_page(after, limit, wait))
            except Exception as error:
                if not retryable(error):
                    raise
                if on_reconnect:
                    on_reconnect(error, after)
                time.sleep(delay)
                delay = min(delay * 2, RETRY_CAP_S)
                continue
            delay = 0.2
            for event in page.events:
                after = event.sequence_number
                yield event


class Destinations:
    def __init__(self, client: Pplane) -> None:
        self._c = client

    def list(self) -> list[m.Destination]:
        return (self._c.send(c.destination_list())).destinations

    def add(self, name: str, *, webhook: str | None = None, nats: str | None = None) -> m.Created:
        """Adds a destination (operator); a webhook's signing secret is shown only here."""
        return self._c.send(c.destination_add(name, webhook, nats))


class Outbox:
    def __init__(self, client: Pplane) -> None:
        self._c = client

    def list(self, status: str | None = None, limit: int | None = None) -> list[m.OutboxEntry]:
        return self._c.send(c.outbox_list(status, limit))

    def stats(self) -> m.OutboxStats:
        return self._c.send(c.outbox_stats())

    def requeue(self, entry: str, **by: Unpack[ByArgs]) -> m.ChangedSettled:
        return self._c.send(c.outbox_requeue(entry, by))

    def purge(self, delivered_before: datetime) -> m.Purged:
        return self._c.send(c.outbox_purge(delivered_before))


class LangGraph:
    """LangGraph's checkpointer protocol (``/v1/langgraph``), as ``pplane-langgraph``'s
    saver calls it. A thread id is the tenant's own name; values are their
    serializer's type tag and base64 bytes."""

    def __init__(self, client: Pplane) -> None:
        self._c = client

    def put(
        self, thread_id: str, put: m.CheckpointPutBody, values: Sequence[m.ChannelValue] = ()
    ) -> m.ChangedStoredCheckpoint:
        """Stores a checkpoint with the values of the channels it makes new."""
        return self._c.send(c.langgraph_checkpoint_put(thread_id, put, values))

    def put_writes(
        self,
        thread_id: str,
        checkpoint_id: str,
        writes: Sequence[m.PendingWrite],
        *,
        checkpoint_ns: str = "",
        actor: str | None = None,
    ) -> m.ChangedStoredCheckpoint:
        """Stores a task's pending writes against a checkpoint."""
        return self._c.send(c.langgraph_writes_put(thread_id, checkpoint_ns, checkpoint_id, writes, actor))

    def get(
        self, thread_id: str, checkpoint_ns: str = "", checkpoint_id: str | None = None
    ) -> m.CheckpointTuple | None:
        """A checkpoint with its values and writes (the newest when no id is given); None when there is none."""
        try:
            return self._c.send(c.langgraph_tuple_get(thread_id, checkpoint_ns, checkpoint_id))
        except NotFoundError:
            return None

    def list(self, search: m.CheckpointSearchBody | None = None) -> Iterator[m.CheckpointTuple]:
        """Checkpoints that match, newest first, every page in turn (``limit`` caps the whole)."""
        search = search or m.CheckpointSearchBody()
        left = search.limit
        while left is None or left > 0:
            page_size = min(left or PAGE_MAX, PAGE_MAX)
            page = self._c.send(c.langgraph_checkpoint_search(search.model_copy(update={"limit": page_size})))
            yield from page.checkpoints
            if len(page.checkpoints) < page_size:
                return
            left = None if left is None else left - page_size
            search = search.model_copy(update={"before": page.checkpoints[-1].key.checkpoint_id})

    def delete_thread(self, thread_id: str) -> m.ChangedCheckpointKeys:
        """Deletes a thread's checkpoints and writes (each recorded; its run stays)."""
        return self._c.send(c.langgraph_thread_delete(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str], actor: str | None = None) -> m.ChangedCheckpointKeys:
        """Deletes the checkpoints of these LangGraph runs, in every thread."""
        return self._c.send(c.langgraph_runs_delete(run_ids, actor))

    def copy_thread(self, source: str, target: str, actor: str | None = None) -> m.ChangedCheckpointKeys:
        """Copies every checkpoint of a thread, with its values and writes, into another thread."""
        return self._c.send(c.langgraph_thread_copy(source, target, actor))

    def prune(
        self, thread_ids: Sequence[str], strategy: str = "keep_latest", actor: str | None = None
    ) -> m.ChangedCheckpointKeys:
        """Keeps each namespace's newest checkpoint (``keep_latest``), or deletes every one (``delete``)."""
        return self._c.send(c.langgraph_prune(thread_ids, strategy, actor))


class Run:
    """A run: ``start``, ``step(...)``, ``checkpoint``, ``effect``, ``complete``.

    ``latest`` is the last answer a change got; its ``events`` name what to pass
    as ``caused_by`` for what the change sets off.
    """

    def __init__(self, client: Pplane, id: str, correlation_id: str | None = None) -> None:
        self._c = client
        self.id = id
        self.correlation_id = correlation_id
        self.latest: m.ChangedRun | None = None

    def _move(self, move: str, by: ByArgs, **fields: Any) -> m.ChangedRun:
        self.latest = self._c.send(c.run_move(self.id, move, by, **fields))
        return self.latest

    def get(self) -> m.RunView:
        """The run as an orchestrator resumes it: the run, its steps, its latest checkpoint."""
        return self._c.send(c.run_get(self.id))

    def start(self, **by: Unpack[ByArgs]) -> m.ChangedRun:
        return self._move("start", by)

    def complete(self, **by: Unpack[ByArgs]) -> m.ChangedRun:
        return self._move("complete", by)

    def fail(self, error: Any, **by: Unpack[ByArgs]) -> m.ChangedRun:
        return self._move("fail", by, error=error)

    def cancel(self, reason: str, **by: Unpack[ByArgs]) -> m.ChangedRun:
        return self._move("cancel", by, reason=reason)

    def step(self, step_type: str, *, input: Any = None, index: int | None = None, **by: Unpack[ByArgs]) -> PendingStep:
        """A step of type ``step_type``: ``.add()`` schedules it, ``.start()`` also starts it."""
        return PendingStep(self._c, self.id, step_type, input, index, by)

    def checkpoint(
        self, state: Any, *, last_step_index: int | None = None, **by: Unpack[ByArgs]
    ) -> m.ChangedCheckpoint:
        """Saves the orchestrator's state; a resume starts from the newest."""
        return self._c.send(c.checkpoint_save(self.id, state, last_step_index, by))

    def latest_checkpoint(self) -> m.Checkpoint | None:
        """The newest checkpoint, or None when the run has none."""
        try:
            return self._c.send(c.checkpoint_latest(self.id))
        except NotFoundError:
            # A missing run is a 404 too: it is the run's absence only if the
            # run itself cannot be read (which raises that NotFoundError).
            self.get()
            return None

    def checkpoints(self, page_size: int = 50) -> Iterator[m.Checkpoint]:
        """Every checkpoint of the run, newest first, fetched a page at a time."""
        before: int | None = None
        while True:
            page = self._c.send(c.checkpoint_list(self.id, before, page_size))
            yield from page.checkpoints
            if page.next_before is None:
                return
            before = page.next_before

    def effect(
        self,
        effect_type: str,
        *,
        idempotency_key: str,
        destination: str | None = None,
        spec: dict[str, Any] | None = None,
        step: Step | str | None = None,
        **by: Unpack[ByArgs],
    ) -> m.ChangedRequested:
        """Asks for an external effect; the outbox worker delivers it after this commits."""
        body = {
            "effect_type": effect_type,
            "idempotency_key": idempotency_key,
            "destination": destination,
            "spec": spec or {},
            "step_id": step.id if isinstance(step, Step) else step,
        }
        return self._c.send(c.effect_request(self.id, body, by))

    def diagnose(self) -> m.RunDiagnosis:
        return self._c.send(c.run_diagnose(self.id))

    def trace(self) -> m.Trace:
        return self._c.send(c.trace_get(self.id))


class PendingStep:
    """A step about to be scheduled."""

    def __init__(self, client: Pplane, run: str, step_type: str, input: Any, index: int | None, by: ByArgs) -> None:
        self._c, self._run, self._type, self._input, self._index, self._by = client, run, step_type, input, index, by

    def add(self) -> Step:
        """Schedules the step (PENDING)."""
        added = self._c.send(c.step_add(self._run, self._type, self._input, self._index, self._by))
        step = Step(self._c, str(added.id))
        step.latest = added
        return step

    def start(self) -> Step:
        """Schedules the step and starts it (RUNNING)."""
        step = self.add()
        step.start()
        return step


class Step:
    def __init__(self, client: Pplane, id: str) -> None:
        self._c = client
        self.id = id
        self.latest: m.ChangedStep | None = None

    def _move(self, move: str, by: ByArgs, **fields: Any) -> m.ChangedStep:
        self.latest = self._c.send(c.step_move(self.id, move, by, **fields))
        return self.latest

    def start(self, **by: Unpack[ByArgs]) -> m.ChangedStep:
        return self._move("start", by)

    def complete(self, output: Any = None, **by: Unpack[ByArgs]) -> m.ChangedStep:
        return self._move("complete", by, output=output)

    def fail(self, error: Any, **by: Unpack[ByArgs]) -> m.ChangedStep:
        return self._move("fail", by, error=error)

    def retry(
        self,
        *,
        max_retries: int | None = None,
        base_delay_ms: int | None = None,
        max_delay_ms: int | None = None,
        **by: Unpack[ByArgs],
    ) -> m.ChangedStep:
        """A FAILED step back to PENDING under a retry policy (the plane's defaults otherwise)."""
        policy = {"max_retries": max_retries, "base_delay_ms": base_delay_ms, "max_delay_ms": max_delay_ms}
        return self._move("retry", by, **policy)

    def skip(self, reason: str, **by: Unpack[ByArgs]) -> m.ChangedStep:
        return self._move("skip", by, reason=reason)

    def cancel(self, reason: str, **by: Unpack[ByArgs]) -> m.ChangedStep:
        return self._move("cancel", by, reason=reason)

    def tool(self, name: str, args: Any = None, **by: Unpack[ByArgs]) -> PendingToolCall:
        """A call of tool ``name`` made by this step."""
        return PendingToolCall(self._c, self.id, name, args, by)


class PendingToolCall:
    """A tool call about to be recorded."""

    def __init__(self, client: Pplane, step: str, name: str, args: Any, by: ByArgs) -> None:
        self._c, self._step, self._name, self._args, self._by = client, step, name, args, by

    def start(self) -> ToolCall:
        """Records the call as RUNNING."""
        started = self._c.send(c.tool_call_start(self._step, self._name, self._args, self._by))
        call = ToolCall(self._c, str(started.id))
        call.latest = started
        return call

    def finish(self, *, result: Any = None, error: Any = None) -> ToolCall:
        """Records a call that has already happened: its start and its outcome."""
        call = self.start()
        call.finish(result=result, error=error, **self._actor())
        return call

    def run(self, fn: Callable[[], T]) -> T:
        """Records the call around ``fn``: COMPLETED with what it returns, or FAILED
        with what it raises (which is raised on)."""
        call = self.start()
        try:
            value = fn()
        except Exception as error:
            call.finish(error=describe(error), **self._actor())
            raise
        call.finish(result=value, **self._actor())
        return value

    def _actor(self) -> ByArgs:
        """The call's end is recorded by whoever started it."""
        return {"actor": self._by["actor"]} if "actor" in self._by else {}


class ToolCall:
    def __init__(self, client: Pplane, id: str) -> None:
        self._c = client
        self.id = id
        self.latest: m.ChangedToolCall | None = None

    def finish(self, *, result: Any = None, error: Any = None, **by: Unpack[ByArgs]) -> m.ChangedToolCall:
        """Exactly one outcome: ``error`` when given, else ``result``."""
        self.latest = self._c.send(c.tool_call_finish(self.id, outcome_body(result, error), by))
        return self.latest
