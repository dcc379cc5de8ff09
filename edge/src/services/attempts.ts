import { AppError } from "@oc/contracts/errors";
import type { Services } from "./context";

/**
 * The per-account bound on auth attempts, next to the per-IP one (middleware/rate-limit.ts), through the same
 * Rate Limiting binding keyed by account (normalized email or user id): guesses spread over many addresses
 * still hit it. Throws RATE_LIMITED once `account` used up this bucket's attempts for the minute.
 */
export async function limitAccount(s: Services, bucket: string, account: string) {
  const { success } = await s.env.AUTH_LIMITER.limit({ key: `${bucket}:account:${account}` });
  if (!success) throw new AppError("RATE_LIMITED", "Too many attempts for this account. Wait a minute and try again.");
}
