/**
 * What the dashboard's pages receive from the API, typed once for the server loads and the pages. Types other
 * runtimes share come from contracts; the rest is the dashboard's own view of the API's answers.
 */
import type { ActivityEvent, AgentStatus, InboxMessage } from "@oc/contracts/agent";

export type { AgentStatus } from "@oc/contracts/agent";
export type { ProtectionSettings } from "@oc/contracts/protection";
export type { Tier } from "@oc/contracts/tiers";

export type Activity = ActivityEvent;
export type Message = InboxMessage;
export type AgentState = { status: AgentStatus; activity: Activity[] };

export type PlanOffer = { id: string; name: string; priceCents: number; ramMb: number; includedMicros: number; features: string[] };
export type PackOffer = { id: string; name: string; priceCents: number };
export type Offers = { plans: PlanOffer[]; packs: PackOffer[] };
export type BillingOverview = {
  subscription: {
    planId: string;
    planName: string;
    status: string;
    currentPeriodEnd: string | null;
    cancelAt: string | null;
    graceUntil: string | null;
  } | null;
  balance: { available: number };
};
export type Invoice = { id: string; number: string | null; amountCents: number; status: string; createdAt: string; url: string | null };

export type BrowserTab = { id: string; title: string; url: string };
export type BrowserState = { offered: boolean; enabled: boolean; sessionEndsAt?: string; tabs: BrowserTab[]; unreachable?: boolean };

export type ChannelKind = "telegram" | "slack" | "whatsapp" | "whatsapp_web" | "discord";
export type Channel = { kind: ChannelKind; connected: boolean; since: string | null; webhookUrl: string | null; wake: string };
/** What connecting a channel answers: the URLs and names to paste into the channel's own console. */
export type ChannelConnected = { requestUrl?: string; callbackUrl?: string; verifyToken?: string; interactionsUrl?: string; bot?: string; next?: string };

export type CronJob = { id: string; name: string; schedule: string; message: string | null; enabled: boolean; nextRunAt: number | null };
export type FileEntry = { name: string; type: "file" | "dir"; bytes: number; modifiedAt: number };
export type Memory = { id: string; content: string; source: string; createdAt: string; score: number | null };
export type Personality = { name: string; tone: string; language: string; instructions: string };
export type Referrals = { link: string; earnedMicros: number; referred: { who: string; joinedAt: string; creditedMicros: number | null }[] };
export type Skill = { name: string; description: string; emoji: string; enabled: boolean };
export type Template = {
  id: string;
  name: string;
  description: string;
  uses: number;
  config: { model?: string; personality?: { name?: string }; disabledSkills?: string[] };
};

export type RouterOption = { id: string; format: string; bestFor: string; inputPer1M: number; outputPer1M: number };
export type RouterReport = {
  month: string;
  totals: { spentMicros: number; strongestMicros: number; savedMicros: number; calls: number };
  strongest: { openai: string; anthropic: string };
  byDay: { day: string; spentMicros: number; strongestMicros: number }[];
  byModel: { model: string; calls: number; spentMicros: number }[];
  byTier: { tier: string; calls: number }[];
  byReason: { reason: string; calls: number; spentMicros: number }[];
};
export type RouterConversation = { key: string; tier: string; model: string; at: number; best: boolean; label: string };

type Sums = { spentMicros: number; inputTokens: number; outputTokens: number; calls: number };
export type UsageSums = Sums;
export type Usage = {
  balance: { available: number };
  totals: { spentMicros: number; calls: number; tokens: number };
  byDay: ({ day: string } & Sums)[];
  byModel: ({ model: string } & Sums)[];
  byTier: ({ tier: string } & Sums)[];
  recent: {
    at: string;
    model: string;
    tier: string | null;
    reason: string | null;
    priceMicros: number;
    inputTokens: number;
    outputTokens: number;
    background: string;
  }[];
};

export type AdminOverview = {
  fleet: {
    utilisation: { committedMb: number; usableMb: number; ratio: number };
    scaleAt: number;
    nodes: {
      id: string;
      status: string;
      connected: boolean;
      committedMb: number;
      heldMb: number;
      measuredMb: number;
      swap: { kind: string; totalMb: number; freeMb: number } | null;
      dozeFallbacks: Record<string, number>;
      ramTotalMb: number;
      agents: { running: number; paused: number; sleeping: number };
    }[];
    orders: { id: string; status: string; providerRef: string | null; nodeId: string | null; error: string | null; createdAt: number }[];
  };
  provisioningFailures: { userId: string; kind: string; error: string; at: number; nodeId: string }[];
  money: {
    tokenRevenueMicros: number;
    upstreamCostMicros: number;
    marginMicros: number;
    calls: number;
    subscriptionMrrCents: number;
    subscriptions: Record<string, number>;
  };
  topSpenders: { userId: string; email: string; spentMicros: number; calls: number }[];
  stoppedLoops: { userId: string | null; at: string; code?: string; message?: string }[];
  failedJobs: { userId: string | null; email: string | null; at: string; jobId: string; kind: string; attempts: number; error: string }[];
};
export type Grant = { userId: string; email: string; note: string | null; createdAt: string };
export type CatalogModel = {
  id: string;
  api: "openai" | "anthropic";
  maxTier: string;
  auto: boolean;
  inputPer1M: number;
  outputPer1M: number;
  cachedPer1M: number;
  cacheWritePer1M: number;
  contextWindow: number;
  maxOutput: number;
  priceSource: string;
  priceDate: string;
};
export type Catalog = { version: number; publishedAt: string; note: string; models: CatalogModel[]; markupBps: Record<string, number> };
export type CatalogVersion = { version: number; createdAt: string; createdBy: string | null; note: string };
