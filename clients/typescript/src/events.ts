// The tenant's event log: pages, and a tail that follows it live.
//
// The tail is a long poll over `GET /v1/events?after=SEQ&wait=S`. Its cursor
// is the last sequence number handed to the caller, so after a dropped
// connection it asks again from there: positions are gap-free and in commit
// order per tenant, so nothing is skipped and nothing is repeated.

import type { Client } from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";
import { answer } from "./call.js";
import { PplaneError } from "./errors.js";

type Event = components["schemas"]["Event"];
type Page = components["schemas"]["Page"];

export interface TailOptions {
  /** The last sequence number already seen (default 0: from the start). */
  after?: number;
  /** Events per request (1 to 1,000; default 100). */
  limit?: number;
  /** How long one poll waits for a new event, in seconds (1 to 30; default 20). */
  waitSeconds?: number;
  /** Ends the tail: the iterator returns. */
  signal?: AbortSignal;
  /** The first pause after a failed poll, doubled up to 5 s (default 200 ms). */
  retryDelayMs?: number;
  /** Called when a poll fails and the tail reconnects. */
  onReconnect?: (error: unknown, after: number) => void;
}

export class Events {
  constructor(private readonly api: Client<paths>) {}

  /** One page of events after `after`, in sequence order. */
  page(query: { after?: number; limit?: number; wait?: number } = {}): Promise<Page> {
    return answer(this.api.GET("/v1/events", { params: { query } }));
  }

  /**
   * Every event after `after`, as it is appended, until `signal` aborts.
   * Transient failures (the connection, a 5xx, 408, 429) reconnect from the
   * last event yielded; a refusal (401, 403, 422) ends the tail with its
   * exception.
   */
  async *tail(options: TailOptions = {}): AsyncGenerator<Event, void, undefined> {
    let after = options.after ?? 0;
    const limit = options.limit ?? 100;
    const wait = options.waitSeconds ?? 20;
    const firstDelay = options.retryDelayMs ?? 200;
    let delay = firstDelay;
    const signal = options.signal;
    while (!signal?.aborted) {
      let page: Page;
      try {
        page = await answer(
          this.api.GET("/v1/events", { params: { query: { after, limit, wait } }, ...signalOf(signal) }),
        );
      } catch (error) {
        if (signal?.aborted) return;
        // A refusal ends the tail; a timeout, throttling, a 5xx or a broken
        // connection is passing, and the tail asks again from where it was.
        if (error instanceof PplaneError && error.status < 500 && error.status !== 408 && error.status !== 429) {
          throw error;
        }
        options.onReconnect?.(error, after);
        await sleep(delay, signal);
        delay = Math.min(delay * 2, 5_000);
        continue;
      }
      delay = firstDelay;
      for (const event of page.events) {
        after = event.sequence_number;
        yield event;
        if (signal?.aborted) return;
      }
    }
  }
}

function signalOf(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
