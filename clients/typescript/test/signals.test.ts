// Ingestion is idempotent: a retry by source id or by Idempotency-Key
// returns the first signal's ids, says so, and appends nothing.

import assert from "node:assert/strict";
import { test } from "node:test";
import { type Plane, planeEach } from "./plane.js";

const served = planeEach();

async function logLength(plane: Plane): Promise<number> {
  const page = await plane.client("read").events.page({ after: 0, limit: 1000 });
  return page.events.length;
}

test("a retry with the same Idempotency-Key returns the first signal and writes nothing", async () => {
  const plane = served();
  const pplane = plane.client("runtime");
  const first = await pplane.signals.ingest({ channel: "email", idempotencyKey: "msg-77", payload: { n: 1 } });
  const written = await logLength(plane);
  const again = await pplane.signals.ingest({ channel: "email", idempotencyKey: "msg-77", payload: { n: 1 } });
  assert.equal(first.duplicate, false);
  assert.equal(again.duplicate, true);
  assert.deepEqual([again.signal_id, again.run_id, again.correlation_id], [first.signal_id, first.run_id, first.correlation_id]);
  assert.deepEqual(again.events, []);
  assert.equal(await logLength(plane), written);
});

test("retries racing each other by source id make one signal", async () => {
  const plane = served();
  const pplane = plane.client("runtime");
  const answers = await Promise.all(
    Array.from({ length: 6 }, () => pplane.signals.ingest({ channel: "slack", sourceId: "evt-9" })),
  );
  assert.equal(new Set(answers.map((a) => a.run_id)).size, 1);
  assert.equal(answers.filter((a) => !a.duplicate).length, 1);
});

test("another channel with the same source id is another signal", async () => {
  const plane = served();
  const pplane = plane.client("runtime");
  const a = await pplane.signals.ingest({ channel: "slack", sourceId: "evt-1" });
  const b = await pplane.signals.ingest({ channel: "email", sourceId: "evt-1" });
  assert.notEqual(a.run_id, b.run_id);
  assert.equal(b.duplicate, false);
});
