import type { Env } from "../../env";
import { buildServices } from "../build";
import { runAutoTopUp } from "./top-up";

/** Background job after a settlement crossed the low-balance threshold (run in waitUntil by the proxy). */
export async function lowBalanceJob(env: Env, userId: string) {
  const { services, finish } = buildServices(env, `low-balance:${userId}`);
  try {
    const r = await runAutoTopUp(services, userId);
    console.log(`[billing] low balance for ${userId}: ${r.charged ? "topped up" : r.reason}`);
  } catch (e) {
    console.error(`[billing] low-balance job for ${userId} failed`, e);
  } finally {
    await finish();
  }
}
