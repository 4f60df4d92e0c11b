"""Each operation of the API as one request description, shared by the sync
and the async client: a method, a path, a body and how to read the answer
(a generated model). The clients only send them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypedDict, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, TypeAdapter

from . import models as m

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class ByArgs(TypedDict, total=False):
    """Who makes a change, sent with every request that changes something."""

    actor: str
    """``agent:…``, ``user:…``, ``system:…`` or ``external:…`` (default ``user:<the key's principal>``)."""
    caused_by: str
    """An event of the same run that caused this change (default: what it hangs from)."""
    expected_version: int
    """The version the caller last saw; a stale one is a ``ConflictError``."""


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] | None = None


def _id(value: object) -> str:
    """An id as one path segment: nothing in it can reach another route."""
    return quote(str(value), safe="")


def _model(cls: type[M]) -> Callable[[Any], M]:
    return cls.model_validate


def _by(by: ByArgs) -> dict[str, Any]:
    return {"actor": by.get("actor"), "caused_by": by.get("caused_by"), "expected_version": by.get("expected_version")}


def _post(path: str, cls: type[M], body: dict[str, Any] | None = None, **kw: Any) -> Call[M]:
    return Call("POST", path, _model(cls), json=body, **kw)


def _get(path: str, cls: type[M], params: dict[str, Any] | None = None) -> Call[M]:
    return Call("GET", path, _model(cls), params={k: v for k, v in (params or {}).items() if v is not None})


# Signals
def signal_ingest(
    channel: str,
    source_id: str | None,
    idempotency_key: str | None,
    payload: Any,
    domain_refs: dict[str, Any] | None,
    actor: str | None,
) -> Call[m.ChangedIngested]:
    body = {
        "channel": channel,
        "source_id": source_id,
        "payload": payload,
        "domain_refs": domain_refs or {},
        "actor": actor,
    }
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    return _post("/v1/signals", m.ChangedIngested, body, headers=headers)


# Runs
def run_get(run: str) -> Call[m.RunView]:
    return _get(f"/v1/runs/{_id(run)}", m.RunView)


def run_move(run: str, move: str, by: ByArgs, **fields: Any) -> Call[m.ChangedRun]:
    return _post(f"/v1/runs/{_id(run)}/{move}", m.ChangedRun, {**_by(by), **fields})


def run_diagnose(run: str) -> Call[m.RunDiagnosis]:
    return _get(f"/v1/runs/{_id(run)}/diagnosis", m.RunDiagnosis)


def trace_get(id: str) -> Call[m.Trace]:
    return _get(f"/v1/trace/{_id(id)}", m.Trace)


# Steps and tool calls
def step_add(run: str, step_type: str, input: Any, index: int | None, by: ByArgs) -> Call[m.ChangedStep]:
    body = {**_by(by), "step_type": step_type, "input": input, "step_index": index}
    return _post(f"/v1/runs/{_id(run)}/steps", m.ChangedStep, body)


def step_move(step: str, move: str, by: ByArgs, **fields: Any) -> Call[m.ChangedStep]:
    return _post(f"/v1/steps/{_id(step)}/{move}", m.ChangedStep, {**_by(by), **fields})


def tool_call_start(step: str, name: str, args: Any, by: ByArgs) -> Call[m.ChangedToolCall]:
    return _post(f"/v1/steps/{_id(step)}/tool-calls", m.ChangedToolCall, {**_by(by), "tool_name": name, "args": args})


def tool_call_finish(call: str, outcome: dict[str, Any], by: ByArgs) -> Call[m.ChangedToolCall]:
    return _post(f"/v1/tool-calls/{_id(call)}/finish", m.ChangedToolCall, {**_by(by), **outcome})


# Checkpoints and effects
def checkpoint_save(run: str, state: Any, last_step_index: int | None, by: ByArgs) -> Call[m.ChangedCheckpoint]:
    body = {**_by(by), "state": state, "last_step_index": last_step_index}
    return _post(f"/v1/runs/{_id(run)}/checkpoints", m.ChangedCheckpoint, body)


def checkpoint_latest(run: str) -> Call[m.Checkpoint]:
    return _get(f"/v1/runs/{_id(run)}/checkpoints/latest", m.Checkpoint)


def checkpoint_list(run: str, before: int | None, limit: int) -> Call[m.CheckpointPage]:
    return _get(f"/v1/runs/{_id(run)}/checkpoints", m.CheckpointPage, {"before": before, "limit": limit})


def effect_request(run: str, body: dict[str, Any], by: ByArgs) -> Call[m.ChangedRequested]:
    return _post(f"/v1/runs/{_id(run)}/effects", m.ChangedRequested, {**_by(by), **body})


def effect_get(effect: str) -> Call[m.EffectDiagnosis]:
    return _get(f"/v1/effects/{_id(effect)}", m.EffectDiagnosis)


# The event log
def events_page(after: int, limit: int | None, wait: int | None) -> Call[m.Page]:
    return _get("/v1/events", m.Page, {"after": after, "limit": limit, "wait": wait})


# Destinations and the outbox (operator)
def destination_list() -> Call[m.Destinations]:
    return _get("/v1/destinations", m.Destinations)


def destination_add(name: str, webhook: str | None, nats: str | None) -> Call[m.Created]:
    return _post("/v1/destinations", m.Created, {"name": name, "webhook": webhook, "nats": nats})


_OUTBOX_ENTRIES: TypeAdapter[list[m.OutboxEntry]] = TypeAdapter(list[m.OutboxEntry])


def outbox_list(status: str | None, limit: int | None) -> Call[list[m.OutboxEntry]]:
    params = {k: v for k, v in {"status": status, "limit": limit}.items() if v is not None}
    return Call("GET", "/v1/outbox", _OUTBOX_ENTRIES.validate_python, params=params)


def outbox_stats() -> Call[m.OutboxStats]:
    return _get("/v1/outbox/stats", m.OutboxStats)


def outbox_requeue(entry: str, by: ByArgs) -> Call[m.ChangedSettled]:
    return _post(f"/v1/outbox/{_id(entry)}/requeue", m.ChangedSettled, _by(by))


def outbox_purge(delivered_before: datetime) -> Call[m.Purged]:
    return _post("/v1/outbox/purge", m.Purged, {"delivered_before": delivered_before.isoformat()})


# LangGraph's checkpointer protocol
def _dump(models: Sequence[BaseModel]) -> list[dict[str, Any]]:
    return [x.model_dump() for x in models]


def _thread(thread: str) -> str:
    return f"/v1/langgraph/threads/{_id(thread)}"


def langgraph_checkpoint_put(
    thread: str, put: m.CheckpointPutBody, values: Sequence[m.ChannelValue]
) -> Call[m.ChangedStoredCheckpoint]:
    body = {**put.model_dump(exclude={"values"}), "values": _dump(values)}
    return _post(f"{_thread(thread)}/checkpoints", m.ChangedStoredCheckpoint, body)


def langgraph_writes_put(
    thread: str, checkpoint_ns: str, checkpoint_id: str, writes: Sequence[m.PendingWrite], actor: str | None
) -> Call[m.ChangedStoredCheckpoint]:
    body = {"checkpoint_ns": checkpoint_ns, "checkpoint_id": checkpoint_id, "writes": _dump(writes), "actor": actor}
    return _post(f"{_thread(thread)}/writes", m.ChangedStoredCheckpoint, body)


def langgraph_tuple_get(thread: str, checkpoint_ns: str, checkpoint_id: str | None) -> Call[m.CheckpointTuple]:
    params = {"checkpoint_ns": checkpoint_ns, "checkpoint_id": checkpoint_id}
    return _get(f"{_thread(thread)}/checkpoint", m.CheckpointTuple, params)


def langgraph_checkpoint_search(search: m.CheckpointSearchBody) -> Call[m.CheckpointTuplePage]:
    # Only the top level drops its Nones: a metadata filter may ask for a None.
    body = {k: v for k, v in search.model_dump().items() if v is not None}
    return _post("/v1/langgraph/checkpoints/search", m.CheckpointTuplePage, body)


def langgraph_thread_delete(thread: str) -> Call[m.ChangedCheckpointKeys]:
    return Call("DELETE", _thread(thread), _model(m.ChangedCheckpointKeys))


def langgraph_runs_delete(run_ids: Sequence[str], actor: str | None) -> Call[m.ChangedCheckpointKeys]:
    body = {"run_ids": list(run_ids), "actor": actor}
    return _post("/v1/langgraph/runs/delete", m.ChangedCheckpointKeys, body)


def langgraph_thread_copy(source: str, target: str, actor: str | None) -> Call[m.ChangedCheckpointKeys]:
    body = {"target_thread_id": target, "actor": actor}
    return _post(f"{_thread(source)}/copy", m.ChangedCheckpointKeys, body)


def langgraph_prune(threads: Sequence[str], strategy: str, actor: str | None) -> Call[m.ChangedCheckpointKeys]:
    body = {"thread_ids": list(threads), "strategy": strategy, "actor": actor}
    return _post("/v1/langgraph/prune", m.ChangedCheckpointKeys, body)


# Probes
def health(which: str) -> Call[m.Status]:
    return _get(f"/{which}", m.Status)
