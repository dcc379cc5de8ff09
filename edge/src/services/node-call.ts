import { AppError } from "@oc/contracts/errors";
import type { NodeCommand } from "@oc/contracts/rpc";
import type { Services } from "./context";
import { nodeLink } from "../clients/node-link";
import { userAgent } from "../clients/user-agent";

/**
 * Runs one command on the node that holds the user's agent and waits for its answer (File Manager and
 * Memory Manager requests are small and quick). The node's own error message is passed on as the reason.
 */
export async function callNode<T>(s: Services, userId: string, command: NodeCommand, timeoutMs = 10_000): Promise<T> {
  const nodeId = await userAgent(s.env, userId).placement();
  if (!nodeId) throw new AppError("NOT_FOUND", "Your agent has not been created yet.");
  const link = nodeLink(s.env, nodeId);
  const { id, delivered, refused } = await link.sendCommand(command, `${command.kind}:${userId}:${crypto.randomUUID()}`, { onlyIfConnected: true });
  if (refused) throw new AppError("RATE_LIMITED", `Slow down: ${refused}.`);
  if (!delivered) throw new AppError("UPSTREAM_ERROR", "Your agent's server is not reachable right now. Please try again in a minute.");
  const end = Date.now() + timeoutMs;
  for (let wait = 20; Date.now() < end; wait = Math.min(wait * 2, 250)) {
    const r = await link.getCommandResult(id);
    if (r.done) {
      if (!r.ok) throw new AppError("BAD_REQUEST", r.error ?? "The server could not do that.");
      return (r.resultJson ? JSON.parse(r.resultJson) : undefined) as T;
    }
    await new Promise((res) => setTimeout(res, wait));
  }
  throw new AppError("UPSTREAM_ERROR", "Your agent's server did not answer in time. Please try again.");
}
