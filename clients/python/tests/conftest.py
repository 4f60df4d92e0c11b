"""The session's embedded PostgreSQL cluster in a scratch PPLANE_HOME (each
test makes its own database on it), stopped and removed at the end."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from .plane import BIN, Plane


@pytest.fixture(scope="session", autouse=True)
def cluster() -> Iterator[None]:
    if not BIN.exists():
        pytest.exit(f"no pplane binary at {BIN}: run `cargo build -p pplane-cli` first", returncode=2)
    home = tempfile.mkdtemp(prefix="pplane-py-")
    os.chmod(home, 0o755)  # as root the cluster runs as the postgres user
    os.environ["PPLANE_HOME"] = os.path.join(home, ".pplane")
    os.environ.pop("DATABASE_URL", None)
    subprocess.run([str(BIN), "db", "start"], check=True, capture_output=True)
    yield
    subprocess.run([str(BIN), "db", "stop"], capture_output=True)
    subprocess.run(["rm", "-rf", home])


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
