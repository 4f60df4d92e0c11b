"""What the agent needs before its first run, made once and kept in its
state file: a tenant of its own, a runtime key (and an operator key, only to
add the destination), and the port of the receiver that stands in for the
customer's inbox. Creating tenants and keys is the owner's job, so this runs
the ``pplane`` CLI, from the repository root as ``cargo run -- serve`` does,
so both find the same embedded database."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from pplane_client import Pplane

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
STATE_FILE = Path(os.environ.get("AGENT_STATE", HERE / ".agent-state.json"))


@dataclass
class State:
    url: str
    key: str
    tenant: str
    receiver_port: int


def state_load() -> State:
    if STATE_FILE.exists():
        return State(**json.loads(STATE_FILE.read_text()))
    url = os.environ.get("PPLANE_URL", "http://127.0.0.1:7878")
    tenant = json.loads(_pplane(["tenant", "create", "support-agent", "--json"]))

    def key(scope: str) -> str:
        member = ["--tenant", tenant["tenant_id"], "--user", tenant["user_id"]]
        return str(json.loads(_pplane(["apikey", "create", *member, "--scope", scope, "--json"]))["key"])

    state = State(url, key("runtime"), tenant["tenant_id"], _free_port())
    with Pplane(url, api_key=key("operator")) as operator:
        operator.destinations.add("customer-email", webhook=f"http://127.0.0.1:{state.receiver_port}/inbox")
    STATE_FILE.write_text(json.dumps(asdict(state), indent=2))
    STATE_FILE.chmod(0o600)
    print(f"set up: tenant {state.tenant}, a runtime key and the destination customer-email (kept in {STATE_FILE})")
    return state


def _pplane(args: list[str]) -> str:
    """Runs the CLI: $PPLANE_BIN, else the repository's release or debug build, else ``pplane`` on PATH."""
    built = [REPO / "target" / p / "pplane" for p in ("release", "debug")]
    bin = os.environ.get("PPLANE_BIN") or next((str(b) for b in built if b.exists()), None) or shutil.which("pplane")
    if bin is None:
        raise SystemExit("no pplane binary: build it with `cargo build --release` or set PPLANE_BIN")
    done = subprocess.run([bin, *args], cwd=REPO, capture_output=True, text=True, check=True)
    return done.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
