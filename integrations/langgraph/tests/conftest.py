"""The session's embedded PostgreSQL cluster in a scratch PPLANE_HOME, and a
served plane per test: the Python client's harness (``clients/python/tests/
plane.py``), imported from there so that both suites start planes one way."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "clients" / "python" / "tests"))

from plane import Member, Plane, embedded_cluster, member

__all__ = ["Member", "Plane", "member"]


@pytest.fixture(scope="session", autouse=True)
def cluster() -> Iterator[None]:
    with embedded_cluster("pplane-lg-"):
        yield


@pytest.fixture
def plane() -> Iterator[Plane]:
    served = Plane()
    yield served
    served.stop()
