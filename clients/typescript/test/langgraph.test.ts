// LangGraph's checkpointer protocol through the client: a thread's
// checkpoints and writes round-trip, a list pages through them newest
// first, another tenant's same thread id is another thread, and the
// deletions answer what they took.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { CheckpointPut } from "../src/index.js";
import { planeEach } from "./plane.js";

const served = planeEach();

function checkpoint(id: string, parent: string | null, data: string): CheckpointPut {
  return {
    checkpoint_id: id,
    parent_checkpoint_id: parent,
    checkpoint: { v: 4, id, channel_versions: { messages: id } },
    metadata: { source: "loop", run_id: "lg-1" },
    values: [{ channel: "messages", version: id, value: { type: "json", data } }],
  };
}

test("a thread's checkpoints and writes round-trip and list newest first, page by page", async () => {
  const pplane = served().client("runtime");
  const ids = Array.from({ length: 103 }, (_, i) => String(i + 1).padStart(4, "0"));
  let parent: string | null = null;
  for (const id of ids) {
    await pplane.langgraph.put("thread-1", checkpoint(id, parent, Buffer.from(`"${id}"`).toString("base64")));
    parent = id;
  }
  await pplane.langgraph.putWrites("thread-1", {
    checkpoint_id: "0103",
    writes: [{ task_id: "t", idx: 0, channel: "messages", value: { type: "json", data: "MQ==" }, task_path: "" }],
  });
  const latest = await pplane.langgraph.get("thread-1");
  assert.equal(latest?.key.checkpoint_id, "0103");
  assert.equal(latest?.writes[0]?.value.data, "MQ==");
  assert.equal(await pplane.langgraph.get("thread-1", { checkpointId: "9999" }), undefined);

  const listed: string[] = [];
  for await (const tuple of pplane.langgraph.list({ thread_id: "thread-1" })) listed.push(tuple.key.checkpoint_id);
  assert.deepEqual(listed, [...ids].reverse());
  const limited: string[] = [];
  for await (const tuple of pplane.langgraph.list({ before: "0050", limit: 2 })) limited.push(tuple.key.checkpoint_id);
  assert.deepEqual(limited, ["0049", "0048"]);
});

test("another tenant's same thread id is another thread; deletions answer what they took", async () => {
  const plane = served();
  const a = plane.client("runtime");
  const b = plane.client("runtime", plane.other);
  await a.langgraph.put("shared", checkpoint("0001", null, "QQ=="));
  await a.langgraph.put("shared", checkpoint("0002", "0001", "QQ=="));
  assert.equal(await b.langgraph.get("shared"), undefined);
  assert.equal((await b.langgraph.deleteThread("shared")).checkpoints.length, 0);

  const copied = await a.langgraph.copyThread("shared", "copy");
  assert.equal(copied.checkpoints.length, 2);
  const pruned = await a.langgraph.prune(["shared"], "keep_latest");
  assert.deepEqual(pruned.checkpoints.map((k) => k.checkpoint_id), ["0001"]);
  const runs = await a.langgraph.deleteForRuns(["lg-1"]);
  assert.equal(runs.checkpoints.length, 3);
  assert.equal(runs.events.length, 3);
  assert.equal((await a.langgraph.deleteThread("copy")).checkpoints.length, 0);
  assert.equal(await a.langgraph.get("copy"), undefined);
});
