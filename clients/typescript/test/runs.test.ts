// A run driven end to end through the client: every run, step, tool-call
// and checkpoint route, read back through the server.

import assert from "node:assert/strict";
import { test } from "node:test";
import { NotFoundError, Pplane } from "../src/index.js";
import { type Plane, planeEach } from "./plane.js";

const served = planeEach();

test("a run with parallel tool calls, a retried step and checkpoints reads back as driven", async () => {
  const plane = served();
  const pplane = plane.client("runtime");
  const { run, duplicate, correlation_id } = await pplane.signals.ingest({
    channel: "support",
    sourceId: "ticket-1",
    payload: { subject: "refund" },
    domainRefs: { ticket: "T-1" },
  });
  assert.equal(duplicate, false);
  assert.equal((await run.start({ actor: "agent:planner" })).status, "RUNNING");

  const lookup = await run.step("lookup", { input: { order: "O-1" } }).start();
  const [order, customer] = await Promise.all([
    lookup.tool("orders.get", { id: "O-1" }).run(async () => ({ total: 42 })),
    lookup.tool("customers.get", { id: "C-1" }).run(() => ({ name: "Ada" })),
  ]);
  assert.deepEqual(order, { total: 42 });
  assert.deepEqual(customer, { name: "Ada" });
  await lookup.complete({ order, customer });
  const saved = await run.checkpoint({ next: 1, order }, { lastStepIndex: 0 });

  const refund = await run.step("refund").start();
  await assert.rejects(
    refund.tool("payments.refund", { amount: 42 }).run(async () => {
      throw new Error("gateway timeout");
    }),
    /gateway timeout/,
  );
  await refund.fail({ reason: "gateway timeout" });
  const retried = await refund.retry({ maxRetries: 3, baseDelayMs: 0 });
  assert.equal(retried.status, "PENDING");
  assert.equal(retried.retry_count, 1);
  await refund.start();
  await refund.tool("payments.refund", { amount: 42 }).finish({ result: { refunded: 42 } });
  await refund.complete({ refunded: 42 });
  await run.checkpoint({ next: 2 }, { lastStepIndex: 1 });

  const skipped = await run.step("survey").add();
  assert.equal((await skipped.skip("no survey for refunds")).status, "SKIPPED");
  const cancelled = await run.step("upsell").add();
  assert.equal((await cancelled.cancel("not today")).status, "CANCELLED");
  const done = await run.complete({ actor: "agent:planner" });
  assert.equal(done.status, "COMPLETED");
  assert.ok(done.events.length >= 1, "the change names the events it appended");

  const view = await run.get();
  assert.equal(view.run.status, "COMPLETED");
  assert.deepEqual(
    view.steps.map((s) => [s.step_type, s.status]),
    [
      ["lookup", "COMPLETED"],
      ["refund", "COMPLETED"],
      ["survey", "SKIPPED"],
      ["upsell", "CANCELLED"],
    ],
  );
  assert.deepEqual(view.checkpoint?.state, { next: 2 });
  const latest = await run.latestCheckpoint();
  assert.equal(latest?.last_step_index, 1);
  const all = [];
  for await (const c of run.checkpoints(1)) all.push(c);
  assert.deepEqual(
    all.map((c) => c.id),
    [latest?.id, saved.id],
    "every checkpoint, newest first, across pages of one",
  );

  const trace = await run.trace();
  assert.equal(trace.correlation_id, correlation_id);
  const calls = trace.events.filter((e) => e.event_type === "TOOL_CALL_STARTED");
  assert.equal(calls.length, 4);
  const lookupStart = trace.events.find((e) => e.event_type === "STEP_STARTED" && e.aggregate_id === lookup.id);
  const parallel = calls.filter((e) => e.causation_id === lookupStart?.id);
  assert.equal(parallel.length, 2, "the parallel calls are siblings under their step's start");
  const diagnosis = await run.diagnose();
  assert.equal(diagnosis.run.status, "COMPLETED");
});

test("a failed run and a cancelled one end their live steps", async () => {
  const plane = served();
  const pplane = plane.client("runtime");
  const failing = (await pplane.signals.ingest({ channel: "support", sourceId: "ticket-2" })).run;
  await failing.start();
  const live = await failing.step("lookup").start();
  const failed = await failing.fail({ reason: "model refused" });
  assert.equal(failed.status, "FAILED");
  assert.equal((await failing.get()).steps[0]?.status, "CANCELLED");
  assert.equal(live.id, (await failing.get()).steps[0]?.id);

  const cancelling = (await pplane.signals.ingest({ channel: "support", sourceId: "ticket-3" })).run;
  await cancelling.start();
  assert.equal((await cancelling.cancel("customer withdrew")).status, "CANCELLED");
});

test("a run handle by id and a step handle by id reach the same rows", async () => {
  const plane = served();
  const pplane = plane.client("runtime");
  const ingested = await pplane.signals.ingest({ channel: "support", sourceId: "ticket-4" });
  const run = pplane.run(ingested.run_id);
  await run.start();
  const added = await run.step("lookup").add();
  await pplane.step(added.id).start();
  assert.equal((await run.get()).steps[0]?.status, "RUNNING");
  assert.equal(await run.latestCheckpoint(), undefined, "a run without checkpoints has no latest");
  await assert.rejects(pplane.run(crypto.randomUUID()).latestCheckpoint(), NotFoundError);
  assert.equal(await pplane.ready(), true);
  assert.equal(await pplane.alive(), true);
  const nowhere = new Pplane({ baseUrl: "http://127.0.0.1:1" });
  assert.deepEqual([await nowhere.alive(), await nowhere.ready()], [false, false], "no server: not alive, not ready");
});
