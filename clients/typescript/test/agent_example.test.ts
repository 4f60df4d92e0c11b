// The example agent (examples/typescript-agent) end to end against a served
// plane with its worker: killed on purpose after two steps, started again,
// it resumes from its last checkpoint, runs no finished step again, and its
// reply is delivered; the run's events form one causation tree.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { Pplane } from "../src/index.js";
import { bin, Plane } from "./plane.js";

const agent = resolve(bin, "../../../examples/typescript-agent/dist/agent.js");

let plane: Plane;
let scratch: string;
beforeEach(async () => {
  plane = await Plane.start({ worker: true });
  scratch = mkdtempSync(join(tmpdir(), "pplane-agent-"));
});
afterEach(async () => {
  await plane.stop();
  rmSync(scratch, { recursive: true, force: true });
});

interface Ended {
  code: number | null;
  signal: string | null;
  stdout: string;
}

function agentRun(args: string[]): Promise<Ended> {
  const env = {
    ...process.env,
    PPLANE_URL: plane.baseUrl,
    DATABASE_URL: plane.databaseUrl,
    AGENT_STATE: join(scratch, "state.json"),
    // The agent sets itself up with the binary this suite serves from.
    PPLANE_BIN: bin,
  };
  return new Promise((done) => {
    execFile(process.execPath, [agent, ...args], { env }, (error, stdout) => {
      const failed = error as (Error & { code?: number; signal?: string }) | null;
      done({ code: failed ? (failed.code ?? null) : 0, signal: failed?.signal ?? null, stdout });
    });
  });
}

test("the agent crashes after two steps, resumes from its checkpoint and finishes once", async () => {
  const crashed = await agentRun(["--crash-after", "2"]);
  assert.equal(crashed.signal, "SIGKILL", crashed.stdout);
  assert.match(crashed.stdout, /crashing on purpose after step 1/);
  const runId = /new run (\S+)/.exec(crashed.stdout)?.[1];
  assert.ok(runId, crashed.stdout);

  const resumed = await agentRun([]);
  assert.equal(resumed.code, 0, resumed.stdout);
  assert.match(resumed.stdout, new RegExp(`seen before, run ${runId}`));
  assert.match(resumed.stdout, /resuming from the checkpoint: 2 of 4 steps done/);
  assert.doesNotMatch(resumed.stdout, /step [01] /, "finished steps do not run again");
  assert.match(resumed.stdout, /inbox got 1 email/);

  const state = JSON.parse(readFileSync(join(scratch, "state.json"), "utf8"));
  const pplane = new Pplane({ baseUrl: plane.baseUrl, apiKey: state.key });
  const trace = await pplane.run(runId).trace();
  assert.equal(trace.runs[0]?.status, "COMPLETED");
  assert.ok(trace.events.every((e) => e.correlation_id === trace.correlation_id), "one correlation");
  const ids = new Set(trace.events.map((e) => e.id));
  const roots = trace.events.filter((e) => e.causation_id === null || e.causation_id === undefined);
  assert.equal(roots.length, 1, "one root");
  assert.ok(
    trace.events.every((e) => !e.causation_id || ids.has(e.causation_id)),
    "every cause is an event of the run",
  );
  const count = (type: string) => trace.events.filter((e) => e.event_type === type).length;
  assert.equal(count("STEP_SCHEDULED"), 4, "each planned step once");
  assert.equal(count("STEP_COMPLETED"), 4, "no step finished twice");
  assert.equal(count("STEP_STARTED"), 5, "four starts and the retried step's second");
  assert.equal(count("CHECKPOINT_SAVED"), 4);
  assert.equal(trace.effects[0]?.status, "COMPLETED");

  const again = await agentRun([]);
  assert.equal(again.code, 0);
  assert.doesNotMatch(again.stdout, /step \d /, "a finished run only prints its trace");
  assert.equal((await pplane.run(runId).trace()).events.length, trace.events.length, "and appends nothing");
});
