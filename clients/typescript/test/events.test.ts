// The tail of the tenant's log delivers every event once, in order, while
// writers append and the server restarts under it.

import assert from "node:assert/strict";
import { test } from "node:test";
import { type Plane, planeEach } from "./plane.js";

const served = planeEach();

test("the tail sees every event exactly once across a server restart", async () => {
  const plane = served();
  const writer = plane.client("runtime");
  const reader = plane.client("read");
  const stop = new AbortController();
  const seen: number[] = [];
  let reconnects = 0;
  const tail = (async () => {
    for await (const event of reader.events.tail({
      waitSeconds: 2,
      limit: 7,
      signal: stop.signal,
      retryDelayMs: 50,
      onReconnect: () => {
        reconnects += 1;
      },
    })) {
      seen.push(event.sequence_number);
    }
  })();

  const drive = async (from: number, to: number) => {
    await Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        for (let i = from; i < to; i += 1) {
          const { run } = await writer.signals.ingest({ channel: "load", sourceId: `w${w}-${i}` });
          await run.start();
        }
      }),
    );
  };
  await drive(0, 5);
  await plane.restart();
  await drive(5, 10);

  const total = (await reader.events.page({ after: 0, limit: 1000 })).events.length;
  const deadline = Date.now() + 15_000;
  while (seen.length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  stop.abort();
  await tail;
  assert.ok(reconnects >= 1, "the restart cut the tail's connection");
  assert.equal(total, 4 * 10 * 3, "signal, run created and run started per run");
  assert.deepEqual(
    seen,
    Array.from({ length: total }, (_, i) => i + 1),
    "every position once, in order, no gaps",
  );
});

test("a tail resumes after the position it is given and pages are bounded", async () => {
  const plane = served();
  const writer = plane.client("runtime");
  for (let i = 0; i < 3; i += 1) await writer.signals.ingest({ channel: "load", sourceId: `s${i}` });
  const reader = plane.client("read");
  const first = await reader.events.page({ after: 0, limit: 4 });
  assert.equal(first.events.length, 4);
  assert.equal(first.next_after, 4);
  const stop = new AbortController();
  const rest: number[] = [];
  for await (const event of reader.events.tail({ after: first.next_after, waitSeconds: 1, signal: stop.signal })) {
    rest.push(event.sequence_number);
    if (rest.length === 2) stop.abort();
  }
  assert.deepEqual(rest, [5, 6]);
});
