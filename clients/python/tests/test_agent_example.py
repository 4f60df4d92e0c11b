"""The example agent (examples/python-agent) end to end against a served plane
with its worker: killed on purpose after two steps, started again, it resumes
from its last checkpoint, runs no finished step again, and its reply is
delivered; the run's events form one causation tree."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from pplane_client import Pplane

from .plane import BIN, REPO, Plane

AGENT = REPO / "examples" / "python-agent" / "agent.py"


def agent_run(plane: Plane, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PPLANE_URL": plane.base_url,
        "DATABASE_URL": plane.database_url,
        "AGENT_STATE": str(state),
        # The agent sets itself up with the binary this suite serves from.
        "PPLANE_BIN": str(BIN),
    }
    return subprocess.run([sys.executable, str(AGENT), *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_agent_crashes_after_two_steps_resumes_from_its_checkpoint_and_finishes_once(
    plane_with_worker: Plane, tmp_path: Path
) -> None:
    plane, state = plane_with_worker, tmp_path / "state.json"
    crashed = agent_run(plane, state, "--crash-after", "2")
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    assert "crashing on purpose after step 1" in crashed.stdout
    found = re.search(r"new run (\S+)", crashed.stdout)
    assert found, crashed.stdout
    run_id = found.group(1)

    resumed = agent_run(plane, state)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"seen before, run {run_id}" in resumed.stdout
    assert "resuming from the checkpoint: 2 of 4 steps done" in resumed.stdout
    assert not re.search(r"step [01] ", resumed.stdout), "finished steps do not run again"
    assert "inbox got 1 email" in resumed.stdout

    key = json.loads(state.read_text())["key"]
    with Pplane(plane.base_url, api_key=key) as pplane:
        trace = pplane.run(run_id).trace()
        assert trace.runs[0].status == "COMPLETED"
        assert all(e.correlation_id == trace.correlation_id for e in trace.events), "one correlation"
        ids = {e.id for e in trace.events}
        assert sum(e.causation_id is None for e in trace.events) == 1, "one root"
        assert all(e.causation_id is None or e.causation_id in ids for e in trace.events)
        types = [e.event_type for e in trace.events]
        assert types.count("STEP_SCHEDULED") == 4, "each planned step once"
        assert types.count("STEP_COMPLETED") == 4, "no step finished twice"
        assert types.count("STEP_STARTED") == 5, "four starts and the retried step's second"
        assert types.count("CHECKPOINT_SAVED") == 4
        assert trace.effects[0].status == "COMPLETED"

        again = agent_run(plane, state)
        assert again.returncode == 0
        assert not re.search(r"step \d ", again.stdout), "a finished run only prints its trace"
        assert len(pplane.run(run_id).trace().events) == len(trace.events), "and appends nothing"
