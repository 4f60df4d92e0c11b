"""What a model would decide, decided by a function: the steps of a refund
ticket and the tools each step calls (side by side)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Tool:
    name: str
    args: dict[str, Any]
    result: Callable[[int], Any]

    async def call(self, attempt: int) -> Any:
        """The tool's work; ``attempt`` is the step's attempt (from 1)."""
        await asyncio.sleep(0.02)
        return self.result(attempt)


@dataclass
class Planned:
    type: str
    tools: list[Tool]


def _refund(attempt: int) -> dict[str, int]:
    # The payment gateway times out on the step's first attempt.
    if attempt == 1:
        raise TimeoutError("payments.refund timed out")
    return {"refunded": 42}


PLAN = [
    Planned("classify", [Tool("classifier.label", {"text": "The blender arrived broken."}, lambda _: "refund")]),
    Planned(
        "research",
        [
            Tool("orders.lookup", {"order": "O-1"}, lambda _: {"order": "O-1", "total": 42, "delivered": True}),
            Tool("customers.profile", {"email": "ada@example.com"}, lambda _: {"name": "Ada", "tier": "gold"}),
            Tool("kb.search", {"query": "damaged on arrival"}, lambda _: {"policy": "refund within 30 days"}),
        ],
    ),
    Planned("decide", [Tool("payments.refund", {"order": "O-1", "amount": 42}, _refund)]),
    Planned(
        "send_reply", [Tool("writer.draft", {"tone": "warm"}, lambda _: "Dear Ada, your refund of 42 is on its way.")]
    ),
]
