import type {
  ActivityEvent,
  AgentSnapshot,
  AgentStatus,
  ArchiveRecord,
  ChannelDelivery,
  ForwardTarget,
  InboxMessage,
  JobInput,
  JobView,
  NodeFact,
  ProvisionPlan,
  ReplyTarget,
} from "./agent";
import type { NodeStatus } from "./capacity";
import type { FleetDecision, FleetOrder, FleetPolicy, FleetSnapshot } from "./fleet";
import type { AuthorizeRequest, AuthorizeResult, LedgerEntry, RouteConversation, RouteRaise, SettleResult, UsageCall } from "./ledger";
import type { ProtectionSettings } from "./protection";
import type { AgentSpecWire, EdgeFrame } from "./wire";

/**
 * The public RPC surface of the Durable Objects, as their callers (the edge, and the objects calling each
 * other) use it. The classes in durable-objects/ implement these; callers type their namespaces with them
 * (`DurableObjectNamespace<UserAgentRpc & Rpc.DurableObjectBranded>`), so no caller imports a Durable Object
 * class and the objects need not know each other's classes. Plain interfaces (no workers types) so this
 * file stays runtime-neutral.
 */

/** A command the edge sends to a node agent through its NodeLink. */
export type NodeCommand = Extract<EdgeFrame, { type: "command" }>["command"];

/** A command as its NodeLink keeps it: the body while unanswered, only the kind once answered. */
export interface SentCommand {
  id: string;
  done: boolean;
  command: NodeCommand | { kind: NodeCommand["kind"] };
}

/** One user's object (named by user id): ledger, token protection, router pins, the agent's life and inbox. */
export interface UserAgentRpc {
  // proxy key and account state
  setProxyKeyHash(hash: string | null, agentId?: string, browserKeyHash?: string | null, keysSealed?: string): Promise<void>;
  /** The agent's current key pair, sealed by the edge; null if none was kept. */
  agentKeys(): Promise<string | null>;
  checkKey(keyHash: string): Promise<{ ok: boolean; agentId?: string }>;
  checkBrowserKey(keyHash: string): Promise<{ ok: boolean; agentId?: string }>;
  setSuspended(suspended: boolean, reason?: string): Promise<void>;
  setMarkup(markupBps: number): Promise<void>;
  // ledger
  authorize(req: AuthorizeRequest): Promise<AuthorizeResult>;
  settle(reservationId: string, wholesale: number, inbound: string, usage?: UsageCall, raise?: RouteRaise): Promise<SettleResult>;
  routeConversations(): Promise<RouteConversation[]>;
  setConversationBest(key: string, best: boolean): Promise<boolean>;
  pendingUsage(): Promise<number>;
  credit(amount: number, source: string, sourceId: string): Promise<{ applied: boolean; balance: number }>;
  getBalance(): Promise<{ balance: number; reserved: number; available: number }>;
  listLedger(limit?: number): Promise<LedgerEntry[]>;
  takeEvents(): Promise<{ id: number; at: number; kind: string; data: string }[]>;
  // token protection
  getProtection(): Promise<ProtectionSettings>;
  updateProtection(patch: Partial<ProtectionSettings>): Promise<ProtectionSettings>;
  // the agent's life
  init(userId: string): Promise<AgentSnapshot>;
  getSnapshot(): Promise<AgentSnapshot>;
  placement(): Promise<string | null>;
  setPlacement(nodeId: string): Promise<void>;
  beginArchive(record: ArchiveRecord): Promise<void>;
  commitArchive(key: string): Promise<ArchiveRecord | null>;
  archiveState(): Promise<{ pending: ArchiveRecord | null; latest: ArchiveRecord | null }>;
  latestArchive(): Promise<ArchiveRecord | null>;
  setIdleTimeout(minutes: number, deepSleepMinutes?: number): Promise<void>;
  touch(): Promise<void>;
  requestSleep(mode?: "pause" | "deep", byUser?: boolean): Promise<boolean>;
  setAlwaysOn(on: boolean): Promise<void>;
  onSlept(nextCronAt: number | null): Promise<void>;
  sleepFailed(reason: string): Promise<void>;
  relocate(nodeId: string, reason: string): Promise<void>;
  recover(reason: string): Promise<boolean>;
  setAgentSpec(sealed: string): Promise<void>;
  reconfigure(sealed: string): Promise<boolean>;
  setStatus(status: AgentStatus, reason?: string): Promise<AgentSnapshot>;
  /** Provisioning in one call: placement, keys, sealed spec, the node's command. */
  provision(plan: ProvisionPlan<AgentSpecWire>): Promise<{ delivered: boolean }>;
  /** What the agent's node reported, relayed by its NodeLink; the object decides the status. */
  onNodeFact(fact: NodeFact): Promise<void>;
  // follow-up jobs
  enqueueJobs(group: string, jobs: JobInput[]): Promise<void>;
  releaseJobs(group: string): Promise<number>;
  listJobs(group?: string): Promise<JobView[]>;
  // inbox and channels
  sendMessage(text: string, session?: string, replyTo?: ReplyTarget): Promise<{ id: number; state: InboxMessage["state"] }>;
  forwardUpdate(channel: string, target: ForwardTarget): Promise<{ id: number }>;
  deliverOnce(key: string, ttlMs: number, d: ChannelDelivery): Promise<{ duplicate: boolean }>;
  setBridge(sealed: string | null): Promise<void>;
  listMessages(limit?: number, search?: string): Promise<InboxMessage[]>;
  onDelivered(commandId: string, ok: boolean, reply: string | null, error: string | null): Promise<void>;
  erasePersonalData(): Promise<void>;
  // activity feed
  recordActivity(kind: string, message: string): Promise<ActivityEvent>;
  activityAfter(afterId: number, limit?: number): Promise<ActivityEvent[]>;
  listActivity(limit?: number, beforeId?: number): Promise<ActivityEvent[]>;
}

/** One worker node's object (named by node id): the node agent's socket, its commands and what it holds. */
export interface NodeLinkRpc {
  forget(userIds: string[]): Promise<void>;
  placements(): Promise<{ userId: string; expected: string; memoryMb: number }[]>;
  getStatus(): Promise<NodeStatus>;
  sendCommand(command: NodeCommand, id?: string, opts?: { onlyIfConnected?: boolean }): Promise<{ id: string; delivered: boolean; refused?: string }>;
  /** The commands kept (operator tools and tests): bodies of unanswered ones, kinds of answered ones. */
  sentCommands(): Promise<SentCommand[]>;
  getCommandResult(id: string): Promise<{ done: boolean; ok?: boolean; resultJson?: string | null; error?: string | null }>;
}

/** The single fleet scheduler ("fleet"): decides whether to buy a worker node, one call at a time. */
export interface FleetSchedulerRpc {
  evaluate(snap: FleetSnapshot, policy: FleetPolicy): Promise<FleetDecision>;
  orderPlaced(orderId: string, providerRef: string): Promise<void>;
  orderFailed(orderId: string, error: string): Promise<void>;
  orderRegistered(orderId: string, nodeId: string): Promise<void>;
  listOrders(limit?: number): Promise<FleetOrder[]>;
}
