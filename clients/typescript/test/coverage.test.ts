// Every operation in the server's OpenAPI document is wrapped by this
// client's own layer: a route the server adds fails here until it is.

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

test("the layer calls every path and method of openapi.json", () => {
  const document = JSON.parse(readFileSync(resolve(root, "../../openapi.json"), "utf8"));
  const source = readdirSync(join(root, "src"))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => readFileSync(join(root, "src", f), "utf8"))
    .join("\n");
  const missing: string[] = [];
  for (const [path, methods] of Object.entries(document.paths as Record<string, object>)) {
    for (const method of Object.keys(methods)) {
      if (!source.includes(`${method.toUpperCase()}("${path}"`)) missing.push(`${method.toUpperCase()} ${path}`);
    }
  }
  assert.deepEqual(missing, []);
});
