"""A support agent on pplane, with the asyncio client. No model: ``plan.py``
stands in for one, and the tools are small deterministic functions. It
ingests a ticket, works through the plan with parallel tool calls, retries
a step whose tool fails, saves a checkpoint after every step, asks for an
email that the outbox worker delivers, and prints the run's causation tree.

    python agent.py                      # a new ticket, or resume it
    python agent.py --crash-after 2      # die (SIGKILL) after two steps
    python agent.py --ticket ticket-7    # another ticket

Started again after a crash, it finds its run through the ticket (the signal
is idempotent) and goes on from the last checkpoint: no step that finished
runs again.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import signal
import sys
import time
from collections import defaultdict
from typing import Any

from pplane_client import AsyncPplane, AsyncRun, AsyncStep
from pplane_client.models import Event, RunView, Trace

from bootstrap import state_load
from inbox import Inbox
from plan import PLAN, Planned

ACTOR = "agent:support-bot"


async def main(ticket: str, crash_after: int) -> None:
    state = state_load()
    inbox = Inbox(state.receiver_port)
    try:
        async with AsyncPplane(state.url, api_key=state.key) as pplane:
            ingested = await pplane.signals.ingest(
                "support-email",
                source_id=ticket,
                payload={"from": "ada@example.com", "subject": "Refund for order O-1"},
                domain_refs={"ticket": ticket},
            )
            run = ingested.run
            print(f"{ticket}: seen before, run {run.id}" if ingested.duplicate else f"{ticket}: new run {run.id}")
            view = await run.get()
            if view.run.status == "PENDING":
                await run.start(actor=ACTOR)
            if view.run.status != "COMPLETED":
                # A run's newest checkpoint always keeps its state (retention prunes only older ones).
                saved = view.checkpoint.state if view.checkpoint else None
                memory: dict[str, Any] = saved if saved is not None else {"next": 0, "notes": {}}
                if view.checkpoint:
                    print(f"resuming from the checkpoint: {memory['next']} of {len(PLAN)} steps done")
                await steps_run(pplane, run, view, memory, ticket, crash_after)
                await run.complete(actor=ACTOR)
                print("run completed; waiting for the worker to deliver the reply")
                await delivered(run)
                print(f"the customer's inbox got {len(inbox.received)} email(s)")
            tree_print(await run.trace())
    finally:
        inbox.close()


async def steps_run(
    pplane: AsyncPplane, run: AsyncRun, view: RunView, memory: dict[str, Any], ticket: str, crash_after: int
) -> None:
    for index in range(memory["next"], len(PLAN)):
        planned = PLAN[index]
        existing = next((s for s in view.steps if s.step_index == index), None)
        if existing:
            step = pplane.step(str(existing.id))
        else:
            step = await run.step(planned.type, index=index, input=memory["notes"], actor=ACTOR).add()
        # A crash between scheduling a step and its checkpoint leaves it behind: pick it up.
        if existing and existing.status == "RUNNING":
            await step.fail({"reason": "the agent restarted"}, actor=ACTOR)
            await step.retry(max_retries=2, base_delay_ms=0, actor=ACTOR)
        if not existing or existing.status != "COMPLETED":
            await step.start(actor=ACTOR)
            memory["notes"][planned.type] = await step_work(run, step, planned, ticket)
        memory["next"] = index + 1
        await run.checkpoint(memory, last_step_index=index, actor=ACTOR)
        print(f"step {index} {planned.type}: done, checkpoint saved", flush=True)
        if memory["next"] == crash_after:
            print(f"crashing on purpose after step {index}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)


async def step_work(run: AsyncRun, step: AsyncStep, planned: Planned, ticket: str) -> list[Any]:
    """The step's tools side by side; when one fails, the step fails and is retried once."""
    for attempt in (1, 2):
        calls = [step.tool(t.name, t.args, actor=ACTOR).run(functools.partial(t.call, attempt)) for t in planned.tools]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failed is None:
            if planned.type == "send_reply":
                spec = {"to": "ada@example.com", "subject": "Your refund", "body": outcomes[0]}
                effect = f"reply-{ticket}"
                await run.effect(
                    "send_email",
                    idempotency_key=effect,
                    destination="customer-email",
                    spec=spec,
                    step=step,
                    actor=ACTOR,
                )
            await step.complete(outcomes, actor=ACTOR)
            return outcomes
        await step.fail({"reason": str(failed)}, actor=ACTOR)
        if attempt == 2:
            raise RuntimeError(f"step {planned.type} failed twice: {failed}")
        print(f"step {planned.type}: a tool failed ({failed}); retrying the step")
        await step.retry(max_retries=2, base_delay_ms=0, actor=ACTOR)
        await step.start(actor=ACTOR)
    raise AssertionError("unreachable")


async def delivered(run: AsyncRun) -> None:
    """Waits until the outbox worker has delivered the run's effects."""
    deadline = time.monotonic() + 30
    while True:
        effects = (await run.trace()).effects
        if effects and all(e.status == "COMPLETED" for e in effects):
            return
        if any(e.status == "DEAD_LETTER" for e in effects):
            raise RuntimeError("the reply was dead-lettered")
        if time.monotonic() > deadline:
            raise RuntimeError("no delivery within 30 s: is `pplane serve --worker` running?")
        await asyncio.sleep(0.2)


def tree_print(trace: Trace) -> None:
    """The run's causation tree, as ``pplane trace`` draws it."""
    children: dict[str, list[Event]] = defaultdict(list)
    roots = []
    for event in trace.events:
        if event.causation_id:
            children[str(event.causation_id)].append(event)
        else:
            roots.append(event)
    print(f"trace of correlation {trace.correlation_id}:")

    def draw(event: Event, prefix: str, last: bool, top: bool) -> None:
        line = f"{event.event_type}  {event.aggregate_type.lower()} {str(event.aggregate_id)[-8:]}  {event.actor}"
        print(line if top else f"{prefix}{'└─ ' if last else '├─ '}{line}")
        below = children[str(event.id)]
        for i, child in enumerate(below):
            draw(child, "" if top else prefix + ("   " if last else "│  "), i == len(below) - 1, False)

    for root in roots:
        draw(root, "", True, True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticket", default="ticket-1001")
    parser.add_argument("--crash-after", type=int, default=0, help="die after this many steps")
    arguments = parser.parse_args()
    try:
        asyncio.run(main(arguments.ticket, arguments.crash_after))
    except Exception as error:
        print(error, file=sys.stderr)
        sys.exit(1)
