export { UserAgent } from "./user-agent";
export type { ActivityEvent, AgentSnapshot, AgentStatus } from "./user-agent";
export { NodeLink, HEARTBEAT_MS } from "./node-link";
export type { NodeCommand, NodeStatus } from "./node-link";
