"""Ingestion is idempotent: a retry by source id or by Idempotency-Key
returns the first signal's ids, says so, and appends nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from .plane import Plane


def log_length(plane: Plane) -> int:
    with plane.client("read") as reader:
        return len(reader.events.page(after=0, limit=1000).events)


def test_a_retry_with_the_same_idempotency_key_returns_the_first_signal_and_writes_nothing(plane: Plane) -> None:
    with plane.client("runtime") as pplane:
        first = pplane.signals.ingest("email", idempotency_key="msg-77", payload={"n": 1})
        written = log_length(plane)
        again = pplane.signals.ingest("email", idempotency_key="msg-77", payload={"n": 1})
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.result.run_id == first.result.run_id
    assert again.result.signal_id == first.result.signal_id
    assert again.result.events == []
    assert log_length(plane) == written


def test_retries_racing_each_other_by_source_id_make_one_signal(plane: Plane) -> None:
    with plane.client("runtime") as pplane, ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: pplane.signals.ingest("slack", source_id="evt-9"), range(6)))
    assert len({a.result.run_id for a in answers}) == 1
    assert sum(not a.duplicate for a in answers) == 1


def test_another_channel_with_the_same_source_id_is_another_signal(plane: Plane) -> None:
    with plane.client("runtime") as pplane:
        a = pplane.signals.ingest("slack", source_id="evt-1")
        b = pplane.signals.ingest("email", source_id="evt-1")
    assert a.result.run_id != b.result.run_id and not b.duplicate
