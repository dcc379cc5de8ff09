import type { Actions } from "@sveltejs/kit";
import { action, api } from "$lib/server/api";
import { loadAll } from "$lib/server/load";
import type { AgentState, BillingOverview, Message } from "$lib/types";
import type { PageServerLoad } from "./$types";

export const load = (async (event) => {
  const { agent, billing, messages } = await loadAll({
    agent: api<AgentState>(event, "/agent/status"),
    billing: api<BillingOverview>(event, "/billing"),
    messages: api<{ messages: Message[] }>(event, "/agent/messages?limit=10"),
  });
  return {
    status: agent.status,
    activity: agent.activity,
    plan: billing.subscription?.planName ?? null,
    balance: billing.balance,
    messages: messages.messages,
  };
}) satisfies PageServerLoad;

export const actions = {
  provision: action(async (event) => void (await api(event, "/agent/provision", { method: "POST" }))),
  sleep: action(async (event) => void (await api(event, "/agent/sleep", { method: "POST" }))),
  send: action(async (event, f) => void (await api(event, "/agent/messages", { body: { text: f.text ?? "" } }))),
} satisfies Actions;
