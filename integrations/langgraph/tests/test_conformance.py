"""LangGraph's own conformance suite (``langgraph-checkpoint-conformance``)
against ``PplaneSaver`` on a live ``pplane serve``: every base capability
(put, put_writes, get_tuple, list, delete_thread) and every extended one
(delete_for_runs, copy_thread, prune) is detected and passes. Each
capability's suite gets a saver holding a key of a tenant of its own."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import Capability

from pplane_langgraph import PplaneSaver

from .conftest import Plane, member


def test_pplane_saver_passes_langgraphs_conformance_suite_in_full(plane: Plane) -> None:
    tenants = itertools.count()

    @checkpointer_test(name="PplaneSaver")
    async def saver() -> AsyncIterator[PplaneSaver]:
        tenant = member(plane.database_url, f"conformance-{next(tenants)}")
        async with PplaneSaver(url=plane.base_url, api_key=tenant.keys["runtime"]) as s:
            yield s

    report = asyncio.run(validate(saver))
    report.print_report()
    assert report.conformance_level() == "FULL", report.to_dict()
    results = report.results
    assert {c.value for c in Capability} == {name for name, r in results.items() if r.detected}
    assert all(r.tests_failed == 0 and r.tests_passed > 0 for r in results.values()), report.to_dict()
