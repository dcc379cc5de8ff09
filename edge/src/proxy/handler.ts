import type { AuthorizeResult } from "@oc/contracts/ledger";
import { sha256Hex } from "@oc/contracts/crypto";
import { loadEnv, type Env } from "../env";
import { userAgent, type UserAgentClient } from "../clients/user-agent";
import { lowBalanceJob } from "../services/billing/jobs";
import { recordStop } from "../services/fleet/console";
import { EMBEDDING_MODELS, type Api, type ModelInfo, type Tier } from "./catalog";
import { liveCatalog } from "./catalog-store";
import { proxyError, REFUSAL_KIND, type Fail } from "./errors";
import { forward, sameFormat, type ClientRequest } from "./forward";
import { chargeFor, holdFor, reasoningModel } from "./hold";
import { parseProxyKey, presentedKey } from "./keys";
import { apiOf, hasDuplicateKeys, policeRequest, type Endpoint, type RequestFacts } from "./request-policy";
import { streamAnswer, upstreamFailed, wholeAnswer, type Answered, type Settle } from "./respond";
import { decisionOf, planRoute, route, type RouteDecision, type RoutePlan } from "./router";
import { translatable } from "./translate";

/**
 * One metered model call, as its steps: intake (key, body, allow-list), authorise (route, and a hold of the
 * most it can cost in the user's Durable Object), forward the client's own request (falling back on
 * 5xx/429), respond (the stream passed back untouched while its usage is read), and settle the actual price
 * exactly once, even when the client or the upstream stops half way; the usage row is written with it.
 */
export async function handleProxy(request: Request, rawEnv: object, ctx: ExecutionContext, endpoint: Endpoint): Promise<Response> {
  const started = Date.now();
  const api = apiOf(endpoint);
  const reservationId = crypto.randomUUID();
  const requestId = `req_${reservationId.replaceAll("-", "")}`;
  const fail: Fail = (kind, message, code, param) => proxyError(api, kind, message, code, requestId, param);

  // 1. Intake: key, JSON body, model; then the endpoint's fields and the allow-list (only what the hold can price is forwarded).
  const input = await intake(request, rawEnv, fail);
  if (input instanceof Response) return input;
  const { env, body, bytes } = input;
  const missing = missingField(endpoint, body);
  if (missing) return fail("invalid_request", missing);
  const policed = policeRequest(endpoint, body);
  if (!policed.ok) return fail("invalid_request", policed.message, "unsupported_parameter", policed.param);
  const { facts } = policed;
  // Before anything is reserved: a body that repeats a key (or starts with a byte-order mark) goes as the
  // policy read it, never as its own bytes (see hasDuplicateKeys).
  const changed = policed.changed || input.bom || hasDuplicateKeys(input.text);

  // 2. Route and reserve in the user's Durable Object.
  const authorised = await authorise(request, ctx, endpoint, api, input, facts, reservationId, fail);
  if (authorised instanceof Response) return authorised;

  // 3. Forward, falling back to the next candidate on 5xx/429/timeouts.
  const stream = body.stream === true && endpoint !== "embeddings";
  const tUp = performance.now();
  const abort = new AbortController();
  const req: ClientRequest = { body, policedBody: policed.body, changed, bytes, maxOut: facts.maxOutput, stream };
  let forwarded;
  try {
    forwarded = await forward(env, endpoint, api, authorised.decision, req, authorised.maxWholesale, abort.signal);
  } catch (e) {
    authorised.settledDone();
    throw e;
  }

  // 4. Settle exactly once with what the answer used (the respond step calls it when the usage is known).
  const answered: Answered = { used: forwarded.used, routed: authorised.decision };
  const settle = settler(ctx, env, authorised, facts, bytes.length, started, answered);
  const { upstream, used } = forwarded;
  if (!upstream || !used) return upstreamFailed(ctx, settle, forwarded, requestId, fail);

  // 5. Respond: the whole answer, or the stream passed through.
  const headers = new Headers({
    "content-type": upstream.headers.get("content-type") ?? "application/json",
    "x-request-id": requestId,
    "x-oc-model": used.id,
    "x-oc-tier": authorised.decision.tier,
    // Where the time went (workerd only advances its clock across I/O, which is what these measure).
    "server-timing": `auth;dur=${authorised.authMs.toFixed(1)}, upstream;dur=${(performance.now() - tUp).toFixed(1)}`,
  });
  const estimatedInput = Math.ceil(bytes.length / 4);
  if (stream) return streamAnswer(upstream, used, api, headers, estimatedInput, settle, abort);
  const retryBody = () => sameFormat(req, authorised.decision.escalation!, endpoint);
  return wholeAnswer(ctx, env, endpoint, api, upstream, answered, retryBody, facts, headers, estimatedInput, settle, fail, abort.signal);
}

// ── 1. intake ───────────────────────────────────────────────────────────────────────────────────────

/** Largest request body the proxy accepts (OpenClaw's requests are ~60 KB; long contexts can be MBs). */
export const MAX_PROXY_BODY = 8 * 1024 * 1024;

/** A request that passed intake: the configured env, the key's user, and the body as JSON and as bytes. */
export interface Intake {
  env: Env;
  key: { userId: string; keyHash: string };
  /** `model` is a non-empty string. */
  body: Record<string, unknown>;
  bytes: Uint8Array;
  /** The bytes as text (what was parsed). */
  text: string;
  /** The bytes start with a UTF-8 byte-order mark (which the text no longer has). */
  bom: boolean;
}

/**
 * The checks every proxied request passes before anything is looked up, in this order: the service is
 * configured, a well-formed proxy key is presented, the body is a JSON object within the size limit, and it
 * names a model. Model calls and token counts (count-tokens.ts) share it; any failure is the caller's
 * answer, returned as a Response.
 */
export async function intake(request: Request, rawEnv: object, fail: Fail): Promise<Intake | Response> {
  const { env, problems } = loadEnv(rawEnv);
  if (problems) return fail("internal", "The service is misconfigured; the operators have been told.");
  const key = await parseProxyKey(presentedKey(request.headers));
  if (!key) return fail("invalid_key", "Missing or malformed API key: use the key from your OpenClaw Cloud dashboard.", "invalid_api_key");

  if (!/json/i.test(request.headers.get("content-type") ?? ""))
    return fail("invalid_request", "Send the request body as JSON (Content-Type: application/json).");
  if (Number(request.headers.get("content-length") ?? 0) > MAX_PROXY_BODY) return tooLarge(fail);
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.length > MAX_PROXY_BODY) return tooLarge(fail);
  // Bytes that are not UTF-8 would read one way here and maybe another way upstream: refused.
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  let body: Record<string, unknown>;
  let text: string;
  try {
    text = utf8.decode(bytes);
    body = JSON.parse(text);
    if (!body || typeof body !== "object" || Array.isArray(body)) throw new Error("not an object");
  } catch {
    return fail("invalid_request", "The request body is not valid JSON.");
  }
  if (typeof body.model !== "string" || !body.model) return fail("invalid_request", '`model` is required (use "auto" to let the smart router choose).');
  return { env, key, body, bytes, text, bom };
}

/** What a model call's body must carry besides its model (the endpoint's required fields). */
function missingField(endpoint: Endpoint, body: Record<string, unknown>): string | undefined {
  if ((endpoint === "chat" || endpoint === "messages") && (!Array.isArray(body.messages) || body.messages.length === 0))
    return "`messages` must be a non-empty array.";
  if ((endpoint === "responses" || endpoint === "embeddings") && body.input === undefined) return "`input` is required.";
  return undefined;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
const tooLarge = (fail: Fail) => fail("too_large", `The request body is over ${MAX_PROXY_BODY / 1024 / 1024} MiB.`);

// ── 2. authorise ────────────────────────────────────────────────────────────────────────────────────

/** OpenClaw's heartbeat and cron turns, or any client that marks a call as background work. */
const BACKGROUND = /HEARTBEAT(_OK|\.md)|\[cron[:\]]|^System: \[?cron/i;

/** A call the user's Durable Object accepted: its route, its reservation, and how to release the settle guard. */
interface Authorised {
  account: UserAgentClient;
  userId: string;
  auth: Extract<AuthorizeResult, { ok: true }>;
  authMs: number;
  reservationId: string;
  call: { tier: Tier; background: boolean; fingerprint: string; inbound: string };
  view: Awaited<ReturnType<typeof liveCatalog>>;
  plan: RoutePlan | undefined;
  decision: RouteDecision;
  /** The most the reservation pays for (the wholesale price of the dearest candidate). */
  maxWholesale: number;
  /** Resolves the waitUntil that keeps the isolate alive until the call is settled. */
  settledDone: () => void;
}

/**
 * Routes the call (a named model, or `auto` planned here and picked in the user's Durable Object against the
 * conversation's pin), then asks that Durable Object to authorise it: key, protection rules, and a hold of
 * the most it can cost. From an accepted call on, it is settled even if the client goes away.
 */
async function authorise(
  request: Request,
  ctx: ExecutionContext,
  endpoint: Endpoint,
  api: Api,
  { env, key, body, bytes }: Intake,
  facts: RequestFacts,
  reservationId: string,
  fail: Fail,
): Promise<Authorised | Response> {
  const holdOf = (m: ModelInfo) => holdFor(facts, m, bytes.length);
  const view = await liveCatalog(env, (p) => ctx.waitUntil(p));
  const crossProvider = (endpoint === "chat" || endpoint === "messages") && translatable(body);
  const plan = body.model === "auto" && endpoint !== "embeddings" ? planRoute(api, body, view, bytes.length, facts.maxOutput, holdOf) : undefined;
  let decision: RouteDecision | undefined =
    endpoint === "embeddings"
      ? embeddingRoute(body.model as string)
      : plan
        ? undefined
        : route(api, body.model as string, body as Parameters<typeof route>[2], crossProvider, view);
  if (!decision && !plan)
    return fail("unknown_model", `Unknown model "${String(body.model)}". GET /v1/models lists the models you can use, or use "auto".`, "model_not_found");

  // The hold covers the client's own format; a cross-provider fallback is fitted into it (forward.ts).
  let maxWholesale = 0;
  if (decision) for (const m of decision.candidates) if (m.api === api) maxWholesale = Math.max(maxWholesale, holdOf(m));
  const said = lastUserText(body);
  const background = request.headers.get("x-oc-background") === "1" || BACKGROUND.test(said);
  const [fingerprint, inbound] = await Promise.all([
    sha256Hex(JSON.stringify(Array.isArray(body.messages) ? body.messages.slice(-2) : body.input)),
    sha256Hex(said),
  ]);
  const call = { tier: decision?.tier ?? plan!.proposed, background, fingerprint, inbound };
  const account = userAgent(env, key.userId);
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
  return { account, userId: key.userId, auth, authMs, reservationId, call, view, plan, decision, maxWholesale, settledDone };
}

/** The person's last words: what background turns are recognised by, and what per-message budgets count. */
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

function embeddingRoute(model: string): RouteDecision | undefined {
  const m = EMBEDDING_MODELS.find((e) => e.id === model);
  if (!m) return undefined;
  const info: ModelInfo = {
    id: m.id,
    api: "openai",
    auto: false,
    inputPer1M: m.inputPer1M,
    outputPer1M: 0,
    cachedPer1M: 0,
    cacheWritePer1M: m.inputPer1M,
    contextWindow: 8191 * 2048,
    maxOutput: 0,
    maxTier: "simple",
    priceSource: "https://developers.openai.com/api/docs/pricing",
    priceDate: "2024-01-25",
  };
  return { tier: "simple", reason: "embeddings", candidates: [info] };
}

// ── 4. settle ───────────────────────────────────────────────────────────────────────────────────────

/**
 * Settles the reservation exactly once with the actual price and writes the usage record; never below what
 * the provider can have billed (an answer without the provider's usage is charged its hold when hidden
 * reasoning is possible). Releases the settle guard whatever happens.
 */
function settler(ctx: ExecutionContext, env: Env, a: Authorised, facts: RequestFacts, bodyBytes: number, started: number, answered: Answered): Settle {
  const { account, reservationId, call, userId } = a;
  return async (usage, complete) => {
    try {
      const { used, routed, escalated } = answered;
      if (!used) return void (await account.settle(reservationId, 0, call.inbound));
      let wholesale = chargeFor(used, usage, facts);
      let reason = escalated ? `${routed.reason}; ${escalated.from} gave a bad answer (${escalated.why}), retried on ${used.id}` : routed.reason;
      // Without the provider's own numbers, billed-but-unstreamed tokens (reasoning, thinking) are unknown:
      // the call is charged its hold, the most it can have cost.
      if (!complete && (facts.hiddenOutput || reasoningModel(used))) {
        wholesale = Math.max(wholesale, holdFor(facts, used, bodyBytes));
        reason += "; no usage reported by the provider (hidden reasoning possible), charged the hold";
      } else if (!complete) reason += "; stream ended early, usage counted from what was streamed";
      const settled = await account.settle(
        reservationId,
        wholesale + (escalated?.wholesale ?? 0),
        call.inbound,
        {
          userId,
          agentId: a.auth.agentId,
          model: used.id,
          provider: used.api,
          tier: routed.tier,
          routeReason: reason,
          priceVersion: a.view.version,
          inputTokens: usage.inputTokens + (escalated?.usage.inputTokens ?? 0),
          outputTokens: usage.outputTokens + (escalated?.usage.outputTokens ?? 0),
          cachedTokens: usage.cachedTokens + (escalated?.usage.cachedTokens ?? 0),
          latencyMs: Date.now() - started,
          background: call.background ? "background" : "interactive",
        },
        escalated && a.plan ? { key: a.plan.key, tier: routed.tier, model: used.id } : undefined,
      );
      // The balance just fell below the user's threshold: warn, or top up automatically (off the hot path).
      if (settled.lowBalance) ctx.waitUntil(lowBalanceJob(env, userId));
    } finally {
      a.settledDone();
    }
  };
}
