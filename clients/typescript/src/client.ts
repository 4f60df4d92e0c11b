// The entry point: `new Pplane({ baseUrl, apiKey })`. Requests go through the
// client openapi-fetch builds from the generated `paths`, so every path,
// body and answer here is checked against the committed OpenAPI document at
// compile time; this layer only names things in the plane's vocabulary and
// turns problem documents into exceptions.

import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";
import { answer, byBody, type By } from "./call.js";
import { Events } from "./events.js";
import { LangGraph } from "./langgraph.js";
import { Run, Step } from "./runs.js";

export type Schemas = components["schemas"];
export type { By };

export interface PplaneOptions {
  /** Where `pplane serve` listens (default `$PPLANE_URL`, else `http://127.0.0.1:7878`). */
  baseUrl?: string;
  /** An API key, `ppk_…` (default `$PPLANE_KEY`). */
  apiKey?: string;
  /** A fetch implementation (default the global one). */
  fetch?: typeof globalThis.fetch;
}

export interface IngestInput extends Pick<By, "actor"> {
  channel: string;
  /** The source's own id; a retry with the same one returns the first signal. */
  sourceId?: string;
  /** Sent as the `Idempotency-Key` header when there is no `sourceId`. */
  idempotencyKey?: string;
  payload?: unknown;
  /** Stable ids of the domain entities the run works on. */
  domainRefs?: Record<string, unknown>;
}

export type Ingested = Schemas["Changed_Ingested"] & { run: Run };

export class Pplane {
  /** The generated client, for anything this layer does not wrap. */
  readonly api: Client<paths>;
  readonly signals: { ingest(input: IngestInput): Promise<Ingested> };
  readonly events: Events;
  /** LangGraph's checkpointer protocol: threads, checkpoints, pending writes. */
  readonly langgraph: LangGraph;
  readonly destinations: {
    list(): Promise<Schemas["Destination"][]>;
    add(body: Schemas["DestinationBody"]): Promise<Schemas["Created"]>;
  };
  readonly outbox: {
    list(query?: { status?: Schemas["OutboxStatus"]; limit?: number }): Promise<Schemas["OutboxEntry"][]>;
    stats(): Promise<Schemas["OutboxStats"]>;
    requeue(entry: string, by?: By): Promise<Schemas["Changed_Settled"]>;
    purge(deliveredBefore: Date | string): Promise<Schemas["Purged"]>;
  };

  constructor(options: PplaneOptions = {}) {
    const env = typeof process === "undefined" ? {} : process.env;
    const baseUrl = (options.baseUrl ?? env.PPLANE_URL ?? "http://127.0.0.1:7878").replace(/\/+$/, "");
    const apiKey = options.apiKey ?? env.PPLANE_KEY;
    this.api = createClient<paths>({
      baseUrl,
      headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {},
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    const api = this.api;
    this.events = new Events(api);
    this.langgraph = new LangGraph(api);
    this.signals = {
      ingest: async (input) => {
        const ingested = await answer(
          api.POST("/v1/signals", {
            body: {
              channel: input.channel,
              source_id: input.sourceId ?? null,
              payload: input.payload ?? null,
              domain_refs: input.domainRefs ?? {},
              actor: input.actor ?? null,
            },
            params: {
              header: input.idempotencyKey ? { "Idempotency-Key": input.idempotencyKey } : {},
            },
          }),
        );
        return { ...ingested, run: new Run(api, ingested.run_id, ingested.correlation_id) };
      },
    };
    this.destinations = {
      list: async () => (await answer(api.GET("/v1/destinations"))).destinations,
      add: (body) => answer(api.POST("/v1/destinations", { body })),
    };
    this.outbox = {
      list: (query = {}) => answer(api.GET("/v1/outbox", { params: { query } })),
      stats: () => answer(api.GET("/v1/outbox/stats")),
      requeue: (entry, by) =>
        answer(api.POST("/v1/outbox/{entry}/requeue", { params: { path: { entry } }, body: byBody(by) })),
      purge: (deliveredBefore) =>
        answer(
          api.POST("/v1/outbox/purge", {
            body: {
              delivered_before:
                deliveredBefore instanceof Date ? deliveredBefore.toISOString() : deliveredBefore,
            },
          }),
        ),
    };
  }

  /** A handle on a run known by id (no request is made). */
  run(id: string): Run {
    return new Run(this.api, id);
  }

  /** A handle on a step known by id (no request is made). */
  step(id: string): Step {
    return new Step(this.api, id);
  }

  /** The whole story of a run or a correlation: `pplane trace --json`. */
  trace(id: string): Promise<Schemas["Trace"]> {
    return answer(this.api.GET("/v1/trace/{id}", { params: { path: { id } } }));
  }

  /** An effect with its events and its outbox entry. */
  effect(id: string): Promise<Schemas["EffectDiagnosis"]> {
    return answer(this.api.GET("/v1/effects/{effect}", { params: { path: { effect: id } } }));
  }

  /** Whether the server process answers at all (false when it cannot be reached). */
  alive(): Promise<boolean> {
    return probe(this.api.GET("/healthz"));
  }

  /** Whether the server answers and its database is reachable and current. */
  ready(): Promise<boolean> {
    return probe(this.api.GET("/readyz"));
  }
}

/** A probe's verdict: its 2xx, or false when no answer came at all. */
async function probe(pending: Promise<{ response: Response }>): Promise<boolean> {
  try {
    return (await pending).response.ok;
  } catch {
    // fetch rejects only when no answer came: a refused or broken connection.
    return false;
  }
}
