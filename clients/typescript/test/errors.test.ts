// Refusals arrive as typed exceptions carrying the problem document.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  InvalidTransitionError,
  NotFoundError,
  PayloadTooLargeError,
  PplaneError,
  QuotaExceededError,
  TooManyRequestsError,
  UnauthorizedError,
} from "../src/index.js";
import { type Plane, planeEach } from "./plane.js";

const served = planeEach();

async function startedRun(plane: Plane) {
  const { run } = await plane.client("runtime").signals.ingest({ channel: "support", sourceId: crypto.randomUUID() });
  await run.start();
  return run;
}

test("no key, a made-up key and a revoked key are UnauthorizedError (401)", async () => {
  const plane = served();
  const readKey = plane.own.keys.read;
  const forged = `${readKey.slice(0, -1)}${readKey.endsWith("0") ? "1" : "0"}`;
  for (const key of [undefined, "ppk_not-a-key", forged]) {
    const error = await plane.client({ key }).events.page().catch((e: unknown) => e);
    assert.ok(error instanceof UnauthorizedError, `${key}: ${String(error)}`);
    assert.equal(error.status, 401);
    assert.equal(error.problem.type, "urn:pplane:problem:unauthorized");
  }
  const member = ["--tenant", plane.own.tenant, "--user", plane.own.user];
  const listed = JSON.parse(await plane.cli(["apikey", "list", ...member, "--json"]));
  const read = listed.find((k: { scope: string }) => k.scope === "read");
  await plane.cli(["apikey", "revoke", read.id, ...member]);
  await assert.rejects(plane.client("read").events.page(), UnauthorizedError);
});

test("a key over its own rate is TooManyRequestsError (429)", async () => {
  const plane = served();
  const member = ["--tenant", plane.own.tenant, "--user", plane.own.user];
  const args = ["apikey", "create", ...member, "--scope", "read", "--rate", "0.5", "--burst", "2", "--json"];
  const { key } = JSON.parse(await plane.cli(args));
  const client = plane.client({ key });
  await client.events.page();
  await client.events.page();
  const error = await client.events.page().catch((e: unknown) => e);
  assert.ok(error instanceof TooManyRequestsError, String(error));
  assert.equal(error.status, 429);
  assert.equal(error.kind, "too-many-requests");
  await plane.client("read").events.page(); // the tenant's other keys go on
});

test("an effect past the tenant's quota is QuotaExceededError (429), with nothing written", async () => {
  const plane = served();
  await plane.cli(["tenant", "quota", plane.own.tenant, "--pending-effects", "1"]);
  const operator = plane.client("operator");
  await operator.destinations.add({ name: "mail", webhook: "http://127.0.0.1:9/h" });
  const run = await startedRun(plane);
  await run.effect({ type: "notify", idempotencyKey: "one", destination: "mail", spec: {} });
  const error = await run
    .effect({ type: "notify", idempotencyKey: "two", destination: "mail", spec: {} })
    .catch((e: unknown) => e);
  assert.ok(error instanceof QuotaExceededError, String(error));
  assert.equal(error.status, 429);
  assert.equal(error.kind, "quota-exceeded");
  assert.match(error.message, /over its quota of 1/);
  assert.equal((await operator.outbox.stats()).pending, 1);
});

test("a read key cannot write: ForbiddenError (403)", async () => {
  const plane = served();
  const error = await plane.client("read").signals.ingest({ channel: "support", sourceId: "x" }).catch((e) => e);
  assert.ok(error instanceof ForbiddenError);
  assert.equal(error.kind, "forbidden");
  await assert.rejects(plane.client("runtime").outbox.stats(), ForbiddenError, "the outbox is the operator's");
});

test("another tenant's run is NotFoundError (404), exactly as one that does not exist", async () => {
  const plane = served();
  const run = await startedRun(plane);
  const stranger = plane.client("operator", plane.other);
  const foreign = await stranger.run(run.id).get().catch((e) => e);
  const missing = await stranger.run(crypto.randomUUID()).get().catch((e) => e);
  assert.ok(foreign instanceof NotFoundError && missing instanceof NotFoundError);
  assert.equal(foreign.problem.title, missing.problem.title);
  await assert.rejects(stranger.run(run.id).complete(), NotFoundError);
  assert.equal((await run.get()).run.status, "RUNNING", "nothing changed");
});

test("a stale expected version is ConflictError (409) with the current version", async () => {
  const plane = served();
  const run = await startedRun(plane);
  const current = (await run.get()).run.version;
  const error = await run.complete({ expectedVersion: current - 1 }).catch((e) => e);
  assert.ok(error instanceof ConflictError);
  assert.equal(error.status, 409);
  assert.equal(error.currentVersion, current);
  assert.equal((await run.complete({ expectedVersion: current })).status, "COMPLETED");
});

test("a finished run takes no more steps: InvalidTransitionError (409)", async () => {
  const plane = served();
  const run = await startedRun(plane);
  await run.complete();
  const error = await run.step("late").add().catch((e) => e);
  assert.ok(error instanceof InvalidTransitionError);
  assert.match(error.problem.detail, /COMPLETED/);
});

test("a payload over the limit is PayloadTooLargeError (413), and nothing is written", async () => {
  const plane = served();
  const pplane = plane.client("runtime");
  const huge = "x".repeat(3 << 20);
  const error = await pplane.signals.ingest({ channel: "support", sourceId: "big", payload: { huge } }).catch((e) => e);
  assert.ok(error instanceof PayloadTooLargeError, String(error));
  assert.equal(error.status, 413);
  const page = await plane.client("read").events.page();
  assert.equal(page.events.length, 0);
});

test("a bad field is InvalidInputError (422) naming it", async () => {
  const plane = served();
  const run = await startedRun(plane);
  const error = await run.step("lookup", { actor: "robot" }).add().catch((e) => e);
  assert.ok(error instanceof InvalidInputError, String(error));
  assert.equal(error.status, 422);
  assert.match(error.problem.detail, /actor/);
  const paging = await plane.client("read").events.page({ limit: 0 }).catch((e) => e);
  assert.ok(paging instanceof InvalidInputError && paging instanceof PplaneError);
  assert.match(paging.problem.detail, /limit/);
});
