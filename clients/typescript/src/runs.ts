// Handles on a run, its steps and their tool calls, in the walkthrough's
// vocabulary: `run.step("lookup").start()`, `step.tool("search", args).run(fn)`,
// `run.checkpoint(state)`, `run.effect({...})`. A handle holds an id and the
// last answer it got (`latest`), whose `events` name what to pass as
// `causedBy` for what that change sets off.

import type { Client } from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";
import { answer, byBody, type By } from "./call.js";
import { NotFoundError } from "./errors.js";

type Schemas = components["schemas"];
type Api = Client<paths>;

export interface StepOptions extends By {
  input?: unknown;
  /** Where the step goes in the run (default: after the last one). */
  index?: number;
}

export interface EffectInput extends By {
  type: string;
  /** Unique in the tenant: the same key and request again returns the first effect. */
  idempotencyKey: string;
  /** The destination's name (shorthand for `spec.destination`). */
  destination?: string;
  spec?: Record<string, unknown>;
  /** The step that asks for it, if any. */
  step?: Step | string;
}

export interface RetryPolicy extends By {
  maxRetries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export class Run {
  latest: Schemas["Changed_Run"] | undefined;

  constructor(
    private readonly api: Api,
    readonly id: string,
    readonly correlationId?: string,
  ) {}

  private path() {
    return { params: { path: { run: this.id } } };
  }

  private async changed(pending: Promise<{ data?: Schemas["Changed_Run"]; error?: unknown; response: Response }>) {
    this.latest = await answer(pending);
    return this.latest;
  }

  /** The run as an orchestrator resumes it: the run, its steps, its latest checkpoint. */
  get(): Promise<Schemas["RunView"]> {
    return answer(this.api.GET("/v1/runs/{run}", this.path()));
  }

  start(by?: By) {
    return this.changed(this.api.POST("/v1/runs/{run}/start", { ...this.path(), body: byBody(by) }));
  }

  complete(by?: By) {
    return this.changed(this.api.POST("/v1/runs/{run}/complete", { ...this.path(), body: byBody(by) }));
  }

  fail(error: unknown, by?: By) {
    return this.changed(this.api.POST("/v1/runs/{run}/fail", { ...this.path(), body: { ...byBody(by), error } }));
  }

  cancel(reason: string, by?: By) {
    return this.changed(
      this.api.POST("/v1/runs/{run}/cancel", { ...this.path(), body: { ...byBody(by), reason } }),
    );
  }

  /** A step of type `type`: `.add()` schedules it, `.start()` schedules and starts it. */
  step(type: string, options: StepOptions = {}): PendingStep {
    return new PendingStep(this.api, this.id, type, options);
  }

  /** Saves the orchestrator's state; a resume starts from the newest. */
  checkpoint(state: unknown, options: By & { lastStepIndex?: number } = {}): Promise<Schemas["Changed_Checkpoint"]> {
    return answer(
      this.api.POST("/v1/runs/{run}/checkpoints", {
        ...this.path(),
        body: { ...byBody(options), state, last_step_index: options.lastStepIndex ?? null },
      }),
    );
  }

  /** The newest checkpoint, or `undefined` when the run has none. */
  async latestCheckpoint(): Promise<Schemas["Checkpoint"] | undefined> {
    try {
      return await answer(this.api.GET("/v1/runs/{run}/checkpoints/latest", this.path()));
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      // A missing run is a 404 too: it is the run's absence only if the run
      // itself cannot be read (which throws that NotFoundError).
      await this.get();
      return undefined;
    }
  }

  /** Every checkpoint of the run, newest first, fetched a page at a time. */
  async *checkpoints(pageSize = 50): AsyncGenerator<Schemas["Checkpoint"], void, undefined> {
    let before: number | undefined;
    for (;;) {
      const query = before === undefined ? { limit: pageSize } : { limit: pageSize, before };
      const page = await answer(
        this.api.GET("/v1/runs/{run}/checkpoints", { params: { path: { run: this.id }, query } }),
      );
      yield* page.checkpoints;
      if (page.next_before === undefined || page.next_before === null) return;
      before = page.next_before;
    }
  }

  /** Asks for an external effect; the outbox worker delivers it after this commits. */
  effect(input: EffectInput): Promise<Schemas["Changed_Requested"]> {
    const step = typeof input.step === "string" ? input.step : input.step?.id;
    return answer(
      this.api.POST("/v1/runs/{run}/effects", {
        ...this.path(),
        body: {
          ...byBody(input),
          effect_type: input.type,
          idempotency_key: input.idempotencyKey,
          destination: input.destination ?? null,
          spec: input.spec ?? {},
          step_id: step ?? null,
        },
      }),
    );
  }

  diagnose(): Promise<Schemas["RunDiagnosis"]> {
    return answer(this.api.GET("/v1/runs/{run}/diagnosis", this.path()));
  }

  trace(): Promise<Schemas["Trace"]> {
    return answer(this.api.GET("/v1/trace/{id}", { params: { path: { id: this.id } } }));
  }
}

/** A step about to be scheduled. */
export class PendingStep {
  constructor(
    private readonly api: Api,
    private readonly runId: string,
    private readonly type: string,
    private readonly options: StepOptions,
  ) {}

  /** Schedules the step (PENDING). */
  async add(): Promise<Step> {
    const added = await answer(
      this.api.POST("/v1/runs/{run}/steps", {
        params: { path: { run: this.runId } },
        body: {
          ...byBody(this.options),
          step_type: this.type,
          input: this.options.input ?? null,
          step_index: this.options.index ?? null,
        },
      }),
    );
    const step = new Step(this.api, added.id);
    step.latest = added;
    return step;
  }

  /** Schedules the step and starts it (RUNNING). */
  async start(): Promise<Step> {
    const step = await this.add();
    await step.start();
    return step;
  }
}

export class Step {
  latest: Schemas["Changed_Step"] | undefined;

  constructor(
    private readonly api: Api,
    readonly id: string,
  ) {}

  private path() {
    return { params: { path: { step: this.id } } };
  }

  private async changed(pending: Promise<{ data?: Schemas["Changed_Step"]; error?: unknown; response: Response }>) {
    this.latest = await answer(pending);
    return this.latest;
  }

  start(by?: By) {
    return this.changed(this.api.POST("/v1/steps/{step}/start", { ...this.path(), body: byBody(by) }));
  }

  complete(output?: unknown, by?: By) {
    return this.changed(
      this.api.POST("/v1/steps/{step}/complete", { ...this.path(), body: { ...byBody(by), output: output ?? null } }),
    );
  }

  fail(error: unknown, by?: By) {
    return this.changed(this.api.POST("/v1/steps/{step}/fail", { ...this.path(), body: { ...byBody(by), error } }));
  }

  /** A FAILED step back to PENDING under a retry policy. */
  retry(policy: RetryPolicy = {}) {
    return this.changed(
      this.api.POST("/v1/steps/{step}/retry", {
        ...this.path(),
        body: {
          ...byBody(policy),
          max_retries: policy.maxRetries ?? null,
          base_delay_ms: policy.baseDelayMs ?? null,
          max_delay_ms: policy.maxDelayMs ?? null,
        },
      }),
    );
  }

  skip(reason: string, by?: By) {
    return this.changed(this.api.POST("/v1/steps/{step}/skip", { ...this.path(), body: { ...byBody(by), reason } }));
  }

  cancel(reason: string, by?: By) {
    return this.changed(
      this.api.POST("/v1/steps/{step}/cancel", { ...this.path(), body: { ...byBody(by), reason } }),
    );
  }

  /** A call of tool `name` made by this step. */
  tool(name: string, args?: unknown, by?: By): PendingToolCall {
    return new PendingToolCall(this.api, this.id, name, args, by);
  }
}

/** The outcome of a tool call: exactly one of them. */
export type Outcome = { result: unknown; error?: never } | { error: unknown; result?: never };

/** A tool call about to be recorded. */
export class PendingToolCall {
  constructor(
    private readonly api: Api,
    private readonly stepId: string,
    private readonly name: string,
    private readonly args: unknown,
    private readonly by: By | undefined,
  ) {}

  /** Records the call as RUNNING. */
  async start(): Promise<ToolCall> {
    const started = await answer(
      this.api.POST("/v1/steps/{step}/tool-calls", {
        params: { path: { step: this.stepId } },
        body: { ...byBody(this.by), tool_name: this.name, args: this.args ?? null },
      }),
    );
    const call = new ToolCall(this.api, started.id);
    call.latest = started;
    return call;
  }

  /** Records a call that has already happened: its start and its outcome. */
  async finish(outcome: Outcome): Promise<ToolCall> {
    const call = await this.start();
    await call.finish(outcome, this.actor());
    return call;
  }

  /**
   * Records the call around `fn`: started before, COMPLETED with what it
   * returns or FAILED with what it throws (which is thrown on).
   */
  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    const call = await this.start();
    let value: T;
    try {
      value = await fn();
    } catch (error) {
      await call.finish({ error: describe(error) }, this.actor());
      throw error;
    }
    await call.finish({ result: value ?? null }, this.actor());
    return value;
  }

  /** The call's end is recorded by whoever started it. */
  private actor(): By | undefined {
    return this.by?.actor === undefined ? undefined : { actor: this.by.actor };
  }
}

export class ToolCall {
  latest: Schemas["Changed_ToolCall"] | undefined;

  constructor(
    private readonly api: Api,
    readonly id: string,
  ) {}

  async finish(outcome: Outcome, by?: By): Promise<Schemas["Changed_ToolCall"]> {
    const body = "error" in outcome && outcome.error !== undefined
      ? { ...byBody(by), error: outcome.error }
      : { ...byBody(by), result: outcome.result ?? null };
    this.latest = await answer(
      this.api.POST("/v1/tool-calls/{call}/finish", { params: { path: { call: this.id } }, body }),
    );
    return this.latest;
  }
}

/** An exception as JSON a tool call's `error` can hold. */
function describe(error: unknown): unknown {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return error ?? null;
}
