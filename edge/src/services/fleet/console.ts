import { and, desc, eq, gte, inArray, sql } from "drizzle-orm";
import { PLANS } from "@oc/contracts/plans";
import { auditLog, subscriptions, usageRecords, users } from "@oc/db/schema";
import { loadEnv, type Env } from "../../env";
import { newId } from "@oc/contracts/ids";
import { sha256Hex } from "@oc/contracts/crypto";
import { buildServices } from "../build";
import type { Services } from "../context";
import { policyOf, fleetView } from "./fleet";
import { heldMb, utilisation } from "@oc/contracts/capacity";
import { fleetScheduler } from "../../clients/fleet";

const STOPPED = "proxy.runaway_stopped";
const GAVE_UP = "jobs.gave_up";

/** Called from the proxy (waitUntil) when token protection stops a loop or an over-budget message. */
export async function recordStop(env: Env, userId: string, code: string, message: string) {
  const { services, finish } = buildServices(env, `stop:${userId}`);
  try {
    await services.db.insert(auditLog).values({ id: newId("aud"), userId, actor: "proxy", action: STOPPED, meta: JSON.stringify({ code, message }) });
  } catch (e) {
    console.error("[console] could not record a stopped loop", e);
  } finally {
    await finish();
  }
}

/** What a user's Durable Object reports when it gave a follow-up job up (durable-objects/src/jobs.ts). */
interface GaveUpReport {
  jobId: string;
  kind: string;
  attempts: number;
  error: string;
  at: number;
}

/**
 * Records a given-up job for the console, once per job (the row's id is derived from the job's id, so the
 * report job's own retry after a crash adds nothing). A throw makes the user's object retry the report.
 */
export async function recordJobGaveUp(rawEnv: unknown, job: { id: string; userId: string; payload: unknown }) {
  const { env, problems } = loadEnv(rawEnv as object);
  if (!env) throw new Error(`the environment is invalid: ${problems.join("; ")}`);
  const r = job.payload as GaveUpReport;
  const { services, finish } = buildServices(env, `job:${job.id}`);
  try {
    await services.db
      .insert(auditLog)
      .values({
        id: `aud_${(await sha256Hex(job.id)).slice(0, 24)}`,
        userId: job.userId,
        actor: "jobs",
        action: GAVE_UP,
        meta: JSON.stringify({ jobId: r.jobId, kind: r.kind, attempts: r.attempts, error: r.error }),
        createdAt: new Date(r.at),
      })
      .onConflictDoNothing();
  } finally {
    await finish();
  }
}

/**
 * The operator console in one call: fleet load and orders, provisioning failures, follow-up jobs given up
 * (a payment's mails, markup or agent start), revenue against upstream token cost (30 days), top spenders,
 * and runaway loops that token protection stopped.
 */
export async function operatorOverview(s: Services) {
  const since = new Date(Date.now() - 30 * 86_400_000);
  const [view, orders, tokens, spenders, mrr, stops, gaveUp] = await Promise.all([
    fleetView(s),
    fleetScheduler(s.env).listOrders(10),
    s.db
      .select({
        revenue: sql<string>`coalesce(sum(${usageRecords.priceMicros}), 0)`,
        cost: sql<string>`coalesce(sum(${usageRecords.costMicros}), 0)`,
        calls: sql<string>`count(*)`,
      })
      .from(usageRecords)
      .where(gte(usageRecords.createdAt, since)),
    s.db
      .select({ userId: usageRecords.userId, email: users.email, spentMicros: sql<string>`sum(${usageRecords.priceMicros})`, calls: sql<string>`count(*)` })
      .from(usageRecords)
      .innerJoin(users, eq(users.id, usageRecords.userId))
      .where(gte(usageRecords.createdAt, since))
      .groupBy(usageRecords.userId, users.email)
      .orderBy(desc(sql`sum(${usageRecords.priceMicros})`))
      .limit(10),
    s.db
      .select({ planId: subscriptions.planId, n: sql<string>`count(*)` })
      .from(subscriptions)
      .where(inArray(subscriptions.status, ["active", "past_due"]))
      .groupBy(subscriptions.planId),
    s.db
      .select({ userId: auditLog.userId, meta: auditLog.meta, at: auditLog.createdAt })
      .from(auditLog)
      .where(and(eq(auditLog.action, STOPPED), gte(auditLog.createdAt, since)))
      .orderBy(desc(auditLog.createdAt))
      .limit(20),
    s.db
      .select({ userId: auditLog.userId, email: users.email, meta: auditLog.meta, at: auditLog.createdAt })
      .from(auditLog)
      .leftJoin(users, eq(users.id, auditLog.userId))
      .where(and(eq(auditLog.action, GAVE_UP), gte(auditLog.createdAt, since)))
      .orderBy(desc(auditLog.createdAt))
      .limit(50),
  ]);
  const u = utilisation(view);
  const revenue = Number(tokens[0]?.revenue ?? 0);
  const cost = Number(tokens[0]?.cost ?? 0);
  return {
    fleet: {
      utilisation: u,
      scaleAt: policyOf(s.env).scaleAt,
      nodes: view.map((n) => ({
        id: n.id,
        status: n.status,
        connected: n.live.connected,
        committedMb: n.live.committedMb,
        // What its agents hold (running: limit, dozing: resident + compressed as measured) and what the node measured.
        heldMb: heldMb(n),
        measuredMb: n.live.measuredMb,
        swap: n.live.metrics?.swap ?? null,
        dozeFallbacks: n.live.metrics?.doze?.fallbacks ?? {},
        ramTotalMb: n.live.metrics?.ramTotalMb ?? 0,
        agents: n.live.agents,
      })),
      orders,
    },
    provisioningFailures: view
      .flatMap((n) => n.live.recentFailures.map((f) => ({ ...f, nodeId: n.id })))
      .sort((a, b) => b.at - a.at)
      .slice(0, 20),
    money: {
      tokenRevenueMicros: revenue,
      upstreamCostMicros: cost,
      marginMicros: revenue - cost,
      calls: Number(tokens[0]?.calls ?? 0),
      subscriptionMrrCents: mrr.reduce((sum, r) => sum + (PLANS.find((p) => p.id === r.planId)?.priceCents ?? 0) * Number(r.n), 0),
      subscriptions: Object.fromEntries(mrr.map((r) => [r.planId, Number(r.n)])),
    },
    topSpenders: spenders.map((r) => ({ userId: r.userId, email: r.email, spentMicros: Number(r.spentMicros), calls: Number(r.calls) })),
    failedJobs: gaveUp.map((r) => ({
      userId: r.userId,
      email: r.email,
      at: r.at.toISOString(),
      ...(JSON.parse(r.meta ?? "{}") as { jobId: string; kind: string; attempts: number; error: string }),
    })),
    stoppedLoops: stops.map((r) => ({ userId: r.userId, at: r.at.toISOString(), ...(JSON.parse(r.meta ?? "{}") as { code?: string; message?: string }) })),
  };
}
