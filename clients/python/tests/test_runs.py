"""A run driven end to end, blocking and asyncio: every run, step, tool-call
and checkpoint route, read back through the server."""

from __future__ import annotations

import asyncio
import functools
import uuid

import pytest

from pplane_client import NotFoundError, Pplane

from .plane import Plane


def test_a_run_with_parallel_tool_calls_a_retried_step_and_checkpoints_reads_back(plane: Plane) -> None:
    with plane.client("runtime") as pplane:
        ingested = pplane.signals.ingest("support", source_id="ticket-1", payload={"subject": "refund"})
        run = ingested.run
        assert not ingested.duplicate
        assert run.start(actor="agent:planner").status == "RUNNING"

        lookup = run.step("lookup", input={"order": "O-1"}).start()
        orders = lookup.tool("orders.get", {"id": "O-1"}).start()
        customers = lookup.tool("customers.get", {"id": "C-1"}).start()
        customers.finish(result={"name": "Ada"})
        orders.finish(result={"total": 42})
        lookup.complete({"total": 42})
        saved = run.checkpoint({"next": 1}, last_step_index=0)

        refund = run.step("refund").start()
        with pytest.raises(TimeoutError):
            refund.tool("payments.refund", {"amount": 42}).run(_timeout)
        refund.fail({"reason": "gateway timeout"})
        retried = refund.retry(max_retries=3, base_delay_ms=0)
        assert (retried.status, retried.retry_count) == ("PENDING", 1)
        refund.start()
        assert refund.tool("payments.refund", {"amount": 42}).run(lambda: {"refunded": 42}) == {"refunded": 42}
        refund.complete({"refunded": 42})
        run.checkpoint({"next": 2}, last_step_index=1)

        assert run.step("survey").add().skip("no survey for refunds").status == "SKIPPED"
        assert run.step("upsell").add().cancel("not today").status == "CANCELLED"
        done = run.complete(actor="agent:planner")
        assert done.status == "COMPLETED" and done.events

        view = run.get()
        assert [(s.step_type, s.status) for s in view.steps] == [
            ("lookup", "COMPLETED"),
            ("refund", "COMPLETED"),
            ("survey", "SKIPPED"),
            ("upsell", "CANCELLED"),
        ]
        latest = run.latest_checkpoint()
        assert latest is not None and latest.state == {"next": 2}
        assert [c.id for c in run.checkpoints(page_size=1)] == [latest.id, saved.id]

        trace = run.trace()
        assert str(trace.correlation_id) == run.correlation_id
        started = next(e for e in trace.events if e.event_type == "STEP_STARTED" and str(e.aggregate_id) == lookup.id)
        siblings = [e for e in trace.events if e.event_type == "TOOL_CALL_STARTED" and e.causation_id == started.id]
        assert len(siblings) == 2, "parallel calls are siblings under their step's start"
        assert run.diagnose().run.status == "COMPLETED"
        assert pplane.alive() and pplane.ready()
    with Pplane("http://127.0.0.1:1") as nowhere:
        assert not nowhere.alive() and not nowhere.ready(), "no server: not alive, not ready"


def _timeout() -> None:
    raise TimeoutError("gateway timeout")


def test_the_asyncio_client_drives_parallel_tool_calls(plane: Plane) -> None:
    async def drive() -> None:
        async with plane.aclient("runtime") as pplane:
            run = (await pplane.signals.ingest("support", source_id="ticket-2")).run
            await run.start()
            step = await run.step("lookup").start()

            async def search(n: int) -> dict[str, int]:
                await asyncio.sleep(0.01)
                return {"hits": n}

            calls = [step.tool("search", {"q": n}).run(functools.partial(search, n)) for n in range(3)]
            results = await asyncio.gather(*calls)
            assert results == [{"hits": 0}, {"hits": 1}, {"hits": 2}]
            await step.complete(results)
            await run.checkpoint({"done": 1}, last_step_index=0)
            assert (await run.complete()).status == "COMPLETED"
            trace = await pplane.trace(run.id)
            completed = [e for e in trace.events if e.event_type == "TOOL_CALL_COMPLETED"]
            assert len(completed) == 3
            checkpoints = [c async for c in run.checkpoints()]
            assert len(checkpoints) == 1

    asyncio.run(drive())


def test_a_failed_run_ends_its_live_steps_and_a_cancelled_run_is_cancelled(plane: Plane) -> None:
    with plane.client("runtime") as pplane:
        failing = pplane.signals.ingest("support", source_id="ticket-3").run
        failing.start()
        failing.step("lookup").start()
        assert failing.fail({"reason": "model refused"}).status == "FAILED"
        assert failing.get().steps[0].status == "CANCELLED"
        cancelling = pplane.signals.ingest("support", source_id="ticket-4").run
        cancelling.start()
        assert cancelling.cancel("customer withdrew").status == "CANCELLED"
        by_id = pplane.run(cancelling.id).get()
        assert by_id.run.status == "CANCELLED"
        assert cancelling.latest_checkpoint() is None, "a run without checkpoints has no latest"
        with pytest.raises(NotFoundError):
            pplane.run(str(uuid.uuid4())).latest_checkpoint()
