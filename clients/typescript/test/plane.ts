// A served plane for one test: a fresh database on the suite's embedded
// cluster, migrated, with two tenants and keys of every scope, and a real
// `pplane serve` on a free port. The cluster itself is started and removed
// by scripts/test.mjs, which names it in PPLANE_HOME.

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, beforeEach } from "node:test";
import { Pplane } from "../src/index.js";

const run = promisify(execFile);
const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");

export const bin = process.env.PPLANE_BIN ?? resolve(repo, "target/debug/pplane");

/** Servers being stopped on purpose: their exit is expected. */
const stopping = new WeakSet<ChildProcess>();

export type Scope = "read" | "runtime" | "operator";

export interface Member {
  tenant: string;
  user: string;
  keys: Record<Scope, string>;
}

export class Plane {
  private constructor(
    readonly databaseUrl: string,
    readonly address: string,
    readonly own: Member,
    readonly other: Member,
    private server: ChildProcess,
    private readonly worker: boolean,
  ) {}

  static async start(options: { worker?: boolean } = {}): Promise<Plane> {
    if (!existsSync(bin)) throw new Error(`no pplane binary at ${bin}: run \`cargo build -p pplane-cli\` first`);
    if (!process.env.PPLANE_HOME) throw new Error("PPLANE_HOME is unset: run the suite with `npm test`");
    const name = `ts_${randomBytes(6).toString("hex")}`;
    const started = JSON.parse(await cli(["db", "start", "--database", name, "--json"]));
    const databaseUrl: string = started.url;
    await cli(["migrate", "up"], databaseUrl);
    const own = await member(databaseUrl, "own");
    const other = await member(databaseUrl, "other");
    const worker = options.worker ?? false;
    const { child, address } = await serve(databaseUrl, "127.0.0.1:0", worker);
    return new Plane(databaseUrl, address, own, other, child, worker);
  }

  get baseUrl(): string {
    return `http://${this.address}`;
  }

  /** A client holding this tenant's key of `scope` (or any key text). */
  client(scope: Scope | { key: string | undefined } = "runtime", member: Member = this.own): Pplane {
    const apiKey = typeof scope === "string" ? member.keys[scope] : scope.key;
    return new Pplane(apiKey === undefined ? { baseUrl: this.baseUrl } : { baseUrl: this.baseUrl, apiKey });
  }

  /** Runs the CLI on this plane's database. */
  cli(args: string[]): Promise<string> {
    return cli(args, this.databaseUrl);
  }

  /** Stops the server (SIGTERM: requests in flight finish) and starts it again on the same port. */
  async restart(): Promise<void> {
    await this.stopServer();
    this.server = (await serve(this.databaseUrl, this.address, this.worker)).child;
  }

  async stop(): Promise<void> {
    await this.stopServer();
  }

  private async stopServer(): Promise<void> {
    const server = this.server;
    if (server.exitCode !== null) return;
    const exited = new Promise((done) => server.once("exit", done));
    stopping.add(server);
    server.kill("SIGTERM");
    await exited;
  }
}

async function member(databaseUrl: string, name: string): Promise<Member> {
  const created = JSON.parse(await cli(["tenant", "create", name, "--json"], databaseUrl));
  const keys = {} as Record<Scope, string>;
  for (const scope of ["read", "runtime", "operator"] as const) {
    const args = ["apikey", "create", "--tenant", created.tenant_id, "--user", created.user_id, "--scope", scope, "--json"];
    keys[scope] = JSON.parse(await cli(args, databaseUrl)).key;
  }
  return { tenant: created.tenant_id, user: created.user_id, keys };
}

async function cli(args: string[], databaseUrl?: string): Promise<string> {
  const env = { ...process.env };
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  else delete env.DATABASE_URL;
  const { stdout } = await run(bin, args, { env, maxBuffer: 16 << 20 });
  return stdout;
}

/** Starts `pplane serve` and waits for the address it prints. */
function serve(databaseUrl: string, listen: string, worker: boolean): Promise<{ child: ChildProcess; address: string }> {
  const args = ["serve", "--listen", listen, ...(worker ? ["--worker"] : [])];
  const child = spawn(bin, args, {
    env: { ...process.env, DATABASE_URL: databaseUrl, RUST_LOG: process.env.RUST_LOG ?? "warn" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  return new Promise((resolvePromise, reject) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      // The address ends at the whitespace after it: a chunk may end mid-address.
      const match = /serve: listening on http:\/\/(\S+)\s/.exec(seen);
      if (match?.[1]) {
        resolvePromise({ child, address: match[1] });
      }
    };
    child.stderr?.on("data", onData);
    // A server that dies under a test would make its requests fail oddly:
    // say so, with what it printed.
    child.once("exit", (code, signal) => {
      if (!stopping.has(child)) process.stderr.write(`pplane serve exited (${code ?? signal}): ${seen}\n`);
      reject(new Error(`pplane serve exited with ${code}: ${seen}`));
    });
  });
}

/** Polls `check` until it returns something other than undefined, for up to `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A fresh plane for every test of the calling file: registers the hooks that
 * start it before each test and stop it after, and returns its getter.
 */
export function planeEach(options: { worker?: boolean } = {}): () => Plane {
  let plane: Plane | undefined;
  beforeEach(async () => {
    plane = await Plane.start(options);
  });
  afterEach(async () => {
    await plane?.stop();
  });
  return () => {
    if (!plane) throw new Error("no plane outside a test");
    return plane;
  };
}
