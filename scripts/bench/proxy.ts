// `npm run bench:proxy`: added latency and throughput of our metering proxy (wrangler dev / workerd) against
// Portkey's open-source gateway, both in front of the same fake upstream on loopback, measured in one run.
import { execSync, spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// @ts-expect-error plain ESM script without types
import { startLlmStandIn } from "../dev/llm-stand-in.mjs";
// @ts-expect-error plain ESM script without types
import { startBridge } from "../pg-ws-bridge.mjs";
// @ts-expect-error plain ESM script without types
import { runMigrations } from "../migrate.mjs";
import { profileWorker } from "./profile";

const UPSTREAM_PORT = 54370, EDGE_PORT = 54371, PORTKEY_PORT = 54372, BRIDGE_PORT = 54373, INSPECTOR_PORT = 54374;
/** BENCH_PROFILE=1: only a CPU profile of the Worker under load (see profile.ts), no comparison table. */
const PROFILE = process.env.BENCH_PROFILE === "1";
const UPSTREAM_LATENCY_MS = Number(process.env.BENCH_UPSTREAM_MS ?? 20);
const N = Number(process.env.BENCH_N ?? 300);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const THROUGHPUT_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

const LOG_DIR = `${process.env.OC_RUN ?? "/tmp/openclaw-run"}/bench`;
mkdirSync(LOG_DIR, { recursive: true });
const children: ChildProcess[] = [];
const stopAll = () => children.forEach((c) => { try { process.kill(-c.pid!, "SIGTERM"); } catch { /* gone */ } });
process.on("exit", stopAll);

async function waitFor(url: string, ms = 60_000, init?: RequestInit) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fetch(url, init).then((r) => r.status < 500, () => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not come up`);
}

function spawnDetached(cmd: string, args: string[], env: NodeJS.ProcessEnv, log: string, clean = false) {
  const out = openSync(join(LOG_DIR, log), "w");
  const base = clean ? { PATH: process.env.PATH, HOME: process.env.HOME } : process.env;
  const c = spawn(cmd, args, { env: { ...base, ...env }, stdio: ["ignore", out, out], detached: true });
  children.push(c);
  return c;
}

/**
 * Portkey 1.15.2 fails every proxied call on Node 24 (it appends to undici's immutable response headers:
 * "TypeError: immutable") when started from inside our npm/tsx process, so it runs on the machine's own
 * Node with a clean environment, as an operator would start it.
 */
function systemNode(): string {
  for (const dir of (process.env.PATH ?? "").split(":")) if (!dir.includes("node_modules") && existsSync(join(dir, "node"))) return join(dir, "node");
  return "node";
}

interface Target { name: string; url: string; headers: Record<string, string> }

let counter = 0;
const body = (stream: boolean) => JSON.stringify({ model: "gpt-4.1-nano", stream, max_tokens: 64, messages: [{ role: "user", content: `benchmark message ${counter++}` }] });

/** Total time for a non-stream call; time to first body byte for a stream (which is then drained). */
async function once(t: Target, stream: boolean): Promise<number> {
  const start = performance.now();
  const res = await fetch(t.url, { method: "POST", headers: { "content-type": "application/json", ...t.headers }, body: body(stream) });
  if (res.status !== 200) throw new Error(`${t.name}: HTTP ${res.status} ${await res.text()}`);
  if (!stream) {
    await res.arrayBuffer();
    return performance.now() - start;
  }
  const reader = res.body!.getReader();
  await reader.read();
  const ttfb = performance.now() - start;
  while (!(await reader.read()).done);
  return ttfb;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

/** Latency percentiles, or the error text when the target cannot serve this kind of call at all. */
async function latencies(t: Target, stream: boolean): Promise<{ p50: number; p99: number } | { error: string }> {
  try {
    for (let i = 0; i < 30; i++) await once(t, stream); // warm-up
    const xs: number[] = [];
    for (let i = 0; i < N; i++) xs.push(await once(t, stream));
    return { p50: pct(xs, 50), p99: pct(xs, 99) };
  } catch (e) {
    return { error: (e as Error).message.slice(0, 120) };
  }
}

/** Requests per second at fixed concurrency; `perWorker` gives each concurrent client its own target (user). */
async function throughput(t: Target, perWorker?: (i: number) => Target) {
  let done = 0;
  const end = performance.now() + THROUGHPUT_SECONDS * 1000;
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, i) => { const mine = perWorker?.(i) ?? t; while (performance.now() < end) { await once(mine, false); done++; } }));
  return done / THROUGHPUT_SECONDS;
}

/** p50 of a GET with no I/O behind it: the floor wrangler dev's local proxy chain adds to every request. */
async function floor(url: string, init?: RequestInit) {
  const xs: number[] = [];
  for (let i = 0; i < 100; i++) {
    const start = performance.now();
    await (await fetch(url, init)).arrayBuffer();
    xs.push(performance.now() - start);
  }
  return pct(xs, 50);
}

async function main() {
  if (!process.env.DATABASE_URL) throw new Error("DATABASE_URL is not set: run through `npm run bench:proxy`");
  await runMigrations(process.env.DATABASE_URL);
  const upstream = await startLlmStandIn({ port: UPSTREAM_PORT, latencyMs: UPSTREAM_LATENCY_MS });
  const bridge = await startBridge({ port: BRIDGE_PORT });

  const vars = {
    ENVIRONMENT: "development", DEV_MODE: "local", APP_URL: `http://localhost:${EDGE_PORT}`, DATABASE_URL: process.env.DATABASE_URL,
    NEON_LOCAL_WSPROXY: `127.0.0.1:${BRIDGE_PORT}`, ENCRYPTION_KEY: Buffer.alloc(32, 9).toString("base64"),
    OPENAI_API_KEY: "sk-bench", OPENAI_BASE_URL: `http://127.0.0.1:${UPSTREAM_PORT}/v1`,
  };
  const args = ["dev", "--port", String(EDGE_PORT), "--ip", "127.0.0.1", ...(PROFILE ? ["--inspector-port", String(INSPECTOR_PORT)] : []), "--persist-to", mkdtempSync(join(tmpdir(), "oc-bench-"))];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  spawnDetached("node_modules/.bin/wrangler", args, { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" }, "wrangler.log");
  spawnDetached(systemNode(), ["node_modules/@portkey-ai/gateway/build/start-server.js", `--port=${PORTKEY_PORT}`, "--headless"], { NODE_ENV: "production" }, "portkey.log", true);
  await waitFor(`http://127.0.0.1:${EDGE_PORT}/api/health`);
  await waitFor(`http://127.0.0.1:${PORTKEY_PORT}/`);

  // A funded user with a proxy key, through the public API like a customer.
  const fundedKey = async (i: number) => {
    // Signup signs no one in (it answers the same for any address): sign in next, then write as the dashboard does.
    const account = JSON.stringify({ email: `bench-${Date.now()}-${i}@example.com`, password: "benchmark-password" });
    const headers = { "content-type": "application/json", "cf-connecting-ip": `10.0.0.${i}` };
    await fetch(`http://127.0.0.1:${EDGE_PORT}/api/auth/signup`, { method: "POST", headers, body: account });
    const login = await fetch(`http://127.0.0.1:${EDGE_PORT}/api/auth/login`, { method: "POST", headers, body: account });
    const cookie = login.headers.getSetCookie()[0]!.split(";")[0]!;
    const origin = `http://localhost:${EDGE_PORT}`;
    const post = (path: string, b?: unknown) => fetch(`http://127.0.0.1:${EDGE_PORT}${path}`, { method: "POST", headers: { cookie, origin, "content-type": "application/json" }, body: b ? JSON.stringify(b) : undefined }).then((r) => r.json() as Promise<any>);
    const { key } = await post("/api/agent/proxy-key");
    await post("/api/dev/credit", { amountMicros: 100_000_000 });
    return key as string;
  };
  const key = await fundedKey(0);
  const manyKeys = await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => fundedKey(i + 1)));

  if (PROFILE) {
    const ours: Target = { name: "ours", url: `http://127.0.0.1:${EDGE_PORT}/v1/chat/completions`, headers: { authorization: `Bearer ${key}` } };
    for (let i = 0; i < 200; i++) await once(ours, false); // warm-up (JIT)
    // Where a sequential call's time goes, from the proxy's own Server-Timing (I/O waits inside workerd).
    const timing: Record<string, number[]> = { total: [] };
    for (let i = 0; i < 100; i++) {
      const start = performance.now();
      const res = await fetch(ours.url, { method: "POST", headers: { "content-type": "application/json", ...ours.headers }, body: body(false) });
      await res.arrayBuffer();
      timing.total!.push(performance.now() - start);
      for (const m of (res.headers.get("server-timing") ?? "").matchAll(/(\w+);dur=([\d.]+)/g)) (timing[m[1]!] ??= []).push(Number(m[2]));
    }
    console.log(`sequential p50 (ms): ${Object.entries(timing).map(([k, xs]) => `${k} ${pct(xs, 50).toFixed(2)}`).join(" · ")}`);
    const out = join(LOG_DIR, "worker.cpuprofile");
    let calls = 0;
    const r = await profileWorker(INSPECTOR_PORT, out, async () => {
      const end = performance.now() + THROUGHPUT_SECONDS * 1000;
      const clients = process.env.BENCH_PROFILE_SEQUENTIAL === "1" ? manyKeys.slice(0, 1) : manyKeys;
      await Promise.all(clients.map(async (k) => { while (performance.now() < end) { await once({ ...ours, headers: { authorization: `Bearer ${k}` } }, false); calls++; } }));
    });
    console.log(`\nWorker CPU profile · ${calls} calls in ${THROUGHPUT_SECONDS}s · busy ${r.busyMs.toFixed(0)} ms of ${r.totalMs.toFixed(0)} ms sampled · ${(r.busyMs / calls).toFixed(2)} ms CPU per call`);
    for (const t of r.top) console.log(`${t.ms.toFixed(1).padStart(8)} ms ${(t.share * 100).toFixed(1).padStart(5)}%  ${t.fn}`);
    // The profile's line numbers point into wrangler dev's bundle, which it deletes on exit: keep a copy.
    const bundle = execSync("ls -td .wrangler/tmp/dev-*/ 2>/dev/null | head -1").toString().trim();
    if (bundle && existsSync(`${bundle}worker.js`)) copyFileSync(`${bundle}worker.js`, join(LOG_DIR, "worker.js"));
    console.log(`\nprofile: ${out} (open in Chrome DevTools → Performance; bundle: ${join(LOG_DIR, "worker.js")})`);
    upstream.close();
    bridge.close();
    stopAll();
    process.exit(0);
  }

  const targets: Target[] = [
    { name: "upstream (direct)", url: `http://127.0.0.1:${UPSTREAM_PORT}/v1/chat/completions`, headers: {} },
    { name: "ours (workerd)", url: `http://127.0.0.1:${EDGE_PORT}/v1/chat/completions`, headers: { authorization: `Bearer ${key}` } },
    { name: "portkey 1.15.2", url: `http://127.0.0.1:${PORTKEY_PORT}/v1/chat/completions`, headers: { authorization: "Bearer sk-bench", "x-portkey-provider": "openai", "x-portkey-custom-host": `http://127.0.0.1:${UPSTREAM_PORT}/v1` } },
  ];
  const results = [];
  for (const t of targets) {
    const plain = await latencies(t, false);
    const stream = await latencies(t, true);
    const rps = await throughput(t).catch(() => 0);
    results.push({ t, plain, stream, rps });
  }
  type L = Awaited<ReturnType<typeof latencies>>;
  const ok = (l: L): l is { p50: number; p99: number } => !("error" in l);
  const [base, ...proxies] = results;
  if (!ok(base!.plain) || !ok(base!.stream)) throw new Error("the upstream itself failed");
  const added = (l: L, b: { p50: number; p99: number }) => (ok(l) ? { p50: l.p50 - b.p50, p99: l.p99 - b.p99 } : undefined);
  const rows = proxies.map((r) => ({ name: r.t.name, plain: added(r.plain, base!.plain), stream: added(r.stream, base!.stream), rps: r.rps, errors: [r.plain, r.stream].filter((l) => !ok(l)).map((l) => (l as { error: string }).error) }));
  const f = (x: number | undefined) => (x === undefined ? "fails" : x.toFixed(2)).padStart(10);
  console.log(`\nProxy benchmark · fake upstream ${UPSTREAM_LATENCY_MS} ms · ${N} sequential requests per measure · throughput at concurrency ${CONCURRENCY} for ${THROUGHPUT_SECONDS}s`);
  console.log(`(upstream direct: non-stream p50 ${base!.plain.p50.toFixed(2)} ms, stream TTFB p50 ${base!.stream.p50.toFixed(2)} ms, ${base!.rps.toFixed(0)} req/s)\n`);
  console.log(`${"".padEnd(20)}${"added p50".padStart(10)}${"added p99".padStart(10)}${"TTFB+ p50".padStart(10)}${"TTFB+ p99".padStart(10)}${"req/s".padStart(10)}`);
  for (const r of rows) console.log(`${r.name.padEnd(20)}${f(r.plain?.p50)}${f(r.plain?.p99)}${f(r.stream?.p50)}${f(r.stream?.p99)}${r.rps.toFixed(0).padStart(10)}`);
  const [ours, portkey] = rows as [(typeof rows)[number], (typeof rows)[number]];
  // Both are no-I/O routes over loopback HTTP: ours through wrangler dev, Portkey's "/" on a plain Node server.
  // The same POST with a malformed key: refused at the first check, before any I/O. What it costs is the
  // transport (wrangler dev's proxy chain, the upload, the reply) that every call pays before our code runs.
  const refused = { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer not-a-key" }, body: body(false) };
  const devFloor = (await floor(`http://127.0.0.1:${EDGE_PORT}/v1/chat/completions`, refused)) - (await floor(`http://127.0.0.1:${PORTKEY_PORT}/`));
  const multiUser = await throughput(targets[1]!, (i) => ({ ...targets[1]!, headers: { authorization: `Bearer ${manyKeys[i]}` } }));
  console.log(`${"ours − dev floor".padEnd(20)}${f(ours.plain && ours.plain.p50 - devFloor)}${f(ours.plain && ours.plain.p99 - devFloor)}${f(ours.stream && ours.stream.p50 - devFloor)}${f(ours.stream && ours.stream.p99 - devFloor)}${"".padStart(10)}`);
  console.log(`${"ours, 1 user/client".padEnd(20)}${"".padStart(40)}${multiUser.toFixed(0).padStart(10)}`);
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b <= 0 ? "n/a" : `${(a / b).toFixed(2)}×`).padStart(10);
  console.log(`${"ours / portkey".padEnd(20)}${ratio(ours.plain?.p50, portkey.plain?.p50)}${ratio(ours.plain?.p99, portkey.plain?.p99)}${ratio(ours.stream?.p50, portkey.stream?.p50)}${ratio(ours.stream?.p99, portkey.stream?.p99)}${ratio(ours.rps, portkey.rps)}`);
  for (const r of rows) for (const e of r.errors) console.log(`note: ${r.name} failed: ${e}`);
  console.log(`\nwrangler dev's own floor (the same POST refused before any I/O, minus Portkey's no-I/O "/"): ${devFloor.toFixed(2)} ms;`);
  console.log(`production has no such layer. "ours − dev floor" is what our metering adds on top of the transport.`);
  console.log(`The first req/s rows share one user (the ledger serialises a user's calls in its Durable Object by design);`);
  console.log(`"1 user/client" gives each of the ${CONCURRENCY} concurrent clients its own user, as the platform runs.`);
  console.log(`\nAdded latency = proxy minus direct upstream, in ms. Ours meters every call: key check, protection and a`);
  console.log(`reservation in the user's Durable Object before forwarding, settlement and a Postgres usage record after.`);
  console.log(`Portkey OSS does no metering or budgets. Goal: added p50 <= 0.5 ms.`);
  upstream.close();
  bridge.close();
  stopAll();
  process.exit(0);
}

main().catch((e) => { console.error(e); stopAll(); process.exit(1); });
