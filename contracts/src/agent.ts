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
  | { kind: "message"; text: string; session: string; replyTo?: ReplyTarget }
  | { kind: "forward"; channel: string; target: ForwardTarget };

/** One state archive in S3, as recorded when its upload was begun by the node the agent was placed on. */
export interface ArchiveRecord {
  key: string;
  sha256: string;
  bytes: number;
  nodeId: string;
  at?: number;
}
