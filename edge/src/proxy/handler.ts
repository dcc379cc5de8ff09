import type { AuthorizeResult } from "@oc/contracts/ledger";
import { loadEnv } from "../env";
import { sha256Hex } from "@oc/contracts/crypto";
import { EMBEDDING_MODELS, TIERS, tierRank, type ModelInfo } from "./catalog";
import { proxyError, type ProxyErrorKind } from "./errors";
import { parseProxyKey, presentedKey } from "./keys";
import { UsageMeter, usageOfJson } from "./meter";
import { chargeFor, holdFor, reasoningModel, type MeteredUsage } from "./hold";
import { policeRequest, type RequestFacts } from "./request-policy";
import { decisionOf, planRoute, route, type RouteDecision } from "./router";
import { liveCatalog } from "./catalog-store";
import { badAnswer } from "./routing/escalation";
import { apiOf, callUpstream, type Endpoint } from "./upstream";
import { lowBalanceJob } from "../services/billing/jobs";
import { recordStop } from "../services/fleet/console";
import { StreamTranslator, translatable, translateRequest, translateResponse } from "./translate";

/** Largest request body the proxy accepts (OpenClaw's requests are ~60 KB; long contexts can be MBs). */
export const MAX_PROXY_BODY = 8 * 1024 * 1024;

const REFUSAL_KIND: Record<Exclude<AuthorizeResult, { ok: true }>["code"], ProxyErrorKind> = {
  invalid_key: "invalid_key",
  suspended: "suspended",
  balance_limit: "balance_limit",
  daily_cap: "balance_limit",
  monthly_cap: "balance_limit",
  quiet_hours: "rate_limit",
  loop_detected: "stopped",
  message_budget: "stopped",
  background_single_pass: "stopped",
};

/** OpenClaw's heartbeat and cron turns, or any client that marks a call as background work. */
const BACKGROUND = /HEARTBEAT(_OK|\.md)|\[cron[:\]]|^System: \[?cron/i;

function lastUserText(body: Record<string, unknown>): string {
  const messages = Array.isArray(body.messages) ? (body.messages as { role?: string; content?: unknown }[]) : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== "user") continue;
    const text =
      typeof m.content === "string"
        ? m.content
        : Array.isArray(m.content)
          ? m.content.map((p) => (p && typeof p === "object" && "text" in p ? String(p.text) : "")).join("")
          : "";
    if (text) return text;
  }
  return typeof body.input === "string" ? body.input : JSON.stringify(body.input ?? "");
}

function validate(endpoint: Endpoint, body: Record<string, unknown>): string | undefined {
  if (typeof body.model !== "string" || !body.model) return "`model` is required (use \"auto\" to let the smart router choose).";
  if ((endpoint === "chat" || endpoint === "messages") && (!Array.isArray(body.messages) || body.messages.length === 0)) return "`messages` must be a non-empty array.";
  if ((endpoint === "responses" || endpoint === "embeddings") && body.input === undefined) return "`input` is required.";
  return undefined;
}

/**
 * One metered model call: authenticate by proxy key, route, reserve the maximum price in the user's
 * Durable Object, forward through the official SDK (falling back on 5xx/429), stream the answer back
 * untouched while reading its usage, then settle the actual price exactly once, even when the client
 * or the upstream stops half way, and write the usage record after the response.
 */
export async function handleProxy(request: Request, rawEnv: object, ctx: ExecutionContext, endpoint: Endpoint): Promise<Response> {
  const started = Date.now();
  const api = apiOf(endpoint);
  const requestId = `req_${crypto.randomUUID().replace(/-/g, "")}`;
  const fail = (kind: ProxyErrorKind, message: string, code?: string, param?: string) => proxyError(api, kind, message, code, requestId, param);

  const { env, problems } = loadEnv(rawEnv);
  if (problems) return fail("internal", "The service is misconfigured; the operators have been told.");
  const key = await parseProxyKey(presentedKey(request.headers));
  if (!key) return fail("invalid_key", "Missing or malformed API key: use the key from your OpenClaw Cloud dashboard.", "invalid_api_key");

  const parsedBody = await readJsonBody(request);
  if (!parsedBody.ok) return fail(parsedBody.kind, parsedBody.message);
  const { body, bytes } = parsedBody;
  const invalid = validate(endpoint, body);
  if (invalid) return fail("invalid_request", invalid);
  // Only what the hold can price is forwarded (request-policy.ts).
  const policed = policeRequest(endpoint, body);
  if (!policed.ok) return fail("invalid_request", policed.message, "unsupported_parameter", policed.param);
  const { facts } = policed;
  const maxOut = facts.maxOutput;
  const holdOf = (m: ModelInfo) => holdFor(facts, m, bytes.length);

  const view = await liveCatalog(env, (p) => ctx.waitUntil(p));
  const crossProvider = (endpoint === "chat" || endpoint === "messages") && translatable(body);
  // `auto` is planned here and picked in the user's Durable Object against the conversation's pin.
  const plan = body.model === "auto" && endpoint !== "embeddings" ? planRoute(api, body, view, bytes.length, maxOut, holdOf) : undefined;
  let decision: RouteDecision | undefined =
    endpoint === "embeddings" ? embeddingRoute(body.model as string) : plan ? undefined : route(api, body.model as string, body as Parameters<typeof route>[2], crossProvider, view);
  if (!decision && !plan) return fail("unknown_model", `Unknown model "${String(body.model)}". GET /v1/models lists the models you can use, or use "auto".`, "model_not_found");

  const stream = body.stream === true && endpoint !== "embeddings";
  // The hold covers the client's own format; a cross-provider fallback is fitted into it (see below).
  let maxWholesale = !decision ? 0 : Math.max(...decision.candidates.filter((m) => m.api === api).map(holdOf));
  const said = lastUserText(body);
  const background = request.headers.get("x-oc-background") === "1" || BACKGROUND.test(said);
  const [fingerprint, inbound] = await Promise.all([sha256Hex(JSON.stringify(Array.isArray(body.messages) ? body.messages.slice(-2) : body.input)), sha256Hex(said)]);
  const call = { tier: decision?.tier ?? plan!.proposed, background, fingerprint, inbound };
  const reservationId = crypto.randomUUID();
  const account = env.USER_AGENT.getByName(key.userId);
  const tAuth = performance.now();
  const auth = await account.authorize({ keyHash: key.keyHash, reservationId, maxWholesale, call, route: plan && { plan, label: said.slice(0, 120) } });
  const authMs = performance.now() - tAuth;
  if (!auth.ok) {
    // Runaway work stopped by token protection is counted for the operator console.
    if (REFUSAL_KIND[auth.code] === "stopped") ctx.waitUntil(recordStop(env, key.userId, auth.code, auth.message));
    return fail(REFUSAL_KIND[auth.code], auth.message, auth.code);
  }
  // From here on the call is settled even if the client goes away before the answer (waitUntil keeps the
  // work alive): a hold left to expire would make the call free.
  let settledDone: () => void = () => {};
  ctx.waitUntil(new Promise<void>((resolve) => (settledDone = resolve)));
  if (plan && auth.route) {
    decision = decisionOf(view, api, auth.route, crossProvider);
    maxWholesale = auth.route.reserve;
  }
  if (!decision) {
    ctx.waitUntil(account.settle(reservationId, 0, call.inbound).finally(settledDone));
    return fail("internal", "The router found no model for this request.");
  }
  let routed: RouteDecision = decision;

  // Forward, falling back to the next candidate on 5xx/429/timeouts.
  const tUp = performance.now();
  const abort = new AbortController();
  let used: ModelInfo | undefined;
  let upstream: Response | undefined;
  let failure: { status: number; body: unknown; retryable: boolean; timeout?: boolean } | undefined;
  let failedAcross = false;
  /** The allowed request for `model` in the client's own format (an output cap sent when none was asked). */
  const sameFormat = (model: ModelInfo, target: Endpoint) => {
    const forwarded: Record<string, unknown> = { ...policed.body, model: model.id };
    // No output cap from the client: the catalog's is sent, so the reservation really bounds the price.
    if (maxOut === undefined && (target === "chat" || target === "responses")) forwarded[target === "responses" ? "max_output_tokens" : "max_completion_tokens"] = model.maxOutput;
    return forwarded;
  };
  try {
    for (const model of routed.candidates) {
      // The other provider's model (cross-provider fallback) gets the request translated to its format.
      const across = model.api !== api;
      const target: Endpoint = across ? (model.api === "anthropic" ? "messages" : "chat") : endpoint;
      const crossMax = across ? affordableOutput(model, bytes.length, maxWholesale, maxOut) : 0;
      // Skip it when the hold cannot pay for a useful answer (fewer tokens than asked for, and under 256).
      if (across && crossMax < Math.min(256, maxOut ?? 256)) continue;
      const forwarded = across ? translateRequest(model.api, body, model.id, crossMax) : sameFormat(model, target);
      if (stream && target === "chat") forwarded.stream_options = { ...(forwarded.stream_options as object), include_usage: true };
      const r = await callUpstream(env, target, forwarded, abort.signal);
      failedAcross = across;
      if (r.ok) {
        used = model;
        upstream = r.response;
        break;
      }
      failure = r;
      if (!r.retryable) break;
    }
  } catch (e) {
    settledDone();
    throw e;
  }

  // An answer retried a tier up (escalation) adds the first attempt's cost: both were used.
  let escalated: { from: string; why: string; wholesale: number; usage: MeteredUsage } | undefined;
  const settle = async (usage: MeteredUsage, complete: boolean) => {
    try {
      if (!used) return void (await account.settle(reservationId, 0, call.inbound));
      let wholesale = chargeFor(used, usage, facts);
      let reason = escalated ? `${routed.reason}; ${escalated.from} gave a bad answer (${escalated.why}), retried on ${used.id}` : routed.reason;
      // Without the provider's own numbers, billed-but-unstreamed tokens (reasoning, thinking) are unknown:
      // the call is charged its hold, the most it can have cost.
      if (!complete && (facts.hiddenOutput || reasoningModel(used))) {
        wholesale = Math.max(wholesale, holdOf(used));
        reason += "; no usage reported by the provider (hidden reasoning possible), charged the hold";
      } else if (!complete) reason += "; stream ended early, usage counted from what was streamed";
      const settled = await account.settle(
        reservationId,
        wholesale + (escalated?.wholesale ?? 0),
        call.inbound,
        {
          userId: key.userId,
          agentId: auth.agentId,
          model: used.id,
          provider: used.api,
          tier: routed.tier,
          routeReason: reason,
          priceVersion: view.version,
          inputTokens: usage.inputTokens + (escalated?.usage.inputTokens ?? 0),
          outputTokens: usage.outputTokens + (escalated?.usage.outputTokens ?? 0),
          cachedTokens: usage.cachedTokens + (escalated?.usage.cachedTokens ?? 0),
          latencyMs: Date.now() - started,
          background: background ? "background" : "interactive",
        },
        escalated && plan ? { key: plan.key, tier: routed.tier, model: used.id } : undefined,
      );
      // The balance just fell below the user's threshold: warn, or top up automatically (off the hot path).
      if (settled.lowBalance) ctx.waitUntil(lowBalanceJob(env, key.userId));
    } finally {
      settledDone();
    }
  };

  if (!upstream || !used) {
    ctx.waitUntil(settle({ inputTokens: 0, outputTokens: 0, cachedTokens: 0 }, true));
    if (failure?.timeout) return fail("timeout", "The model provider did not answer in time. Please retry.");
    if (failure && !failure.retryable && failure.body && !failedAcross) {
      return new Response(JSON.stringify(failure.body), { status: failure.status, headers: { "content-type": "application/json", "x-request-id": requestId } });
    }
    return fail("upstream", "The model providers are unavailable right now. Please retry in a moment.", "upstream_unavailable");
  }

  const headers = new Headers({
    "content-type": upstream.headers.get("content-type") ?? "application/json",
    "x-request-id": requestId,
    "x-oc-model": used.id,
    "x-oc-tier": routed.tier,
    // Where the time went (workerd only advances its clock across I/O, which is what these measure).
    "server-timing": `auth;dur=${authMs.toFixed(1)}, upstream;dur=${(performance.now() - tUp).toFixed(1)}`,
  });
  const estimatedInput = Math.ceil(bytes.length / 4);

  if (!stream) {
    let text: string;
    try {
      text = await upstream.text();
    } catch {
      ctx.waitUntil(settle({ inputTokens: estimatedInput, outputTokens: 0, cachedTokens: 0 }, false));
      return fail("upstream", "The model provider's answer broke off. Please retry.", "upstream_unavailable");
    }
    let usage: MeteredUsage | undefined;
    try {
      let parsed = JSON.parse(text);
      usage = usageOfJson(used.api, parsed);
      // A cheap model's detectably bad answer is retried once a tier up (the hold already covers it).
      const why = routed.escalation && used.api === api ? badAnswer(used.api, parsed) : undefined;
      if (why && usage && routed.escalation) {
        const retry = await callUpstream(env, endpoint, sameFormat(routed.escalation, endpoint), abort.signal);
        if (retry.ok) {
          escalated = { from: used.id, why, wholesale: chargeFor(used, usage, facts), usage };
          used = routed.escalation;
          routed = { ...routed, tier: TIERS[Math.min(TIERS.length - 1, tierRank(routed.tier) + 1)]! };
          text = await retry.response.text();
          parsed = JSON.parse(text);
          usage = usageOfJson(used.api, parsed);
          headers.set("x-oc-model", used.id);
          headers.set("x-oc-tier", routed.tier);
        }
      }
      if (used.api !== api) text = JSON.stringify(translateResponse(used.api, parsed));
    } catch {
      /* not JSON: estimate below */
    }
    ctx.waitUntil(settle(usage ?? { inputTokens: estimatedInput, outputTokens: Math.ceil(text.length / 4), cachedTokens: 0 }, !!usage));
    return new Response(text, { status: upstream.status, headers });
  }

  headers.set("cache-control", "no-cache");
  // Usage is read from the upstream's own stream; a cross-provider answer is rewritten for the client after.
  const meter = new UsageMeter(used.api, estimatedInput);
  const translator = used.api !== api ? new StreamTranslator(used.api, used.id) : undefined;
  const reader = upstream.body!.getReader();
  let settledOnce = false;
  const finish = () => {
    if (settledOnce) return;
    settledOnce = true;
    const { usage, complete } = meter.result();
    void settle(usage, complete);
  };
  // A read the client's pull started; when the client goes away mid-read, the drain takes it over.
  let inflight: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  let draining = false;
  const out = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const read = (inflight = reader.read());
        const { value, done: end } = await read;
        if (draining) return; // the drain owns this result now
        inflight = undefined;
        if (end) {
          finish();
          controller.close();
          return;
        }
        meter.push(value);
        controller.enqueue(translator ? translator.push(value) : value);
      } catch (e) {
        if (draining) return;
        finish(); // the upstream broke mid-stream: charge what was streamed
        controller.error(e);
      }
    },
    cancel() {
      // The client went away. The provider bills the whole answer (and any hidden reasoning) whether or not
      // anyone reads it, so the stream is read on, bounded, to its final usage event before settling.
      draining = true;
      const pending = inflight;
      inflight = undefined;
      drainToUsage(reader, meter, pending).finally(() => {
        finish();
        abort.abort();
        reader.cancel().catch(() => {});
      });
    },
  });
  return new Response(out, { status: upstream.status, headers });
}

/** How long, and how many bytes, an abandoned stream is read on for its usage (within waitUntil's 30 s). */
export const DRAIN_MS = 25_000;
export const DRAIN_BYTES = 8 * 1024 * 1024;

async function drainToUsage(reader: ReadableStreamDefaultReader<Uint8Array>, meter: UsageMeter, pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), DRAIN_MS)));
  const limit = meter.bytes + DRAIN_BYTES;
  try {
    while (!meter.final && meter.bytes < limit) {
      const r = await Promise.race([pending ?? reader.read(), timeout]);
      pending = undefined;
      if (r === "timeout" || r.done) break;
      meter.push(r.value);
    }
  } catch {
    /* the upstream broke: settle with what was seen */
  } finally {
    clearTimeout(timer);
  }
}

const utf8 = new TextDecoder();

type BodyRead = { ok: true; body: Record<string, unknown>; bytes: Uint8Array } | { ok: false; kind: ProxyErrorKind; message: string };

async function readJsonBody(request: Request): Promise<BodyRead> {
  if (!/json/i.test(request.headers.get("content-type") ?? "")) return { ok: false, kind: "invalid_request", message: "Send the request body as JSON (Content-Type: application/json)." };
  const tooLarge = { ok: false, kind: "too_large", message: `The request body is over ${MAX_PROXY_BODY / 1024 / 1024} MiB.` } as const;
  if (Number(request.headers.get("content-length") ?? 0) > MAX_PROXY_BODY) return tooLarge;
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.length > MAX_PROXY_BODY) return tooLarge;
  try {
    const body = JSON.parse(utf8.decode(bytes));
    if (!body || typeof body !== "object" || Array.isArray(body)) throw new Error("not an object");
    return { ok: true, body, bytes };
  } catch {
    return { ok: false, kind: "invalid_request", message: "The request body is not valid JSON." };
  }
}

/**
 * Output tokens the other provider's model may produce so that its worst-case price stays within the hold
 * already reserved for the client's own models: the fallback never needs a second reservation.
 */
function affordableOutput(m: ModelInfo, bodyBytes: number, heldWholesale: number, requested: number | undefined): number {
  // Only plain text conversations cross formats (translate.ts), so the body's bytes bound the input.
  const inputCost = holdFor({ ...TEXT_ONLY, maxOutput: 0 }, m, bodyBytes);
  const perToken = m.outputPer1M / 1_000_000;
  const affordable = perToken > 0 ? Math.floor((heldWholesale - inputCost) / perToken) : m.maxOutput;
  return Math.max(0, Math.min(requested ?? m.maxOutput, m.maxOutput, affordable));
}

const TEXT_ONLY: RequestFacts = { choices: 1, maxOutput: undefined, serviceTier: "standard", images: 0, documents: 0, cacheWrite: "none", predictionBytes: 0, hiddenOutput: false };

function embeddingRoute(model: string): RouteDecision | undefined {
  const m = EMBEDDING_MODELS.find((e) => e.id === model);
  if (!m) return undefined;
  const info: ModelInfo = { id: m.id, api: "openai", auto: false, inputPer1M: m.inputPer1M, outputPer1M: 0, cachedPer1M: 0, cacheWritePer1M: m.inputPer1M, contextWindow: 8191 * 2048, maxOutput: 0, maxTier: "simple", priceSource: "https://developers.openai.com/api/docs/pricing", priceDate: "2024-01-25" };
  return { tier: "simple", reason: "embeddings", candidates: [info] };
}
