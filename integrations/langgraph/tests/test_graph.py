"""A real LangGraph ``StateGraph`` on ``PplaneSaver``: two parallel branches,
a conditional edge, an ``interrupt`` resumed with ``Command(resume=...)`` by
another saver (as after a restart), a replay and a fork from an earlier
checkpoint; blocking and asyncio. The plane sees the thread: its run's
trace holds every checkpoint. Two tenants' keys on one ``thread_id`` are
two threads."""

from __future__ import annotations

import asyncio
import json
import operator
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, interrupt

from pplane_langgraph import PplaneSaver

from .conftest import Plane


class Order(TypedDict, total=False):
    n: int
    parts: Annotated[list[int], operator.add]
    log: Annotated[list[str], operator.add]
    total: int
    approved: bool


def plan(state: Order) -> Order:
    return {"log": ["plan"]}


def price(state: Order) -> Order:
    return {"parts": [state["n"]], "log": ["price"]}


def tax(state: Order) -> Order:
    return {"parts": [state["n"] * 2], "log": ["tax"]}


def merge(state: Order) -> Order:
    return {"total": sum(state["parts"]), "log": ["merge"]}


def review(state: Order) -> Order:
    answer = interrupt({"total": state["total"], "question": "approve?"})
    return {"approved": answer == "approve", "log": ["review"]}


def done(state: Order) -> Order:
    return {"log": ["done"]}


def route(state: Order) -> str:
    return "review" if state["total"] > 10 else "done"


def order_graph(saver: PplaneSaver) -> CompiledStateGraph[Any, Any, Any, Any]:
    builder = StateGraph(Order)
    for node in (plan, price, tax, merge, review, done):
        builder.add_node(node.__name__, node)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "price")
    builder.add_edge("plan", "tax")
    builder.add_edge(["price", "tax"], "merge")
    builder.add_conditional_edges("merge", route, ["review", "done"])
    builder.add_edge("review", "done")
    builder.add_edge("done", END)
    return builder.compile(checkpointer=saver)


def thread(id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": id}}


def test_a_graph_interrupts_resumes_after_a_restart_and_travels_back_in_time(plane: Plane) -> None:
    key = plane.own.keys["runtime"]
    config = thread("order-1")
    with PplaneSaver(url=plane.base_url, api_key=key) as saver:
        graph = order_graph(saver)
        paused = graph.invoke({"n": 5}, config)
        assert paused["__interrupt__"][0].value == {"total": 15, "question": "approve?"}
        state = graph.get_state(config)
        assert state.next == ("review",)
        assert sorted(state.values["log"]) == ["merge", "plan", "price", "tax"]

    # Another saver, as another process after a restart, resumes the thread.
    with PplaneSaver(url=plane.base_url, api_key=key) as saver:
        graph = order_graph(saver)
        final = graph.invoke(Command(resume="approve"), config)
        assert final["approved"] is True
        assert final["total"] == 15
        assert final["log"][-2:] == ["review", "done"]

        history = list(graph.get_state_history(config))
        # Newest first: every super-step's checkpoint, with what came next.
        assert [(s.metadata or {}).get("step") for s in history] == [5, 4, 3, 2, 1, 0, -1]
        assert [s.next for s in history] == [
            (),
            ("done",),
            ("review",),
            ("merge",),
            ("price", "tax"),
            ("plan",),
            ("__start__",),
        ]
        assert [(s.metadata or {}).get("source") for s in history][-2:] == ["loop", "input"]

        # Replay from the checkpoint before the review: it interrupts again.
        before_review = next(s for s in history if s.next == ("review",))
        replayed = graph.invoke(None, before_review.config)
        assert replayed["__interrupt__"][0].value["total"] == 15

        # Fork from the checkpoint after planning, with a smaller order: the
        # conditional edge now skips the review.
        after_plan = next(s for s in history if set(s.next) == {"price", "tax"})
        forked = graph.update_state(after_plan.config, {"n": 1})
        final = graph.invoke(None, forked)
        assert final["total"] == 3
        assert "approved" not in final
        assert final["log"][-2:] == ["merge", "done"]
        # The first branch is still there, by its checkpoint id.
        assert graph.get_state(history[0].config).values["approved"] is True

    # The plane sees the thread: its run, every checkpoint recorded.
    trace = json.loads(plane.cli(["trace", "--thread", "order-1", "--tenant", plane.own.tenant, "--json"]))
    assert trace["signal"]["source_channel"] == "langgraph"
    assert trace["signal"]["source_id"] == "order-1"
    saved = [e for e in trace["events"] if e["event_type"] == "CHECKPOINT_SAVED"]
    with PplaneSaver(url=plane.base_url, api_key=key) as saver:
        stored = list(saver.list(config))
    assert len(saved) >= len(stored) > len(history)


def test_the_same_graph_on_asyncio(plane: Plane) -> None:
    async def scenario() -> None:
        config = thread("order-async")
        async with PplaneSaver(url=plane.base_url, api_key=plane.own.keys["runtime"]) as saver:
            graph = order_graph(saver)
            paused = await graph.ainvoke({"n": 4}, config)
            assert paused["__interrupt__"][0].value["total"] == 12
            final = await graph.ainvoke(Command(resume="reject"), config)
            assert final["approved"] is False
            history = [s async for s in graph.aget_state_history(config)]
            assert len(history) == 7
            small = await graph.ainvoke({"n": 1}, thread("order-small"))
            assert small["total"] == 3 and small["log"][-1] == "done"

    asyncio.run(scenario())


def test_two_tenants_on_one_thread_id_never_see_each_other(plane: Plane) -> None:
    config = thread("shared")
    with (
        PplaneSaver(url=plane.base_url, api_key=plane.own.keys["runtime"]) as ours,
        PplaneSaver(url=plane.base_url, api_key=plane.other.keys["runtime"]) as theirs,
    ):
        order_graph(ours).invoke({"n": 5}, config)
        assert theirs.get_tuple(config) is None
        assert list(theirs.list(None)) == []
        order_graph(theirs).invoke({"n": 1}, config)
        assert order_graph(ours).get_state(config).values["total"] == 15
        assert order_graph(theirs).get_state(config).values["total"] == 3
        theirs.delete_thread("shared")
        assert ours.get_tuple(config) is not None
        assert theirs.get_tuple(config) is None
