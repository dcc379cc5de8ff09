import { AppError } from "@oc/contracts/errors";
import type { Services } from "../context";
import { provisionAgent } from "../provisioning";
import { billingMail } from "./mail";

/**
 * A paid subscription starts the user's agent if it is not running yet (first purchase, or a resubscribe
 * after the agent was stopped). A placement failure is mailed to the user; the payment stands.
 */
export async function startAgentAfterPayment(s: Services, user: { id: string; email: string }) {
  const account = s.env.USER_AGENT.getByName(user.id);
  const { status } = await account.init(user.id);
  if (status !== "none" && status !== "failed" && status !== "stopped") return;
  try {
    await provisionAgent(s, user.id, { ip: null, userAgent: "stripe-webhook" });
  } catch (e) {
    const reason = e instanceof AppError ? e.message : "an internal error";
    console.error(`[billing] could not start the agent of ${user.id} after payment: ${reason}`);
    await billingMail.agentFailed(s, user, reason);
  }
}
