import type { Env } from "../env";

/**
 * The user's `UserAgent` Durable Object (named by user id), typed: the one place the edge resolves it, so a
 * call site reads as the operation it asks for and never spells a binding or a naming rule.
 */
export function userAgent(env: Pick<Env, "USER_AGENT">, userId: string) {
  return env.USER_AGENT.getByName(userId);
}

export type UserAgentClient = ReturnType<typeof userAgent>;
