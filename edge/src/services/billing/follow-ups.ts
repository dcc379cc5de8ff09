import { eq } from "drizzle-orm";
import { AppError } from "@oc/contracts/errors";
import { GRACE_DAYS, planById } from "@oc/contracts/plans";
import { users } from "@oc/db/schema";
import { userAgent } from "../../clients/user-agent";
import { loadEnv } from "../../env";
import { buildServices } from "../build";
import type { Services } from "../context";
import { paidAccess, suspendService } from "../entitlement";
import { billingMail } from "./mail";
import { provisionAgent } from "../provisioning";

/**
 * What a Stripe event asks for once it is recorded: plain data, so it can wait in the user's Durable Object
 * as a job (durable-objects/src/jobs.ts) and run after Stripe has its answer, retried until it succeeds.
 */
export type FollowUp =
  | { kind: "receipt"; what: string; cents: number }
  | { kind: "apply_plan"; planId: string }
  | { kind: "start_agent" }
  | { kind: "plan_changed_mail"; from: string; to: string }
  | { kind: "end_service" }
  | { kind: "unsuspend" };

/** The job kind a follow-up is stored under (the job id is the event id and this kind). */
export const JOB_KIND_PREFIX = "stripe:";

/** Runs one follow-up for the user; a throw makes the job retry later. */
export async function runFollowUp(s: Services, userId: string, f: FollowUp): Promise<void> {
  const [user] = await s.db.select({ id: users.id, email: users.email }).from(users).where(eq(users.id, userId));
  if (!user) return; // the account is gone: nothing is owed to it any more
  switch (f.kind) {
    case "receipt":
      await billingMail.receipt(s, user, f.what, f.cents);
      return;
    case "apply_plan": {
      // A plan's markup applies to the user's token prices from now on.
      const plan = planById(f.planId);
      if (plan) await userAgent(s.env, userId).setMarkup(plan.markupBps);
      return;
    }
    case "start_agent":
      await startAgentAfterPayment(s, user);
      return;
    case "plan_changed_mail":
      await billingMail.planChanged(s, user, f.from, f.to);
      return;
    case "end_service":
      // Asleep even when set to stay on: nobody pays for its memory any more (unless an operator's grant does).
      if (!(await paidAccess(s, userId)).ok) await suspendService(s, userId, "the subscription ended");
      await billingMail.subscriptionEnded(s, user, GRACE_DAYS);
      return;
    case "unsuspend":
      await userAgent(s.env, userId).setSuspended(false);
      return;
  }
}

/**
 * A paid subscription starts the user's agent if it is not running yet (first purchase, or a resubscribe
 * after the agent was stopped). A refusal the user can act on (no capacity) is mailed; the payment stands.
 */
export async function startAgentAfterPayment(s: Services, user: { id: string; email: string }) {
  const { status } = await userAgent(s.env, user.id).init(user.id);
  if (status !== "none" && status !== "failed" && status !== "stopped") return;
  try {
    await provisionAgent(s, user.id, { ip: null, userAgent: "stripe-webhook" });
  } catch (e) {
    // Anything else is ours: it throws, and the job tries again later.
    if (!(e instanceof AppError)) throw e;
    console.error(`[billing] could not start the agent of ${user.id} after payment: ${e.message}`);
    await billingMail.agentFailed(s, user, e.message);
  }
}

/** The Worker's job runner (registered in worker.ts), called by a UserAgent's alarm for each due job. */
export async function runJob(rawEnv: unknown, job: { id: string; kind: string; userId: string; payload: unknown }): Promise<void> {
  if (!job.kind.startsWith(JOB_KIND_PREFIX)) throw new AppError("INTERNAL", `unknown job kind ${job.kind}`);
  const { env, problems } = loadEnv(rawEnv as object);
  if (!env) throw new Error(`the environment is invalid: ${problems.join("; ")}`);
  const { services, finish } = buildServices(env, `job:${job.id}`);
  try {
    await runFollowUp(services, job.userId, job.payload as FollowUp);
  } finally {
    await finish();
  }
}
