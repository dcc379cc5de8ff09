export { UserAgent } from "./user-agent";
export type { ActivityEvent, AgentSnapshot, ArchiveRecord, AgentStatus, InboxMessage, AuthorizeRequest, AuthorizeResult, SettleResult } from "./user-agent";
export type { ProtectionSettings, CallFacts } from "./protection";
export type { UsageRow } from "./usage-outbox";
export { NodeLink, HEARTBEAT_MS } from "./node-link";
export type { NodeCommand, NodeStatus } from "./node-link";
export { FleetScheduler } from "./fleet-scheduler";
export type { FleetDecision, FleetOrder, FleetPolicy, FleetSnapshot } from "./fleet-scheduler";
