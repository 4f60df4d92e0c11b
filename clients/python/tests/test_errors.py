"""Refusals arrive as typed exceptions carrying the problem document."""

from __future__ import annotations

import json
import uuid

import pytest

from pplane_client import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    PayloadTooLargeError,
    PplaneError,
    QuotaExceededError,
    Run,
    TooManyRequestsError,
    UnauthorizedError,
)

from .plane import Plane


def started_run(plane: Plane) -> Run:
    run = plane.client("runtime").signals.ingest("support", source_id=str(uuid.uuid4())).run
    run.start()
    return run


def test_no_key_a_made_up_key_and_a_revoked_key_are_unauthorized(plane: Plane) -> None:
    read = plane.own.keys["read"]
    forged = read[:-1] + ("1" if read.endswith("0") else "0")
    for key in ["", "ppk_not-a-key", forged]:
        with pytest.raises(UnauthorizedError) as refused:
            plane.client(key=key).events.page()
        assert refused.value.status == 401
        assert refused.value.problem.type == "urn:pplane:problem:unauthorized"
    member = ["--tenant", plane.own.tenant, "--user", plane.own.user]
    listed = json.loads(plane.cli(["apikey", "list", *member, "--json"]))
    read = next(k for k in listed if k["scope"] == "read")
    plane.cli(["apikey", "revoke", read["id"], *member])
    with pytest.raises(UnauthorizedError):
        plane.client("read").events.page()


def test_a_key_over_its_own_rate_is_told_to_slow_down(plane: Plane) -> None:
    member = ["--tenant", plane.own.tenant, "--user", plane.own.user]
    args = ["apikey", "create", *member, "--scope", "read", "--rate", "0.5", "--burst", "2", "--json"]
    client = plane.client(key=json.loads(plane.cli(args))["key"])
    client.events.page()
    client.events.page()
    with pytest.raises(TooManyRequestsError) as refused:
        client.events.page()
    assert (refused.value.status, refused.value.kind) == (429, "too-many-requests")
    plane.client("read").events.page()  # the tenant's other keys go on


def test_an_effect_past_the_tenants_quota_is_quota_exceeded_with_nothing_written(plane: Plane) -> None:
    plane.cli(["tenant", "quota", plane.own.tenant, "--pending-effects", "1"])
    operator = plane.client("operator")
    operator.destinations.add("mail", webhook="http://127.0.0.1:9/h")
    run = started_run(plane)
    run.effect("notify", idempotency_key="one", destination="mail", spec={})
    with pytest.raises(QuotaExceededError) as refused:
        run.effect("notify", idempotency_key="two", destination="mail", spec={})
    assert (refused.value.status, refused.value.kind) == (429, "quota-exceeded")
    assert "over its quota of 1" in str(refused.value)
    assert operator.outbox.stats().pending == 1


def test_a_read_key_cannot_write(plane: Plane) -> None:
    with pytest.raises(ForbiddenError) as refused:
        plane.client("read").signals.ingest("support", source_id="x")
    assert refused.value.kind == "forbidden"
    with pytest.raises(ForbiddenError):
        plane.client("runtime").outbox.stats()


def test_another_tenants_run_is_not_found_exactly_as_a_missing_one(plane: Plane) -> None:
    run = started_run(plane)
    stranger = plane.client("operator", who=plane.other)
    with pytest.raises(NotFoundError) as foreign:
        stranger.run(run.id).get()
    with pytest.raises(NotFoundError) as missing:
        stranger.run(str(uuid.uuid4())).get()
    assert foreign.value.problem.title == missing.value.problem.title
    with pytest.raises(NotFoundError):
        stranger.run(run.id).complete()
    assert run.get().run.status == "RUNNING"


def test_a_stale_expected_version_is_a_conflict_with_the_current_version(plane: Plane) -> None:
    run = started_run(plane)
    current = run.get().run.version
    with pytest.raises(ConflictError) as stale:
        run.complete(expected_version=current - 1)
    assert stale.value.status == 409 and stale.value.current_version == current
    assert run.complete(expected_version=current).status == "COMPLETED"


def test_a_finished_run_takes_no_more_steps(plane: Plane) -> None:
    run = started_run(plane)
    run.complete()
    with pytest.raises(InvalidTransitionError) as refused:
        run.step("late").add()
    assert "COMPLETED" in refused.value.problem.detail


def test_a_payload_over_the_limit_is_refused_and_nothing_is_written(plane: Plane) -> None:
    with pytest.raises(PayloadTooLargeError) as refused:
        plane.client("runtime").signals.ingest("support", source_id="big", payload={"huge": "x" * (3 << 20)})
    assert refused.value.status == 413
    assert plane.client("read").events.page().events == []


def test_a_bad_field_is_invalid_input_naming_it(plane: Plane) -> None:
    run = started_run(plane)
    with pytest.raises(InvalidInputError) as refused:
        run.step("lookup", actor="robot").add()
    assert refused.value.status == 422 and "actor" in refused.value.problem.detail
    with pytest.raises(PplaneError) as paging:
        plane.client("read").events.page(limit=0)
    assert isinstance(paging.value, InvalidInputError) and "limit" in paging.value.problem.detail
