"""The LangGraph benchmark: the same graph on ``PplaneSaver`` through ``pplane
serve`` and on LangGraph's ``AsyncPostgresSaver``, on the same PostgreSQL
server in the same run, at 1 and 8 concurrent threads.

A graph pass is a loop of ``--steps`` super-steps, each one node that adds a
line to a growing list (so each super-step stores a task's writes and a
checkpoint with a new channel value); every pass is a new thread. It
reports super-steps per second and the p50/p99 time from one super-step's
end to the next's (both savers' calls included), and ours/peer's ratio.

    python scripts/bench.py                      # the embedded cluster (pplane db start)
    DATABASE_URL=postgres://… python scripts/bench.py --seconds 10

``pplane serve`` runs from ``$PPLANE_BIN`` (default: the release build)."""

from __future__ import annotations

import argparse
import asyncio
import json
import operator
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict
from urllib.parse import urlsplit, urlunsplit

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import END, START, StateGraph
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from pplane_langgraph import PplaneSaver

REPO = Path(__file__).resolve().parents[3]
BIN = Path(os.environ.get("PPLANE_BIN", REPO / "target" / "release" / "pplane"))


class Loop(TypedDict):
    count: int
    log: Annotated[list[str], operator.add]


def work(state: Loop) -> dict[str, Any]:
    return {"count": state["count"] + 1, "log": [f"step {state['count']:04} " + "x" * 64]}


def graph_on(saver: BaseCheckpointSaver[Any], steps: int) -> Any:
    builder = StateGraph(Loop)
    builder.add_node("work", work)
    builder.add_edge(START, "work")
    builder.add_conditional_edges("work", lambda s: END if s["count"] >= steps else "work")
    return builder.compile(checkpointer=saver)


@dataclass
class Result:
    steps_per_s: float
    p50_ms: float
    p99_ms: float


async def drive(saver: BaseCheckpointSaver[Any], name: str, threads: int, seconds: float, steps: int) -> Result:
    """`threads` workers each run passes on new threads until the time is up."""
    graph = graph_on(saver, steps)
    gaps: list[float] = []
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        nonlocal done
        n = 0
        while time.perf_counter() < deadline:
            config = {"configurable": {"thread_id": f"{name}-{threads}-{w}-{n}-{time.time_ns()}"}}
            last = time.perf_counter()
            async for _ in graph.astream({"count": 0, "log": []}, config, stream_mode="updates"):
                now = time.perf_counter()
                gaps.append(now - last)
                last = now
                done += 1
            n += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(threads)))
    took = time.perf_counter() - started
    gaps.sort()
    return Result(done / took, gaps[len(gaps) // 2] * 1000, gaps[int(len(gaps) * 0.99)] * 1000)


@asynccontextmanager
async def served(database_url: str) -> AsyncIterator[tuple[str, str]]:
    """``pplane serve`` on the database, and a runtime key of a new tenant."""
    env = {**os.environ, "DATABASE_URL": database_url}

    def cli(*args: str) -> Any:
        done = subprocess.run([str(BIN), *args, "--json"], env=env, capture_output=True, text=True, check=True)
        return json.loads(done.stdout)

    subprocess.run([str(BIN), "migrate", "up"], env=env, capture_output=True, check=True)
    tenant = cli("tenant", "create", f"bench-{time.time_ns()}")
    key = cli("apikey", "create", "--tenant", tenant["tenant_id"], "--user", tenant["user_id"], "--scope", "runtime")
    server = subprocess.Popen(
        [str(BIN), "serve", "--listen", "127.0.0.1:0"], env=env, stderr=subprocess.PIPE, text=True
    )
    assert server.stderr is not None
    address = None
    for line in server.stderr:
        found = re.search(r"serve: listening on http://(\S+)", line)
        if found:
            address = found.group(1)
            threading.Thread(target=server.stderr.read, daemon=True).start()
            break
    if address is None:
        raise RuntimeError(f"pplane serve exited with {server.wait()}")
    try:
        yield f"http://{address}", key["key"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def peer_url(database_url: str) -> str:
    """A database beside the plane's on the same server, for the peer's tables."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path="/pplane_bench_postgressaver"))


async def peer_database(database_url: str) -> str:
    url = peer_url(database_url)
    import psycopg

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        exists = await (
            await conn.execute("SELECT 1 FROM pg_database WHERE datname = 'pplane_bench_postgressaver'")
        ).fetchone()
        if not exists:
            await conn.execute("CREATE DATABASE pplane_bench_postgressaver")
    return url


def embedded_url() -> str:
    """A scratch database on the repository's embedded cluster (`.pplane/`
    at its root unless ``$PPLANE_HOME`` says otherwise)."""
    done = subprocess.run(
        [str(BIN), "db", "start", "--database", "pplane_bench_langgraph", "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return str(json.loads(done.stdout)["url"])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="per side and concurrency")
    parser.add_argument("--steps", type=int, default=20, help="super-steps per graph pass")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL") or embedded_url()
    peer = await peer_database(database_url)
    where = urlsplit(peer).netloc.rpartition("@")[2]
    print(f"langgraph bench: {args.steps} super-steps a pass, {args.seconds:g} s a side, server {where}")
    pool_size = max(args.threads)
    async with (
        served(database_url) as (url, key),
        AsyncConnectionPool(
            peer,
            min_size=pool_size,
            max_size=pool_size,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
            open=False,
        ) as pool,
        PplaneSaver(url=url, api_key=key, actor="agent:bench") as ours,
    ):
        theirs = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await theirs.setup()
        for threads in args.threads:
            # Warm both up, then measure each side in turn.
            await drive(theirs, "warm", threads, 1.0, args.steps)
            await drive(ours, "warm", threads, 1.0, args.steps)
            peer_result = await drive(theirs, "peer", threads, args.seconds, args.steps)
            our_result = await drive(ours, "ours", threads, args.seconds, args.steps)
            ratio = our_result.steps_per_s / peer_result.steps_per_s
            print(
                f"langgraph {threads} thread{'s' if threads > 1 else ''}: "
                f"PplaneSaver {our_result.steps_per_s:.0f} super-steps/s "
                f"(p50 {our_result.p50_ms:.1f} ms, p99 {our_result.p99_ms:.1f} ms) | "
                f"PostgresSaver {peer_result.steps_per_s:.0f} super-steps/s "
                f"(p50 {peer_result.p50_ms:.1f} ms, p99 {peer_result.p99_ms:.1f} ms) | "
                f"ratio {ratio:.2f}"
            )
            print(
                json.dumps(
                    {
                        "scenario": f"langgraph {threads} threads",
                        "ours_per_s": round(our_result.steps_per_s, 1),
                        "peer_per_s": round(peer_result.steps_per_s, 1),
                        "ours_p99_ms": round(our_result.p99_ms, 2),
                        "peer_p99_ms": round(peer_result.p99_ms, 2),
                        "ratio": round(ratio, 3),
                    }
                )
            )


if __name__ == "__main__":
    asyncio.run(main())
