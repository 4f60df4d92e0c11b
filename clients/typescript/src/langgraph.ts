// LangGraph's checkpointer protocol (`/v1/langgraph`): the calls a
// LangGraph.js saver makes, typed. A thread id is the tenant's own name;
// values are their serializer's type tag and base64 bytes, as LangGraph
// stores them.

import type { Client } from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";
import { answer } from "./call.js";

type Schemas = components["schemas"];
type Who = { actor?: string };
export type CheckpointPut = Omit<Schemas["CheckpointPutBody"], "actor">;
export type WritesPut = Omit<Schemas["WritesBody"], "actor">;
export type CheckpointSearch = Schemas["CheckpointSearchBody"];

export class LangGraph {
  constructor(private readonly api: Client<paths>) {}

  /** Stores a checkpoint with the values of the channels it makes new. */
  put(thread: string, checkpoint: CheckpointPut, by: Who = {}): Promise<Schemas["Changed_StoredCheckpoint"]> {
    return answer(
      this.api.POST("/v1/langgraph/threads/{thread}/checkpoints", {
        params: { path: { thread } },
        body: { ...checkpoint, actor: by.actor ?? null },
      }),
    );
  }

  /** Stores a task's pending writes against a checkpoint. */
  putWrites(thread: string, writes: WritesPut, by: Who = {}): Promise<Schemas["Changed_StoredCheckpoint"]> {
    return answer(
      this.api.POST("/v1/langgraph/threads/{thread}/writes", {
        params: { path: { thread } },
        body: { ...writes, actor: by.actor ?? null },
      }),
    );
  }

  /** A checkpoint with its values and writes (the newest when no id is
   * given); undefined when there is none. */
  async get(
    thread: string,
    at: { checkpointNs?: string; checkpointId?: string } = {},
  ): Promise<Schemas["CheckpointTuple"] | undefined> {
    const { data, error, response } = await this.api.GET("/v1/langgraph/threads/{thread}/checkpoint", {
      params: {
        path: { thread },
        query: {
          ...(at.checkpointNs === undefined ? {} : { checkpoint_ns: at.checkpointNs }),
          ...(at.checkpointId === undefined ? {} : { checkpoint_id: at.checkpointId }),
        },
      },
    });
    if (response.status === 404) return undefined;
    return answer(Promise.resolve({ data, error, response }));
  }

  /** Checkpoints that match, newest first, every page in turn. */
  async *list(search: CheckpointSearch = {}): AsyncGenerator<Schemas["CheckpointTuple"]> {
    let before = search.before ?? null;
    let left = search.limit ?? Infinity;
    while (left > 0) {
      const limit = Math.min(left, 100);
      const page = await answer(
        this.api.POST("/v1/langgraph/checkpoints/search", { body: { ...search, before, limit } }),
      );
      yield* page.checkpoints;
      left -= page.checkpoints.length;
      const last = page.checkpoints.at(-1);
      if (page.checkpoints.length < limit || last === undefined) return;
      before = last.key.checkpoint_id;
    }
  }

  /** Deletes a thread's checkpoints and writes (recorded; its run stays). */
  deleteThread(thread: string): Promise<Schemas["Changed_CheckpointKeys"]> {
    return answer(this.api.DELETE("/v1/langgraph/threads/{thread}", { params: { path: { thread } } }));
  }

  /** Deletes the checkpoints of these LangGraph runs, in every thread. */
  deleteForRuns(runIds: string[], by: Who = {}): Promise<Schemas["Changed_CheckpointKeys"]> {
    return answer(this.api.POST("/v1/langgraph/runs/delete", { body: { run_ids: runIds, actor: by.actor ?? null } }));
  }

  /** Copies a thread's every checkpoint into another thread. */
  copyThread(source: string, target: string, by: Who = {}): Promise<Schemas["Changed_CheckpointKeys"]> {
    return answer(
      this.api.POST("/v1/langgraph/threads/{thread}/copy", {
        params: { path: { thread: source } },
        body: { target_thread_id: target, actor: by.actor ?? null },
      }),
    );
  }

  /** Keeps each namespace's newest checkpoint, or deletes every one. */
  prune(
    threads: string[],
    strategy: Schemas["PruneStrategy"] = "keep_latest",
    by: Who = {},
  ): Promise<Schemas["Changed_CheckpointKeys"]> {
    return answer(
      this.api.POST("/v1/langgraph/prune", { body: { thread_ids: threads, strategy, actor: by.actor ?? null } }),
    );
  }
}
