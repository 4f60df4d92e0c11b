// A support agent on pplane. No model: `plan` stands in for one, and the
// tools are small deterministic functions. It ingests a ticket, works
// through the plan with parallel tool calls, retries a step whose tool
// fails, saves a checkpoint after every step, asks for an email that the
// outbox worker delivers, and prints the run's causation tree.
//
//   npm start                          # a new ticket, or resume it
//   npm start -- --crash-after 2       # die (SIGKILL) after two steps
//   npm start -- --ticket ticket-7     # another ticket
//
// Started again after a crash, it finds its run through the ticket (the
// signal is idempotent) and goes on from the last checkpoint: no step that
// finished runs again.

import { Pplane, type Run, type Schemas, type Step } from "@pplane/client";
import { inboxStart } from "./inbox.js";
import { plan, type Planned } from "./plan.js";
import { stateLoad } from "./setup.js";
import { treePrint } from "./tree.js";

const ACTOR = "agent:support-bot";

interface Memory {
  next: number;
  notes: Record<string, unknown>;
}

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

async function main(): Promise<void> {
  const ticket = option("--ticket") ?? "ticket-1001";
  const crashAfter = Number(option("--crash-after") ?? "0");
  const state = await stateLoad();
  const pplane = new Pplane({ baseUrl: state.url, apiKey: state.key });
  const inbox = await inboxStart(state.receiverPort);
  try {
    const ingested = await pplane.signals.ingest({
      channel: "support-email",
      sourceId: ticket,
      payload: { from: "ada@example.com", subject: "Refund for order O-1", body: "The blender arrived broken." },
      domainRefs: { ticket },
    });
    const run = ingested.run;
    console.log(ingested.duplicate ? `${ticket}: seen before, run ${run.id}` : `${ticket}: new run ${run.id}`);
    const view = await run.get();
    if (view.run.status === "PENDING") await run.start({ actor: ACTOR });
    if (view.run.status !== "COMPLETED") {
      const memory = (view.checkpoint?.state as Memory | undefined) ?? { next: 0, notes: {} };
      if (view.checkpoint) console.log(`resuming from the checkpoint: ${memory.next} of ${plan.length} steps done`);
      await stepsRun(pplane, run, view, memory, ticket, crashAfter);
      await run.complete({ actor: ACTOR });
      console.log("run completed; waiting for the worker to deliver the reply");
      await delivered(pplane, run);
      console.log(`the customer's inbox got ${inbox.received.length} email(s)`);
    }
    treePrint(await run.trace());
  } finally {
    inbox.close();
  }
}

async function stepsRun(
  pplane: Pplane,
  run: Run,
  view: Schemas["RunView"],
  memory: Memory,
  ticket: string,
  crashAfter: number,
): Promise<void> {
  for (let index = memory.next; index < plan.length; index += 1) {
    const planned = plan[index] as Planned;
    const existing = view.steps.find((s) => s.step_index === index);
    const step = existing ? pplane.step(existing.id) : await run.step(planned.type, { index, input: memory.notes, actor: ACTOR }).add();
    // A crash between scheduling a step and its checkpoint leaves it behind: pick it up.
    if (existing?.status === "RUNNING") {
      await step.fail({ reason: "the agent restarted" }, { actor: ACTOR });
      await step.retry({ maxRetries: 2, baseDelayMs: 0, actor: ACTOR });
    }
    if (existing?.status !== "COMPLETED") {
      await step.start({ actor: ACTOR });
      memory.notes[planned.type] = await stepWork(run, step, planned, memory, ticket);
    }
    memory.next = index + 1;
    await run.checkpoint(memory, { lastStepIndex: index, actor: ACTOR });
    console.log(`step ${index} ${planned.type}: done, checkpoint saved`);
    if (memory.next === crashAfter) {
      console.log(`crashing on purpose after step ${index}`);
      process.kill(process.pid, "SIGKILL");
    }
  }
}

/** The step's tools side by side; when one fails, the step fails and is retried once. */
async function stepWork(run: Run, step: Step, planned: Planned, memory: Memory, ticket: string): Promise<unknown> {
  for (let attempt = 1; ; attempt += 1) {
    const outcomes = await Promise.allSettled(
      planned.tools.map((tool) => step.tool(tool.name, tool.args, { actor: ACTOR }).run(() => tool.call(attempt))),
    );
    const failed = outcomes.find((o) => o.status === "rejected");
    if (!failed) {
      const results = outcomes.map((o) => (o as PromiseFulfilledResult<unknown>).value);
      if (planned.type === "send_reply") {
        await run.effect({
          type: "send_email",
          idempotencyKey: `reply-${ticket}`,
          destination: "customer-email",
          spec: { to: "ada@example.com", subject: "Your refund", body: results[0] },
          step,
          actor: ACTOR,
        });
      }
      await step.complete(results, { actor: ACTOR });
      return results;
    }
    const reason = failed.reason instanceof Error ? failed.reason.message : String(failed.reason);
    await step.fail({ reason }, { actor: ACTOR });
    if (attempt >= 2) throw new Error(`step ${planned.type} failed twice: ${reason}`);
    console.log(`step ${planned.type}: a tool failed (${reason}); retrying the step`);
    await step.retry({ maxRetries: 2, baseDelayMs: 0, actor: ACTOR });
    await step.start({ actor: ACTOR });
  }
}

/** Waits until the outbox worker has delivered the run's effects. */
async function delivered(pplane: Pplane, run: Run): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const effects = (await run.trace()).effects;
    if (effects.length > 0 && effects.every((e) => e.status === "COMPLETED")) return;
    if (effects.some((e) => e.status === "DEAD_LETTER")) throw new Error("the reply was dead-lettered");
    if (Date.now() > deadline) throw new Error("no delivery within 30 s: is `pplane serve --worker` running?");
    await new Promise((r) => setTimeout(r, 200));
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
