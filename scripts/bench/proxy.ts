// `npm run bench:proxy`: added latency and throughput of our metering proxy against Portkey's open-source
// gateway, both in front of the same fake upstream on loopback, measured in one run. Two tables: the built
// Worker in bare workerd (Miniflare's API, the same Durable Objects and bindings as wrangler.toml, no dev
// proxy in front: what production runs), then the same under `wrangler dev` (its local proxy chain included).
import { execSync, spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLlmStandIn } from "../../test-harness/stand-ins/llm.ts";
import { startBridge } from "../../test-harness/stand-ins/pg-ws-bridge.ts";
import { runMigrations } from "../migrate.ts";
import { perfAvailable, profileNative } from "./native-profile";
import { profileWorker } from "./profile";
import { childWorkerd, DO_STORAGE, processCpuMs, startBareWorker } from "./workerd";

/** BENCH_PORT_BASE moves the loopback ports as a block (two checkouts can bench side by side). */
const PORT_BASE = Number(process.env.BENCH_PORT_BASE ?? 24370);
const UPSTREAM_PORT = PORT_BASE,
  EDGE_PORT = PORT_BASE + 1,
  PORTKEY_PORT = PORT_BASE + 2,
  BRIDGE_PORT = PORT_BASE + 3,
  INSPECTOR_PORT = PORT_BASE + 4;
const BARE_PORT = PORT_BASE + 5,
  BARE_INSPECTOR_PORT = PORT_BASE + 6,
  PASS_PORT = PORT_BASE + 7;
/** BENCH_PROFILE=1: only a CPU profile of the Worker under load (see profile.ts), no comparison table. */
const PROFILE = process.env.BENCH_PROFILE === "1";
/** BENCH_BARE_ONLY=1: the bare workerd table only (a quicker loop while cutting CPU). */
const BARE_ONLY = process.env.BENCH_BARE_ONLY === "1";
const UPSTREAM_LATENCY_MS = Number(process.env.BENCH_UPSTREAM_MS ?? 20);
const N = Number(process.env.BENCH_N ?? 300);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const THROUGHPUT_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

const LOG_DIR = `${process.env.OC_RUN ?? "/tmp/openclaw-run"}/bench`;
mkdirSync(LOG_DIR, { recursive: true });
const children: ChildProcess[] = [];
const stopAll = () =>
  children.forEach((c) => {
    try {
      process.kill(-c.pid!, "SIGTERM");
    } catch {
      /* gone */
    }
  });
process.on("exit", stopAll);

async function waitFor(url: string, ms = 60_000, init?: RequestInit) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (
      await fetch(url, init).then(
        (r) => r.status < 500,
        () => false,
      )
    )
      return;
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

interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
}

let counter = 0;
const body = (stream: boolean) =>
  JSON.stringify({ model: "gpt-4.1-nano", stream, max_tokens: 64, messages: [{ role: "user", content: `benchmark message ${counter++}` }] });

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

/** A non-stream call that also collects the proxy's own Server-Timing spans (I/O waits inside workerd). */
async function timedOnce(t: Target, spans: Record<string, number[]>) {
  const res = await fetch(t.url, { method: "POST", headers: { "content-type": "application/json", ...t.headers }, body: body(false) });
  await res.arrayBuffer();
  for (const m of (res.headers.get("server-timing") ?? "").matchAll(/(\w+);dur=([\d.]+)/g)) (spans[m[1]!] ??= []).push(Number(m[2]));
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
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, i) => {
      const mine = perWorker?.(i) ?? t;
      while (performance.now() < end) {
        await once(mine, false);
        done++;
      }
    }),
  );
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

/** A funded user with a proxy key, through the public API like a customer. */
async function fundedKey(origin: string, i: number): Promise<string> {
  // Signup signs no one in (it answers the same for any address): sign in next, then write as the dashboard
  // does, with the app's Origin (APP_URL is localhost on the same port).
  const account = JSON.stringify({ email: `bench-${Date.now()}-${i}-${Math.random().toString(36).slice(2)}@example.com`, password: "benchmark-password" });
  const headers = { "content-type": "application/json", "cf-connecting-ip": `10.0.${Math.floor(i / 250)}.${i % 250}` };
  const signup = await fetch(`${origin}/api/auth/signup`, { method: "POST", headers, body: account });
  if (signup.status >= 300) throw new Error(`signup at ${origin}: HTTP ${signup.status} ${await signup.text()}`);
  const login = await fetch(`${origin}/api/auth/login`, { method: "POST", headers, body: account });
  const cookie = login.headers.getSetCookie()[0]!.split(";")[0]!;
  const appOrigin = origin.replace("127.0.0.1", "localhost");
  const post = (path: string, b?: unknown) =>
    fetch(`${origin}${path}`, {
      method: "POST",
      headers: { cookie, origin: appOrigin, "content-type": "application/json" },
      body: b ? JSON.stringify(b) : undefined,
    }).then((r) => r.json() as Promise<any>);
  const { key } = await post("/api/agent/proxy-key");
  await post("/api/dev/credit", { amountMicros: 100_000_000 });
  return key as string;
}

type Lat = { p50: number; p99: number };
interface Measured {
  name: string;
  plain?: Lat;
  stream?: Lat;
  rps: number;
  rpsMulti?: number;
  errors: string[];
}

/** Latencies (non-stream, stream TTFB), req/s on one target, and on one target per client if given. */
async function measure(t: Target, perWorker?: (i: number) => Target): Promise<Measured> {
  const plain = await latencies(t, false);
  const stream = await latencies(t, true);
  const rps = await throughput(t).catch(() => 0);
  const rpsMulti = perWorker ? await throughput(t, perWorker).catch(() => 0) : undefined;
  const ok = (l: typeof plain) => ("error" in l ? undefined : l);
  return {
    name: t.name,
    plain: ok(plain),
    stream: ok(stream),
    rps,
    rpsMulti,
    errors: [plain, stream].filter((l) => "error" in l).map((l) => (l as { error: string }).error),
  };
}

function printTable(title: string, base: Measured, rows: Measured[]) {
  if (!base.plain || !base.stream) throw new Error(`the upstream itself failed: ${base.errors.join("; ")}`);
  const f = (x: number | undefined) => (x === undefined ? "fails" : x.toFixed(2)).padStart(10);
  const add = (l: Lat | undefined, b: Lat) => (l ? { p50: l.p50 - b.p50, p99: l.p99 - b.p99 } : undefined);
  console.log(`\n${title}`);
  console.log(
    `(upstream direct: non-stream p50 ${base.plain.p50.toFixed(2)} ms, stream TTFB p50 ${base.stream.p50.toFixed(2)} ms, ${base.rps.toFixed(0)} req/s)\n`,
  );
  console.log(
    `${"".padEnd(22)}${"added p50".padStart(10)}${"added p99".padStart(10)}${"TTFB+ p50".padStart(10)}${"TTFB+ p99".padStart(10)}${"req/s".padStart(10)}${"1 user/cl".padStart(10)}`,
  );
  for (const r of rows) {
    const p = add(r.plain, base.plain),
      st = add(r.stream, base.stream);
    console.log(
      `${r.name.padEnd(22)}${f(p?.p50)}${f(p?.p99)}${f(st?.p50)}${f(st?.p99)}${r.rps.toFixed(0).padStart(10)}${(r.rpsMulti === undefined ? "" : r.rpsMulti.toFixed(0)).padStart(10)}`,
    );
  }
  for (const r of rows) for (const e of r.errors) console.log(`note: ${r.name} failed: ${e}`);
}

async function main() {
  if (!process.env.DATABASE_URL) throw new Error("DATABASE_URL is not set: run through `npm run bench:proxy`");
  await runMigrations(process.env.DATABASE_URL);
  const upstream = await startLlmStandIn({ port: UPSTREAM_PORT, latencyMs: UPSTREAM_LATENCY_MS });
  const bridge = await startBridge({ port: BRIDGE_PORT });

  const vars = {
    ENVIRONMENT: "development",
    DEV_MODE: "local",
    APP_URL: `http://localhost:${EDGE_PORT}`,
    DATABASE_URL: process.env.DATABASE_URL,
    NEON_LOCAL_WSPROXY: `127.0.0.1:${BRIDGE_PORT}`,
    ENCRYPTION_KEY: Buffer.alloc(32, 9).toString("base64"),
    OPENAI_API_KEY: "sk-bench",
    OPENAI_BASE_URL: `http://127.0.0.1:${UPSTREAM_PORT}/v1`,
  };
  const portkeyProcess = spawnDetached(
    systemNode(),
    ["node_modules/@portkey-ai/gateway/build/start-server.js", `--port=${PORTKEY_PORT}`, "--headless"],
    { NODE_ENV: "production" },
    "portkey.log",
    true,
  );
  await waitFor(`http://127.0.0.1:${PORTKEY_PORT}/`);
  const portkey: Target = {
    name: "portkey 1.15.2",
    url: `http://127.0.0.1:${PORTKEY_PORT}/v1/chat/completions`,
    headers: { authorization: "Bearer sk-bench", "x-portkey-provider": "openai", "x-portkey-custom-host": `http://127.0.0.1:${UPSTREAM_PORT}/v1` },
  };
  const direct: Target = { name: "upstream (direct)", url: `http://127.0.0.1:${UPSTREAM_PORT}/v1/chat/completions`, headers: {} };

  if (!PROFILE) {
    // Table 1: the built Worker in bare workerd, then Portkey and the upstream itself, in the same run.
    const bare = await startBareWorker({
      port: BARE_PORT,
      passThrough: { port: PASS_PORT, upstream: `http://127.0.0.1:${UPSTREAM_PORT}` },
      inspectorPort: BARE_INSPECTOR_PORT,
      vars: { ...vars, APP_URL: `http://localhost:${BARE_PORT}` },
      logDir: LOG_DIR,
    });
    const bareOrigin = `http://127.0.0.1:${BARE_PORT}`;
    const bareKeys = await Promise.all(Array.from({ length: CONCURRENCY + 1 }, (_, i) => fundedKey(bareOrigin, i)));
    const bareTarget: Target = { name: "ours (bare workerd)", url: `${bareOrigin}/v1/chat/completions`, headers: { authorization: `Bearer ${bareKeys[0]}` } };
    const base = await measure(direct);
    const oursBare = await measure(bareTarget, (i) => ({ ...bareTarget, headers: { authorization: `Bearer ${bareKeys[i + 1]}` } }));
    const pk = await measure(portkey);
    const passTarget: Target = { name: "pass-through Worker", url: `http://127.0.0.1:${PASS_PORT}/v1/chat/completions`, headers: {} };
    const pass = await measure(passTarget);
    // CPU per call, counted by the kernel for the workerd process (Worker and Durable Objects, JS and runtime)
    // over a sequential load; then the V8 profiler's view of where the Worker's JS time goes.
    const calls = 300;
    const cpu0 = bare.cpuMs();
    const spans: Record<string, number[]> = {};
    for (let i = 0; i < calls; i++) await timedOnce(bareTarget, spans);
    const cpuPerCall = (bare.cpuMs() - cpu0) / calls;
    // The runtime's own floor: the same POST refused at its first check (malformed key, no I/O), so what is
    // left is workerd receiving and answering a request (and Miniflare's entry worker in front of ours).
    const refusedTarget: Target = { ...bareTarget, headers: { authorization: "Bearer not-a-key" } };
    const cpuF = bare.cpuMs();
    const floorMs: number[] = [];
    for (let i = 0; i < calls; i++) {
      const start = performance.now();
      await fetch(refusedTarget.url, { method: "POST", headers: { "content-type": "application/json", ...refusedTarget.headers }, body: body(false) }).then(
        (r) => r.arrayBuffer(),
      );
      floorMs.push(performance.now() - start);
    }
    const cpuFloor = (bare.cpuMs() - cpuF) / calls;
    const cpuP = bare.cpuMs();
    for (let i = 0; i < calls; i++) await once(passTarget, false);
    const cpuPass = (bare.cpuMs() - cpuP) / calls;
    // The same transport to Portkey (its "/" does no I/O): what the runtime itself adds before our code runs.
    const bareFloor = pct(floorMs, 50) - (await floor(`http://127.0.0.1:${PORTKEY_PORT}/`));
    const pk0 = processCpuMs(portkeyProcess.pid!);
    for (let i = 0; i < calls; i++) await once(portkey, false);
    const portkeyCpu = (processCpuMs(portkeyProcess.pid!) - pk0) / calls;
    let profiled = 0;
    const prof = await profileWorker(BARE_INSPECTOR_PORT, join(LOG_DIR, "bare-worker.cpuprofile"), async () => {
      for (let i = 0; i < 200; i++, profiled++) await once(bareTarget, false);
    });
    // The same sequential calls under perf: how a call's CPU splits between our JavaScript and the runtime.
    const [workerdPid] = childWorkerd();
    const cpuN = bare.cpuMs();
    const native =
      workerdPid && perfAvailable()
        ? await profileNative(workerdPid, join(LOG_DIR, "bare-workerd.perf"), async () => {
            for (let i = 0; i < calls; i++) await once(bareTarget, false);
          })
        : undefined;
    const cpuNative = (bare.cpuMs() - cpuN) / calls;
    await bare.dispose();
    printTable(
      `Bare workerd (the built Worker under Miniflare's API, no dev proxy; Durable Object storage in ${DO_STORAGE}) · fake upstream ${UPSTREAM_LATENCY_MS} ms · ${N} sequential requests per measure · throughput at concurrency ${CONCURRENCY} for ${THROUGHPUT_SECONDS}s`,
      base,
      [oursBare, pk, pass],
    );
    console.log(
      `${"ours CPU per call".padEnd(22)}${cpuPerCall.toFixed(2).padStart(10)} ms  (kernel CPU time of the workerd process over ${calls} sequential non-stream calls: Worker + Durable Objects, JS + runtime)`,
    );
    console.log(`${"".padEnd(22)}${cpuFloor.toFixed(2).padStart(10)} ms  (the same, for a POST refused before any I/O: the runtime's floor per request)`);
    console.log(`${"".padEnd(22)}${cpuPass.toFixed(2).padStart(10)} ms  (the same, for the pass-through Worker: a request in, one fetch out, its answer back)`);
    console.log(
      `${"runtime floor".padEnd(22)}${bareFloor.toFixed(2).padStart(10)} ms  (p50 of that refused POST, minus Portkey's no-I/O "/": workerd's own, before our code)`,
    );
    console.log(
      `${"ours, inside workerd".padEnd(22)}${Object.entries(spans)
        .map(([k, xs]) => `${k} p50 ${pct(xs, 50).toFixed(2)} ms`)
        .join(" · ")}  (the proxy's Server-Timing: the wait for the user's Durable Object, and for the upstream's headers)`,
    );
    console.log(`${"portkey CPU per call".padEnd(22)}${portkeyCpu.toFixed(2).padStart(10)} ms  (kernel CPU time of its Node process, same calls)`);
    console.log(
      `${"".padEnd(22)}${(prof.busyMs / profiled).toFixed(2).padStart(10)} ms  (V8 profiler samples of the isolate; wall-clock sampled, inflated on a loaded machine)`,
    );
    const added = (l: Lat | undefined, b: Lat | undefined) => (l && b ? l.p50 - b.p50 : undefined);
    const oPlain = added(oursBare.plain, base.plain),
      qPlain = added(pk.plain, base.plain),
      oTtfb = added(oursBare.stream, base.stream);
    const goal = (label: string, pass: boolean | undefined, detail: string) =>
      console.log(`goal ${label.padEnd(42)} ${pass === undefined ? "n/a   " : pass ? "met   " : "MISSED"}  ${detail}`);
    goal(
      "added p50 below Portkey's",
      oPlain !== undefined && qPlain !== undefined ? oPlain < qPlain : undefined,
      `${oPlain?.toFixed(2)} vs ${qPlain?.toFixed(2)} ms`,
    );
    goal("added TTFB <= 1 ms", oTtfb !== undefined ? oTtfb <= 1 : undefined, `${oTtfb?.toFixed(2)} ms`);
    goal(
      "throughput >= Portkey's (1 user per client)",
      (oursBare.rpsMulti ?? 0) >= pk.rps,
      `${(oursBare.rpsMulti ?? 0).toFixed(0)} vs ${pk.rps.toFixed(0)} req/s`,
    );
    goal("CPU <= 1 ms per non-stream call", cpuPerCall <= 1, `${cpuPerCall.toFixed(2)} ms`);
    // What our code costs beyond the least a Worker forwarding one request can cost on this runtime.
    const pPlain = added(pass.plain, base.plain),
      pTtfb = added(pass.stream, base.stream);
    console.log(
      `beyond the pass-through Worker: added p50 +${((oPlain ?? NaN) - (pPlain ?? NaN)).toFixed(2)} ms, TTFB +${((oTtfb ?? NaN) - (pTtfb ?? NaN)).toFixed(2)} ms, CPU +${(cpuPerCall - cpuPass).toFixed(2)} ms per call`,
    );
    console.log(`\nwhere the Worker's JS time goes (V8 self time, top 12; profile: ${join(LOG_DIR, "bare-worker.cpuprofile")}):`);
    for (const t of prof.top.slice(0, 12)) console.log(`${t.ms.toFixed(1).padStart(8)} ms ${(t.share * 100).toFixed(1).padStart(5)}%  ${t.fn}`);
    if (native) {
      console.log(`\nwhere workerd's CPU goes (perf, every thread, ${calls} sequential non-stream calls, ${cpuNative.toFixed(2)} ms per call while recorded):`);
      for (const k of native) console.log(`${(k.share * cpuNative).toFixed(2).padStart(8)} ms ${(k.share * 100).toFixed(1).padStart(5)}%  ${k.kind}`);
    } else console.log("\n(no perf here: the split of workerd's CPU below JavaScript is not shown)");
    console.log("");
    if (BARE_ONLY) {
      upstream.close();
      bridge.close();
      stopAll();
      process.exit(0);
    }
  }

  const args = [
    "dev",
    "--port",
    String(EDGE_PORT),
    "--ip",
    "127.0.0.1",
    ...(PROFILE ? ["--inspector-port", String(INSPECTOR_PORT)] : []),
    "--persist-to",
    mkdtempSync(join(tmpdir(), "oc-bench-")),
  ];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  spawnDetached("node_modules/.bin/wrangler", args, { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" }, "wrangler.log");
  await waitFor(`http://127.0.0.1:${EDGE_PORT}/api/health`);

  const devOrigin = `http://127.0.0.1:${EDGE_PORT}`;
  const key = await fundedKey(devOrigin, 0);
  const manyKeys = await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => fundedKey(devOrigin, i + 1)));

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
    console.log(
      `sequential p50 (ms): ${Object.entries(timing)
        .map(([k, xs]) => `${k} ${pct(xs, 50).toFixed(2)}`)
        .join(" · ")}`,
    );
    const out = join(LOG_DIR, "worker.cpuprofile");
    let calls = 0;
    const r = await profileWorker(INSPECTOR_PORT, out, async () => {
      const end = performance.now() + THROUGHPUT_SECONDS * 1000;
      const clients = process.env.BENCH_PROFILE_SEQUENTIAL === "1" ? manyKeys.slice(0, 1) : manyKeys;
      await Promise.all(
        clients.map(async (k) => {
          while (performance.now() < end) {
            await once({ ...ours, headers: { authorization: `Bearer ${k}` } }, false);
            calls++;
          }
        }),
      );
    });
    console.log(
      `\nWorker CPU profile · ${calls} calls in ${THROUGHPUT_SECONDS}s · busy ${r.busyMs.toFixed(0)} ms of ${r.totalMs.toFixed(0)} ms sampled · ${(r.busyMs / calls).toFixed(2)} ms CPU per call`,
    );
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

  // Table 2: the same Worker under wrangler dev (kept for comparison with earlier runs).
  const devTarget: Target = { name: "ours (wrangler dev)", url: `${devOrigin}/v1/chat/completions`, headers: { authorization: `Bearer ${key}` } };
  const base = await measure(direct);
  const oursDev = await measure(devTarget, (i) => ({ ...devTarget, headers: { authorization: `Bearer ${manyKeys[i]}` } }));
  const pk = await measure(portkey);
  printTable(`wrangler dev (its local proxy chain in front of workerd) · same upstream, load and Portkey`, base, [oursDev, pk]);
  // The same POST with a malformed key: refused at the first check, before any I/O. What it costs is the
  // transport (wrangler dev's proxy chain, the upload, the reply) that every call pays before our code runs.
  const refused = { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer not-a-key" }, body: body(false) };
  const devFloor = (await floor(`${devOrigin}/v1/chat/completions`, refused)) - (await floor(`http://127.0.0.1:${PORTKEY_PORT}/`));
  const f = (x: number | undefined) => (x === undefined ? "fails" : x.toFixed(2)).padStart(10);
  console.log(
    // The floor comes off the added latency (ours minus the direct upstream), as in the rows above.
    `${"ours − dev floor".padEnd(22)}${f(oursDev.plain && oursDev.plain.p50 - base.plain!.p50 - devFloor)}${f(oursDev.plain && oursDev.plain.p99 - base.plain!.p99 - devFloor)}${f(oursDev.stream && oursDev.stream.p50 - base.stream!.p50 - devFloor)}${f(oursDev.stream && oursDev.stream.p99 - base.stream!.p99 - devFloor)}`,
  );
  console.log(
    `\nwrangler dev's own floor (the same POST refused before any I/O, minus Portkey's no-I/O "/"): ${devFloor.toFixed(2)} ms; production has no such layer.`,
  );
  console.log(`"req/s" shares one user (the ledger serialises a user's calls in its Durable Object by design); "1 user/client" gives`);
  console.log(`each of the ${CONCURRENCY} concurrent clients its own user, as the platform runs. Added latency = proxy minus direct upstream, in ms.`);
  console.log(`Ours meters every call: key check, protection and a reservation in the user's Durable Object before forwarding,`);
  console.log(`settlement and a Postgres usage record after. Portkey OSS does no metering or budgets.`);
  upstream.close();
  bridge.close();
  stopAll();
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  stopAll();
  process.exit(1);
});
