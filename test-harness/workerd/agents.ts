import { env } from "cloudflare:workers";

/**
 * A user's agent as the Durable Objects see it once it runs: placed on `nodeId` and "ready". The node has no
 * socket in these tests, so what the agent is sent (messages, forwards, pause/wake) is queued on its
 * NodeLink, where the test reads it (`sentCommands()`). `sealedSpec` (the SecretBox-sealed agent spec) lets a
 * sleeping agent be woken with it.
 */
export async function readyAgent(
  userId: string,
  nodeId = `node_t_${crypto.randomUUID().slice(0, 8)}`,
  opts: { sealedSpec?: string; idleMinutes?: [number, number?] } = {},
) {
  const account = env.USER_AGENT.getByName(userId);
  await account.init(userId);
  await account.setPlacement(nodeId);
  if (opts.sealedSpec) await account.setAgentSpec(opts.sealedSpec);
  if (opts.idleMinutes) await account.setIdleTimeout(...opts.idleMinutes);
  await account.setStatus("ready");
  return { account, nodeId };
}

/** The commands `nodeId`'s NodeLink was asked to send, oldest first. */
export const commandsOn = async (nodeId: string) =>
  (await env.NODE_LINK.getByName(nodeId).sentCommands()).map((c) => ({ id: c.id, command: c.command as any }));
