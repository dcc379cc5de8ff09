import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import Stripe from "stripe";
import { afterEach, describe, expect, it } from "vitest";
import { jobRunner, MAX_JOB_ATTEMPTS, registerJobRunner, type JobRunner } from "../../durable-objects/src/jobs";
import { provisionAttempts } from "@oc/db/schema";
import { call, inbox, operator, signup, withDb } from "./helpers";
import { TEST_PORTS, TEST_SECRETS } from "../../test-harness/ports";
import { poll } from "../../test-harness/poll";

/**
 * A Stripe event's follow-ups (starting the agent, the plan's markup, mails) run after the webhook's 200, as
 * jobs in the user's Durable Object: a follow-up that crashes is retried by the object's alarm and then
 * happens exactly once, a redelivered event runs nothing twice, and one that keeps failing is given up with
 * its error on the user's activity feed and in the operators' console. The crash is a runner that throws (the Worker's real runner behind
 * it), which is what an evicted object or a failing dependency looks like from the job table.
 */
const STAND_IN = `http://127.0.0.1:${TEST_PORTS.stripe}`;
const signer = new Stripe("sk_test_signer", { httpClient: Stripe.createFetchHttpClient() });
type Ev = { id: string; type: string; data: { object: any } };

async function deliver(event: Ev) {
  const payload = JSON.stringify(event);
  const header = await signer.webhooks.generateTestHeaderStringAsync({
    payload,
    secret: TEST_SECRETS.stripeWebhookSecret,
    cryptoProvider: Stripe.createSubtleCryptoProvider(),
  });
  return call("/api/webhooks/stripe", { rawBody: payload, headers: { "content-type": "application/json", "stripe-signature": header } });
}

async function paidCheckout() {
  const u = await signup();
  const checkout = await call("/api/billing/checkout", { body: { plan: "starter" }, cookie: u.cookie });
  expect(checkout.status).toBe(200);
  const done = (await fetch(`${STAND_IN}/_complete/${checkout.body.id}`, { method: "POST" }).then((r) => r.json())) as { deliveries: { event: Ev }[] };
  return { ...u, events: done.deliveries.map((d) => d.event) };
}

const account = (userId: string) => env.USER_AGENT.getByName(userId);
const job = async (userId: string, id: string) => (await account(userId).listJobs()).find((j) => j.id === id);
const attempts = (userId: string) => withDb(async (db) => (await db.select().from(provisionAttempts).where(eq(provisionAttempts.userId, userId))).length);
const couldNotStart = async (email: string) => (await inbox(email)).filter((m) => m.subject === "Your agent could not start yet").length;

/** Time passes: the job's retry is due now, and the object's alarm runs it (once the run in flight is over). */
async function retryNow(userId: string, jobId: string) {
  const before = (await job(userId, jobId))!;
  await runInDurableObject(account(userId), (_o, state) => state.storage.sql.exec("UPDATE jobs SET next_at = ? WHERE id = ?", Date.now(), jobId));
  await runDurableObjectAlarm(account(userId));
  return poll(
    () => job(userId, jobId),
    (j) => j!.attempts > before.attempts && (j!.lastError !== null || j!.doneAt !== null),
    { timeoutMs: 2000 },
  );
}

/** The job's attempt `n` has finished (the attempt is written before it runs, its outcome after). */
const settled = (userId: string, jobId: string, n: number) =>
  poll(
    () => job(userId, jobId),
    (j) => j?.attempts === n && (j.lastError !== null || j.doneAt !== null),
  );

const real = jobRunner()!;
afterEach(() => registerJobRunner(real));

/** The real runner, except that jobs whose id ends with `suffix` throw while `failures` lasts. */
function failing(suffix: string, failures: number): JobRunner {
  return async (e, j) => {
    if (j.id.endsWith(suffix) && failures-- > 0) throw new Error("simulated crash in the follow-up");
    return real(e, j);
  };
}

describe("Stripe follow-ups run after the 200, durably", () => {
  it("a follow-up that crashes after the event is recorded is retried by the alarm and happens exactly once; a redelivery runs nothing twice", async () => {
    expect(real).toBeTypeOf("function"); // the Worker registered its runner
    const u = await paidCheckout();
    const checkout = u.events.find((e) => e.type === "checkout.session.completed")!;
    const startJob = `${checkout.id}:start_agent`;
    registerJobRunner(failing(":start_agent", 1));

    const res = await deliver(checkout);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ received: true, duplicate: false });
    // The first run (on the alarm, after the answer) crashed: recorded, nothing started, a retry scheduled.
    const crashed = await settled(u.userId, startJob, 1);
    expect(crashed).toMatchObject({ attempts: 1, lastError: "simulated crash in the follow-up", doneAt: null, failedAt: null });
    expect(crashed!.nextAt!).toBeGreaterThan(Date.now());
    expect(await attempts(u.userId)).toBe(0);
    // The other step of the same event was not held up by it.
    expect(
      await poll(
        () => job(u.userId, `${checkout.id}:apply_plan`),
        (j) => j?.doneAt !== null,
      ),
    ).toMatchObject({ attempts: 1 });

    const done = await retryNow(u.userId, startJob);
    expect(done).toMatchObject({ attempts: 2, lastError: null });
    // Provisioning ran once (no node is connected here, so it failed at placement and the user was told once).
    expect(await attempts(u.userId)).toBe(1);
    expect(
      await poll(
        () => couldNotStart(u.email),
        (n) => n === 1,
      ),
    ).toBe(1);
    expect((await account(u.userId).getSnapshot()).status).toBe("failed");

    // Positive control for "once": the same event again is a duplicate and runs no job a second time.
    const again = await deliver(checkout);
    expect(again.body).toMatchObject({ received: true, duplicate: true });
    await runDurableObjectAlarm(account(u.userId));
    expect(await job(u.userId, startJob)).toMatchObject({ attempts: 2 });
    expect(await attempts(u.userId)).toBe(1);
    expect(await couldNotStart(u.email)).toBe(1);
  });

  it("a crash between recording the event and releasing its jobs is repaired by Stripe's retry, which releases them", async () => {
    const u = await paidCheckout();
    const invoice = u.events.find((e) => e.type === "invoice.paid")!;
    // The Worker dies right after the transaction: the release never reaches the object.
    // (RPC calls methods of the class, so the next call is made to fail there, once.)
    await runInDurableObject(account(u.userId), (instance: object) => {
      const proto = Object.getPrototypeOf(instance) as { releaseJobs: (...a: unknown[]) => Promise<number> };
      const release = proto.releaseJobs;
      proto.releaseJobs = async function () {
        proto.releaseJobs = release;
        throw new Error("simulated crash before the release");
      };
    });
    const crashed = await deliver(invoice);
    expect(crashed.status).toBe(500); // Stripe will retry it
    const held = await account(u.userId).listJobs(invoice.id);
    expect(held.map((j) => [j.id, j.attempts, j.nextAt])).toEqual([
      [`${invoice.id}:receipt`, 0, null],
      [`${invoice.id}:apply_plan`, 0, null],
    ]);
    // Stripe's retry finds the event recorded (a duplicate) and releases the held jobs; each runs once.
    const retried = await deliver(invoice);
    expect(retried.body).toMatchObject({ received: true, duplicate: true });
    for (const j of held)
      expect(
        await poll(
          () => job(u.userId, j.id),
          (x) => x?.doneAt != null,
        ),
      ).toMatchObject({ attempts: 1 });
    expect((await inbox(u.email)).filter((m) => m.subject.startsWith("Receipt: Starter plan")).length).toBe(1);
  });

  it("a follow-up that keeps failing is given up after the last attempt: a line on the activity feed, its error in the operators' console", async () => {
    const u = await paidCheckout();
    const invoice = u.events.find((e) => e.type === "invoice.paid")!;
    const receiptJob = `${invoice.id}:receipt`;
    registerJobRunner(failing(":receipt", Infinity));
    expect((await deliver(invoice)).status).toBe(200);
    await settled(u.userId, receiptJob, 1);
    for (let i = 2; i <= MAX_JOB_ATTEMPTS; i++) await retryNow(u.userId, receiptJob);
    const gaveUp = await job(u.userId, receiptJob);
    expect(gaveUp).toMatchObject({ attempts: MAX_JOB_ATTEMPTS, doneAt: null, lastError: "simulated crash in the follow-up" });
    expect(gaveUp!.failedAt).not.toBeNull();
    // Given up means no more runs.
    await runInDurableObject(account(u.userId), (_o, state) => state.storage.sql.exec("UPDATE jobs SET next_at = ? WHERE id = ?", Date.now(), receiptJob));
    await runDurableObjectAlarm(account(u.userId));
    expect((await job(u.userId, receiptJob))!.attempts).toBe(MAX_JOB_ATTEMPTS);
    const feed = (await account(u.userId).listActivity(20)).map((a) => a.message).join("\n");
    expect(feed).toContain(`A follow-up of a payment (stripe:receipt) failed ${MAX_JOB_ATTEMPTS} times and was given up`);
    expect(feed).not.toContain("simulated crash"); // the error is the operators' to read (below), not the user's
    // The operators see it too: giving up added a job of its own that reports it to the console at /admin.
    const admin = await operator();
    await runDurableObjectAlarm(account(u.userId));
    const listed = await poll(
      async () => (await call("/api/admin/overview", { cookie: admin })).body.failedJobs as { jobId: string; userId: string }[],
      (l) => l.some((j) => j.jobId === receiptJob),
    );
    expect(listed.find((j) => j.jobId === receiptJob)).toMatchObject({
      userId: u.userId,
      email: u.email,
      kind: "stripe:receipt",
      attempts: MAX_JOB_ATTEMPTS,
      error: "simulated crash in the follow-up",
    });
    // Only the job that was given up (the same event's plan markup succeeded), listed once.
    expect(listed.filter((j) => j.userId === u.userId).map((j) => j.jobId)).toEqual([receiptJob]);
    expect((await job(u.userId, `${receiptJob}:gave_up`))!.doneAt).not.toBeNull();
    // A user is not shown the operators' report on the feed; a member of the public never sees the console.
    expect((await account(u.userId).listActivity(50)).filter((a) => a.message.includes("ops:"))).toEqual([]);
    expect((await call("/api/admin/overview", { cookie: u.cookie })).status).toBe(403);
    // The event itself stands: the month's tokens were credited before the answer.
    expect((await account(u.userId).getBalance()).balance).toBeGreaterThan(0);
  });
});
