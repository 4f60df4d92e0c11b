"""Effects leave through the outbox: requested in the run's transaction,
delivered by the worker of ``pplane serve --worker`` to a real receiver;
the operator's destinations and outbox routes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pplane_client import ForbiddenError

from .plane import Plane, eventually


class Receiver:
    """A webhook receiver on a free port that answers ``status``."""

    def __init__(self) -> None:
        self.status = 204
        self.received: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(self.headers.get("Idempotency-Key"))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def test_an_effect_is_delivered_once_and_a_repeated_request_is_the_same_effect(
    plane_with_worker: Plane, receiver: Receiver
) -> None:
    plane = plane_with_worker
    operator = plane.client("operator")
    created = operator.destinations.add("mail", webhook=receiver.url)
    assert (created.signing_secret or "").startswith("whsec_")
    assert [d.name for d in operator.destinations.list()] == ["mail"]
    with pytest.raises(ForbiddenError):
        plane.client("runtime").destinations.add("x", webhook=receiver.url)

    pplane = plane.client("runtime")
    run = pplane.signals.ingest("support", source_id="t-1").run
    run.start()
    step = run.step("reply").start()
    first = run.effect("send_email", idempotency_key="reply-t-1", destination="mail", spec={"to": "ada"}, step=step)
    again = run.effect("send_email", idempotency_key="reply-t-1", destination="mail", spec={"to": "ada"}, step=step)
    assert again.duplicate and again.effect.id == first.effect.id
    step.complete()
    run.complete()

    effect_id = str(first.effect.id)
    delivered = eventually(lambda: d if (d := pplane.effect(effect_id)).effect.status == "COMPLETED" else None)
    assert delivered.outbox is not None and delivered.outbox.status == "DELIVERED"
    assert receiver.received == ["reply-t-1"]
    assert operator.outbox.stats().delivered == 1
    assert operator.outbox.purge(datetime.now(timezone.utc) + timedelta(minutes=1)).purged == 1


def test_a_dead_letter_is_requeued_by_the_operator_then_delivered(plane_with_worker: Plane, receiver: Receiver) -> None:
    plane = plane_with_worker
    receiver.status = 400
    operator = plane.client("operator")
    operator.destinations.add("crm", webhook=receiver.url)
    run = plane.client("runtime").signals.ingest("support", source_id="t-2").run
    run.start()
    requested = run.effect("crm_update", idempotency_key="crm-t-2", destination="crm")
    dead = eventually(lambda: next(iter(operator.outbox.list(status="DEAD_LETTER")), None))
    receiver.status = 204
    assert operator.outbox.requeue(str(dead.id), actor="user:oncall").events
    effect_id = str(requested.effect.id)
    eventually(lambda: True if operator.effect(effect_id).effect.status == "COMPLETED" else None)
    assert len(receiver.received) == 2, "one refused attempt, one delivery"
