import type { AuthorizeResult } from "@oc/contracts/ledger";
import type { Env } from "../env";
import { sha256Hex } from "@oc/contracts/crypto";
import { recordStop } from "../services/fleet/console";
import { EMBEDDING_MODELS, type Api, type ModelInfo, type Tier } from "./catalog";
import { liveCatalog } from "./catalog-store";
import type { ProxyErrorKind } from "./errors";
import { holdFor } from "./hold";
import type { Fail, Intake } from "./intake";
import type { RequestFacts } from "./request-policy";
import { decisionOf, planRoute, route, type RouteDecision, type RoutePlan } from "./router";
import { translatable } from "./translate";
import type { Endpoint } from "./upstream";
import { userAgent, type UserAgentClient } from "../clients/user-agent";

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

/** A call the user's Durable Object accepted: its route, its reservation, and how to release the settle guard. */
export interface Authorised {
  account: UserAgentClient;
  auth: Extract<AuthorizeResult, { ok: true }>;
  authMs: number;
  reservationId: string;
  call: { tier: Tier; background: boolean; fingerprint: string; inbound: string };
  view: Awaited<ReturnType<typeof liveCatalog>>;
  plan: RoutePlan | undefined;
  decision: RouteDecision;
  /** The most the reservation pays for (the wholesale price of the dearest candidate). */
  maxWholesale: number;
  crossProvider: boolean;
  /** Resolves the waitUntil that keeps the isolate alive until the call is settled. */
  settledDone: () => void;
}

/**
 * Routes the call (a named model, or `auto` planned here and picked in the user's Durable Object against the
 * conversation's pin), then asks that Durable Object to authorise it: key, protection rules, and a hold of
 * the most it can cost. From an accepted call on, it is settled even if the client goes away.
 */
export async function authorise(
  request: Request,
  ctx: ExecutionContext,
  env: Env,
  endpoint: Endpoint,
  api: Api,
  { key, body, bytes }: Intake,
  facts: RequestFacts,
  fail: Fail,
): Promise<Authorised | Response> {
  const maxOut = facts.maxOutput;
  const holdOf = (m: ModelInfo) => holdFor(facts, m, bytes.length);
  const view = await liveCatalog(env, (p) => ctx.waitUntil(p));
  const crossProvider = (endpoint === "chat" || endpoint === "messages") && translatable(body);
  const plan = body.model === "auto" && endpoint !== "embeddings" ? planRoute(api, body, view, bytes.length, maxOut, holdOf) : undefined;
  let decision: RouteDecision | undefined =
    endpoint === "embeddings"
      ? embeddingRoute(body.model as string)
      : plan
        ? undefined
        : route(api, body.model as string, body as Parameters<typeof route>[2], crossProvider, view);
  if (!decision && !plan)
    return fail("unknown_model", `Unknown model "${String(body.model)}". GET /v1/models lists the models you can use, or use "auto".`, "model_not_found");

  // The hold covers the client's own format; a cross-provider fallback is fitted into it (forward.ts).
  let maxWholesale = !decision ? 0 : Math.max(...decision.candidates.filter((m) => m.api === api).map(holdOf));
  const said = lastUserText(body);
  const background = request.headers.get("x-oc-background") === "1" || BACKGROUND.test(said);
  const [fingerprint, inbound] = await Promise.all([
    sha256Hex(JSON.stringify(Array.isArray(body.messages) ? body.messages.slice(-2) : body.input)),
    sha256Hex(said),
  ]);
  const call = { tier: decision?.tier ?? plan!.proposed, background, fingerprint, inbound };
  const reservationId = crypto.randomUUID();
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
  return { account, auth, authMs, reservationId, call, view, plan, decision, maxWholesale, crossProvider, settledDone };
}

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
