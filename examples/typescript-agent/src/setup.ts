// What the agent needs before its first run, made once and kept in its
// state file: a tenant of its own, a runtime key (and an operator key, only
// to add the destination), and the webhook receiver that stands in for the
// customer's inbox. Creating tenants and keys is the owner's job, so this
// runs the `pplane` CLI, from the repository root as `cargo run -- serve`
// does, so both find the same embedded database.

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Pplane } from "@pplane/client";

export interface State {
  url: string;
  key: string;
  tenant: string;
  receiverPort: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../..");
export const stateFile = process.env.AGENT_STATE ?? resolve(here, "../.agent-state.json");

export async function stateLoad(): Promise<State> {
  if (existsSync(stateFile)) return JSON.parse(readFileSync(stateFile, "utf8")) as State;
  const url = process.env.PPLANE_URL ?? "http://127.0.0.1:7878";
  const tenant = JSON.parse(pplane(["tenant", "create", "support-agent", "--json"]));
  const key = (scope: string) =>
    JSON.parse(
      pplane(["apikey", "create", "--tenant", tenant.tenant_id, "--user", tenant.user_id, "--scope", scope, "--json"]),
    ).key as string;
  const state: State = { url, key: key("runtime"), tenant: tenant.tenant_id, receiverPort: await freePort() };
  const operator = new Pplane({ baseUrl: url, apiKey: key("operator") });
  await operator.destinations.add({ name: "customer-email", webhook: `http://127.0.0.1:${state.receiverPort}/inbox` });
  writeFileSync(stateFile, JSON.stringify(state, null, 2), { mode: 0o600 });
  console.log(`set up: tenant ${state.tenant}, a runtime key and the destination customer-email (kept in ${stateFile})`);
  return state;
}

/** Runs the CLI: $PPLANE_BIN, else the repository's release or debug build, else `pplane` on PATH. */
function pplane(args: string[]): string {
  const built = ["target/release/pplane", "target/debug/pplane"].map((p) => resolve(repo, p)).find(existsSync);
  const bin = process.env.PPLANE_BIN ?? built ?? "pplane";
  return execFileSync(bin, args, { cwd: repo, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => done(typeof address === "object" && address ? address.port : 0));
    });
  });
}
