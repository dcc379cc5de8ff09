import type { Env } from "../env";

/** The `NodeLink` Durable Object of one worker node (named by node id): its socket, command queue and placements. */
export function nodeLink(env: Pick<Env, "NODE_LINK">, nodeId: string) {
  return env.NODE_LINK.getByName(nodeId);
}

export type NodeLinkClient = ReturnType<typeof nodeLink>;
