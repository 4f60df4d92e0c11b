// `npm test`: the suite's own embedded PostgreSQL cluster in a scratch
// PPLANE_HOME (each test makes its own database on it), the compiled tests
// run by Node's test runner, and the cluster stopped and removed after.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, chmodSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../..");
const bin = process.env.PPLANE_BIN ?? join(repo, "target/debug/pplane");
const home = mkdtempSync(join(tmpdir(), "pplane-ts-"));
// As root the cluster runs as the postgres user, which must reach it.
chmodSync(home, 0o755);
const env = { ...process.env, PPLANE_HOME: join(home, ".pplane"), PPLANE_BIN: bin };
delete env.DATABASE_URL;
let status = 1;
try {
  execFileSync(bin, ["db", "start"], { env, stdio: ["ignore", "ignore", "inherit"] });
  const dir = join(here, "../dist/test");
  const files = readdirSync(dir).filter((f) => f.endsWith(".test.js")).map((f) => join(dir, f));
  const result = spawnSync(process.execPath, ["--test", "--test-concurrency=1", ...process.argv.slice(2), ...files], {
    env,
    stdio: "inherit",
  });
  status = result.status ?? 1;
} finally {
  spawnSync(bin, ["db", "stop"], { env, stdio: "ignore" });
  rmSync(home, { recursive: true, force: true });
}
process.exit(status);
