// Effects leave through the outbox: requested in the run's transaction,
// delivered by the worker of `pplane serve --worker` to a real receiver;
// the operator's destinations and outbox routes.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, test } from "node:test";
import { ForbiddenError } from "../src/index.js";
import { eventually, Plane } from "./plane.js";

let plane: Plane;
let receiver: Server;
const received: { id: string | undefined; body: string }[] = [];
let answer = 204;

beforeEach(async () => {
  plane = await Plane.start({ worker: true });
  received.length = 0;
  answer = 204;
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      received.push({ id: req.headers["idempotency-key"] as string | undefined, body });
      res.writeHead(answer).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
});
afterEach(async () => {
  await plane.stop();
  await new Promise((r) => receiver.close(r));
});

function receiverUrl(): string {
  return `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
}

test("an effect is delivered once by the worker, and a repeated request is the same effect", async () => {
  const operator = plane.client("operator");
  const created = await operator.destinations.add({ name: "mail", webhook: receiverUrl() });
  assert.match(created.signing_secret ?? "", /^whsec_/);
  assert.deepEqual((await operator.destinations.list()).map((d) => d.name), ["mail"]);
  await assert.rejects(plane.client("runtime").destinations.add({ name: "x", webhook: receiverUrl() }), ForbiddenError);

  const pplane = plane.client("runtime");
  const { run } = await pplane.signals.ingest({ channel: "support", sourceId: "t-1" });
  await run.start();
  const step = await run.step("reply").start();
  const request = { type: "send_email", idempotencyKey: "reply-t-1", destination: "mail", spec: { to: "ada@example.com" }, step };
  const first = await run.effect(request);
  const again = await run.effect(request);
  assert.equal(again.duplicate, true);
  assert.equal(again.effect.id, first.effect.id);
  await step.complete();
  await run.complete();

  const delivered = await eventually(async () => {
    const effect = await pplane.effect(first.effect.id);
    return effect.effect.status === "COMPLETED" ? effect : undefined;
  });
  assert.equal(delivered.outbox?.status, "DELIVERED");
  assert.equal(received.length, 1);
  assert.equal(received[0]?.id, "reply-t-1");
  const stats = await operator.outbox.stats();
  assert.equal(stats.delivered, 1);
  const purged = await operator.outbox.purge(new Date(Date.now() + 60_000));
  assert.equal(purged.purged, 1);
  assert.equal((await operator.outbox.stats()).delivered, 0);
});

test("a dead letter is listed and requeued by the operator, then delivered", async () => {
  answer = 400;
  const operator = plane.client("operator");
  await operator.destinations.add({ name: "crm", webhook: receiverUrl() });
  const { run } = await plane.client("runtime").signals.ingest({ channel: "support", sourceId: "t-2" });
  await run.start();
  const requested = await run.effect({ type: "crm_update", idempotencyKey: "crm-t-2", destination: "crm" });
  const dead = await eventually(async () => {
    const entries = await operator.outbox.list({ status: "DEAD_LETTER" });
    return entries.length > 0 ? entries[0] : undefined;
  });
  answer = 204;
  const requeued = await operator.outbox.requeue(dead.id, { actor: "user:oncall" });
  assert.ok(requeued.events.length > 0);
  await eventually(async () => {
    const effect = await operator.effect(requested.effect.id);
    return effect.effect.status === "COMPLETED" ? true : undefined;
  });
  assert.equal(received.length, 2, "one refused attempt, one delivery");
});
