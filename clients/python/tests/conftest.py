"""The session's embedded PostgreSQL cluster in a scratch PPLANE_HOME (each
test makes its own database on it), stopped and removed at the end; and the
check that the suite, run whole, exercised every route of the API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .plane import REPO, Plane, embedded_cluster


@pytest.fixture(scope="session", autouse=True)
def cluster() -> Iterator[None]:
    with embedded_cluster("pplane-py-"):
        yield


@pytest.fixture
def plane() -> Iterator[Plane]:
    served = Plane()
    yield served
    served.stop()


@pytest.fixture
def plane_with_worker() -> Iterator[Plane]:
    served = Plane(worker=True)
    yield served
    served.stop()


def _operations() -> list[tuple[str, str, re.Pattern[str]]]:
    document = json.loads((REPO / "openapi.json").read_text())
    return [
        (method.upper(), path, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"))
        for path, methods in document["paths"].items()
        for method in methods
    ]


@pytest.fixture(scope="session", autouse=True)
def every_route_exercised(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a whole run of the suite, every operation of openapi.json has
    answered 2xx to this client at least once: a route the server adds fails
    here until the client wraps and tests it."""
    answered: set[tuple[str, str]] = set()
    sync_send, async_send = httpx.Client.send, httpx.AsyncClient.send

    def seen(response: httpx.Response) -> httpx.Response:
        if response.is_success:
            answered.add((response.request.method, response.request.url.path))
        return response

    def send(self: httpx.Client, *args: Any, **kwargs: Any) -> httpx.Response:
        return seen(sync_send(self, *args, **kwargs))

    async def asend(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> httpx.Response:
        return seen(await async_send(self, *args, **kwargs))

    httpx.Client.send = send  # type: ignore[method-assign]
    httpx.AsyncClient.send = asend  # type: ignore[method-assign]
    yield
    httpx.Client.send, httpx.AsyncClient.send = sync_send, async_send  # type: ignore[method-assign]
    config = request.config
    whole_suite = config.args_source == pytest.Config.ArgsSource.TESTPATHS and not config.option.keyword
    if whole_suite and request.session.testsfailed == 0:
        missing = [
            f"{method} {path}"
            for method, path, pattern in _operations()
            if not any(m == method and pattern.match(p) for m, p in answered)
        ]
        assert not missing, f"no 2xx answer seen for: {missing}"
