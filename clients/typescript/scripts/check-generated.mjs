// Fails when src/generated/schema.ts is not what openapi-typescript makes of
// the committed openapi.json today: the server's document changed and the
// client did not follow (run `npm run generate` and commit the result).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "pplane-ts-"));
try {
  const fresh = join(dir, "schema.ts");
  execFileSync("node_modules/.bin/openapi-typescript", ["../../openapi.json", "--output", fresh], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (readFileSync(fresh, "utf8") !== readFileSync("src/generated/schema.ts", "utf8")) {
    console.error(
      "src/generated/schema.ts is stale: openapi.json changed. Run `npm run generate` in clients/typescript and commit it.",
    );
    process.exit(1);
  }
  console.log("generated types match openapi.json");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
