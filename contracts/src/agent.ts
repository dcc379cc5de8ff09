/** The user's agent as the edge, its Durable Object and the dashboard see it. */

/** The agent's life as the dashboard shows it: provisioning steps first, then ready / paused / sleeping. */
export type AgentStatus = "none" | "queued" | "placing" | "creating" | "starting" | "ready" | "paused" | "sleeping" | "stopped" | "failed";

export interface AgentSnapshot {
  userId: string | null;
  status: AgentStatus;
  lastActivityAt: number | null;
  activityCount: number;
}

export interface ActivityEvent {
  id: number;
  at: number;
  kind: string;
  message: string;
}

export interface InboxMessage {
  id: number;
  at: number;
  session: string;
  text: string;
  reply: string | null;
  error: string | null;
  state: "queued" | "sent" | "answered" | "failed";
}

/** Where a bridged channel's reply goes (the platform sends it with the channel's own API). */
export interface ReplyTarget {
  channel: "whatsapp" | "discord";
  /** WhatsApp phone number, Discord interaction token. */
  to: string;
}

/** A raw update for the container's channel listener (port and path inside the container). */
export interface ForwardTarget {
  port: number;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** What a chat platform delivered, for `deliverOnce`: a message for the agent, or a raw update for its listener. */
export type ChannelDelivery =
  { kind: "message"; text: string; session: string; replyTo?: ReplyTarget } | { kind: "forward"; channel: string; target: ForwardTarget };

/** One state archive in S3, as recorded when its upload was begun by the node the agent was placed on. */
export interface ArchiveRecord {
  key: string;
  sha256: string;
  bytes: number;
  nodeId: string;
  at?: number;
}

/**
 * What a node reported about a user's agent, as its NodeLink relays it: facts only. Which status a fact
 * means is decided by the user's object (durable-objects/src/lifecycle.ts), the status's one owner.
 */
export type NodeFact =
  /** A provisioning or wake step the node has reached (its progress frame). */
  | { kind: "progress"; step: "creating" | "starting" | "ready" }
  /** A lifecycle command's result (deliveries have their own path: onDelivered). */
  | { kind: "result"; command: string; ok: boolean; error?: string; restarted?: boolean; nextCronAt?: number | null }
  /** After a reconnect the node did not report the container the platform expects running (or reported it `state`). */
  | { kind: "container_missing"; state?: string };

/**
 * Everything the edge decided for one provisioning, handed to the user's object in one call: either the
 * placement failed (`failed` says why, for the activity feed), or the node, the keys' hashes, the sealed keys
 * and spec, and the node command to send.
 */
export type ProvisionPlan<Spec = unknown> =
  | { userId: string; failed: string }
  | {
      userId: string;
      agentId: string;
      nodeId: string;
      proxyKeyHash: string;
      browserKeyHash: string;
      /** The proxy and browser keys, sealed by the edge (`keys:<userId>`), for re-applying the config later. */
      keysSealed: string;
      /** The spec, sealed by the edge (`spec:<userId>`): the object wakes the agent with it. */
      specSealed: string;
      command: { kind: "provision"; spec: Spec };
      commandId: string;
    };

/** A follow-up job as its caller writes it (durable-objects/src/jobs.ts). */
export interface JobInput {
  /** Unique per event and step, e.g. `evt_123:start_agent`: the job's idempotency key. */
  id: string;
  kind: string;
  /** Plain JSON. */
  payload: Record<string, unknown>;
}

/** A job as the object reports it (payload as its JSON). */
export interface JobView {
  id: string;
  group: string;
  kind: string;
  payload: string;
  attempts: number;
  lastError: string | null;
  nextAt: number | null;
  doneAt: number | null;
  failedAt: number | null;
}
