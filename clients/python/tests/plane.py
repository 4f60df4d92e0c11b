"""A served plane for one test: a fresh database on the session's embedded
cluster, migrated, with two tenants and keys of every scope, and a real
``pplane serve`` on a free port."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pplane_client import AsyncPplane, Pplane

REPO = Path(__file__).resolve().parents[3]
BIN = Path(os.environ.get("PPLANE_BIN", REPO / "target" / "debug" / "pplane"))
SCOPES = ("read", "runtime", "operator")
T = TypeVar("T")


def cli(args: list[str], database_url: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url:
        env["DATABASE_URL"] = database_url
    done = subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pplane {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout


@dataclass
class Member:
    tenant: str
    user: str
    keys: dict[str, str]


def member(database_url: str, name: str) -> Member:
    created = json.loads(cli(["tenant", "create", name, "--json"], database_url))
    keys = {}
    for scope in SCOPES:
        args = ["apikey", "create", "--tenant", created["tenant_id"], "--user", created["user_id"], "--scope", scope]
        keys[scope] = json.loads(cli([*args, "--json"], database_url))["key"]
    return Member(created["tenant_id"], created["user_id"], keys)


class Plane:
    def __init__(self, worker: bool = False) -> None:
        name = f"py_{secrets.token_hex(6)}"
        self.database_url = json.loads(cli(["db", "start", "--database", name, "--json"]))["url"]
        cli(["migrate", "up"], self.database_url)
        self.own = member(self.database_url, "own")
        self.other = member(self.database_url, "other")
        self.worker = worker
        self._server, self.address = self._serve("127.0.0.1:0")

    @property
    def base_url(self) -> str:
        return f"http://{self.address}"

    def client(self, scope: str = "runtime", who: Member | None = None, key: str | None = None) -> Pplane:
        return Pplane(self.base_url, api_key=key if key is not None else (who or self.own).keys[scope])

    def aclient(self, scope: str = "runtime", who: Member | None = None) -> AsyncPplane:
        return AsyncPplane(self.base_url, api_key=(who or self.own).keys[scope])

    def cli(self, args: list[str]) -> str:
        return cli(args, self.database_url)

    def restart(self) -> None:
        """Stops the server (SIGTERM: requests in flight finish) and starts it on the same port."""
        self._stop_server()
        self._server, _ = self._serve(self.address)

    def stop(self) -> None:
        self._stop_server()

    def _serve(self, listen: str) -> tuple[subprocess.Popen[str], str]:
        args = [str(BIN), "serve", "--listen", listen, *(["--worker"] if self.worker else [])]
        env = {**os.environ, "DATABASE_URL": self.database_url}
        server = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        assert server.stderr is not None
        seen = ""
        for line in server.stderr:
            seen += line
            match = re.search(r"serve: listening on http://(\S+)", line)
            if match:
                # Keep reading its stderr so the server never blocks on a full pipe.
                threading.Thread(target=server.stderr.read, daemon=True).start()
                return server, match.group(1)
        raise RuntimeError(f"pplane serve exited with {server.wait()}: {seen}")

    def _stop_server(self) -> None:
        if self._server.poll() is None:
            self._server.send_signal(signal.SIGTERM)
            self._server.wait(timeout=30)


@contextmanager
def embedded_cluster(prefix: str) -> Iterator[None]:
    """A session's embedded PostgreSQL cluster in a scratch PPLANE_HOME (each
    test makes its own database on it), stopped and removed at the end."""
    if not BIN.exists():
        raise RuntimeError(f"no pplane binary at {BIN}: run `cargo build -p pplane-cli` first")
    home = tempfile.mkdtemp(prefix=prefix)
    os.chmod(home, 0o755)  # as root the cluster runs as the postgres user
    os.environ["PPLANE_HOME"] = os.path.join(home, ".pplane")
    os.environ.pop("DATABASE_URL", None)
    subprocess.run([str(BIN), "db", "start"], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run([str(BIN), "db", "stop"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def eventually(check: Callable[[], T | None], seconds: float = 15.0) -> T:
    """Polls ``check`` until it returns something other than None."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.1)
