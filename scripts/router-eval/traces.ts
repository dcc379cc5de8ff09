// Agent-shaped traces for the router evaluation: conversations shaped like OpenClaw's real requests
// (docs and a recorded "Say hi" call: ~50 KB system prompt, a tool list, the person's message wrapped in a
// channel envelope, heartbeat turns every 30 minutes, tool loops), in both wire formats. Deterministic.
import type { Tier } from "../../edge/src/proxy/catalog";
import { rng, shuffled } from "../router-train/lib";

export type CallKind = "task" | "tool" | "follow-up" | "ack" | "heartbeat";
export interface TraceCall {
  conv: number;
  /** Task number inside the conversation (heartbeats and acks belong to none: -1). */
  task: number;
  kind: CallKind;
  label: Tier;
  at: number;
  /** Whether this call ends the model's work on the task (a final answer rather than a tool call). */
  final: boolean;
  openai: Record<string, unknown>;
  anthropic: Record<string, unknown>;
}

/** OpenClaw's default heartbeat prompt plus the time line it appends (~400 characters). */
export const HEARTBEAT_PROMPT =
  "Read HEARTBEAT.md if it exists (workspace context). Follow it strictly. Do not infer or repeat old tasks from prior chats. If nothing needs attention, reply HEARTBEAT_OK.\n\nCurrent time: 2026-12-01 09:30 UTC (Tuesday). Workspace: /home/node/.openclaw/workspace. You are running a scheduled heartbeat check; the owner is not waiting for a reply unless something needs their attention.";

const SECTIONS = [
  "## Tooling",
  "## Safety",
  "## Skills",
  "## Memory",
  "## Messaging",
  "## Workspace",
  "## Runtime",
  "## Heartbeats",
  "## Group chats",
  "## Formatting",
];
const WORDS =
  "the agent must always use the tool when a file or command is needed and keep replies short in chat channels unless the owner asks for detail never reveal secrets or tokens read AGENTS.md SOUL.md USER.md before acting write memories to memory/YYYY-MM-DD.md prefer exec for shell work browser for the web and message for replies".split(
    " ",
  );

/** A ~49 KB system prompt with OpenClaw's section layout (its content is irrelevant to the router). */
export function systemPrompt(seed = 7): string {
  const r = rng(seed);
  let out = "You are a personal assistant running inside OpenClaw.\n";
  while (out.length < 49_000) {
    out += `\n${SECTIONS[Math.floor(r() * SECTIONS.length)]}\n`;
    for (let i = 0; i < 60; i++) out += WORDS[Math.floor(r() * WORDS.length)] + (i % 14 === 13 ? ".\n" : " ");
  }
  return out.slice(0, 49_000);
}

const TOOL_NAMES = [
  "read",
  "write",
  "edit",
  "exec",
  "process",
  "browser",
  "canvas",
  "nodes",
  "cron",
  "message",
  "gateway",
  "sessions_list",
  "sessions_history",
  "sessions_send",
  "sessions_spawn",
  "session_status",
  "web_search",
  "web_fetch",
  "image",
  "memory_search",
  "memory_get",
  "apply_patch",
  "agents_list",
  "tts",
];
export function tools(n = 24): { name: string; description: string; parameters: Record<string, unknown> }[] {
  return TOOL_NAMES.slice(0, n).map((name, i) => ({
    name,
    description: `${name.replace(/_/g, " ")}: ${WORDS.slice(i % 10, (i % 10) + 25).join(" ")}.`,
    parameters: {
      type: "object",
      properties: { path: { type: "string", description: "Target path or id" }, command: { type: "string" }, timeoutMs: { type: "number" } },
      required: ["path"],
    },
  }));
}

const FOLLOW_UPS = [
  "Can you parallelize it?",
  "Now add tests for it.",
  "Make it shorter.",
  "What about the edge cases?",
  "Can you explain the second step again?",
  "Use TypeScript instead.",
  "Why did you choose that approach?",
  "ok, and the other one?",
];
const ACKS = ["thanks!", "perfect, thank you 🙏", "ok cool", "great 👍", "got it, thanks"];
const TOOL_OUTPUT =
  "import fs from 'node:fs';\nexport function load(path) {\n  const raw = fs.readFileSync(path, 'utf8');\n  return raw.split('\\n').map((l) => l.trim()).filter(Boolean);\n}\n";
const STEPS: Record<Tier, [number, number]> = { simple: [0, 1], standard: [0, 2], complex: [2, 7], reasoning: [0, 2] };

type Turn =
  | { role: "user"; text: string }
  | { role: "assistant"; text: string; call?: { id: string; name: string; args: string } }
  | { role: "tool"; id: string; output: string };

function toOpenAI(system: string, history: Turn[]) {
  return {
    model: "auto",
    stream: true,
    stream_options: { include_usage: true },
    max_completion_tokens: 4096,
    tools: tools().map((t) => ({ type: "function", function: t })),
    tool_choice: "auto",
    messages: [
      { role: "system", content: system },
      ...history.map((t) =>
        t.role === "user"
          ? { role: "user", content: t.text }
          : t.role === "tool"
            ? { role: "tool", tool_call_id: t.id, content: t.output }
            : {
                role: "assistant",
                content: t.text || null,
                ...(t.call ? { tool_calls: [{ id: t.call.id, type: "function", function: { name: t.call.name, arguments: t.call.args } }] } : {}),
              },
      ),
    ],
  };
}

function toAnthropic(system: string, history: Turn[]) {
  const messages: { role: string; content: unknown }[] = [];
  for (const t of history) {
    if (t.role === "user") messages.push({ role: "user", content: [{ type: "text", text: t.text }] });
    else if (t.role === "tool")
      messages.push({ role: "user", content: [{ type: "tool_result", tool_use_id: t.id, content: [{ type: "text", text: t.output }] }] });
    else
      messages.push({
        role: "assistant",
        content: [
          ...(t.text ? [{ type: "text", text: t.text }] : []),
          ...(t.call ? [{ type: "tool_use", id: t.call.id, name: t.call.name, input: JSON.parse(t.call.args) }] : []),
        ],
      });
  }
  return {
    model: "auto",
    stream: true,
    max_tokens: 4096,
    system,
    tools: tools().map((t) => ({ name: t.name, description: t.description, input_schema: t.parameters })),
    messages,
  };
}

/**
 * `conversations` sessions, each a few tasks drawn from `pool` (labelled prompts), with their tool loops,
 * short follow-ups, acknowledgements and heartbeats; a pause of over 30 minutes separates tasks sometimes.
 */
export function generateTraces(pool: { l: Tier; t: string[] }[], conversations = 40, seed = 11): TraceCall[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const system = systemPrompt();
  const byTier = (t: Tier) => pool.filter((p) => p.l === t && p.t.length === 1);
  const tasks = shuffled(
    pool.filter((p) => p.t.length === 1),
    r,
  );
  const calls: TraceCall[] = [];
  let taskCursor = 0;
  for (let conv = 0; conv < conversations; conv++) {
    const history: Turn[] = [];
    let at = 1_800_000_000_000 + conv * 86_400_000;
    let callId = 0;
    const push = (kind: CallKind, label: Tier, task: number, final: boolean) =>
      calls.push({ conv, task, kind, label, at, final, openai: toOpenAI(system, history), anthropic: toAnthropic(system, history) });
    // OpenClaw wraps what the person wrote in a channel envelope and puts runtime context in front of it.
    const say = (text: string) =>
      history.push({
        role: "user",
        text: `<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>\nCurrent time: ${new Date(at).toISOString()}. Channel: telegram (direct). Relevant memory: the owner prefers short answers; project notes in memory/notes.md.\n<<<END_OPENCLAW_INTERNAL_CONTEXT>>>\n[Telegram Sam (@sam) id:42 +${Math.floor(r() * 50)}s ${new Date(at).toISOString().slice(0, 16)} UTC] ${text}`,
      });
    const loop = (label: Tier, task: number, kind: CallKind) => {
      const [lo, hi] = STEPS[label];
      const steps = lo + Math.floor(r() * (hi - lo + 1));
      push(kind, label, task, steps === 0);
      for (let s = 0; s < steps; s++) {
        const id = `call_${conv}_${callId++}`;
        history.push({
          role: "assistant",
          text: s === 0 ? "Let me look." : "",
          call: { id, name: pick(["read", "exec", "edit", "web_search"]), args: JSON.stringify({ path: `src/file${s}.ts`, command: "npm test" }) },
        });
        history.push({ role: "tool", id, output: TOOL_OUTPUT.repeat(1 + Math.floor(r() * 12)) });
        at += 5_000 + Math.floor(r() * 20_000);
        push("tool", label, task, s === steps - 1);
      }
      history.push({ role: "assistant", text: "Done. Here is what I did and what I found, step by step, with the result at the end." });
    };
    const nTasks = 1 + Math.floor(r() * 3);
    for (let task = 0; task < nTasks; task++) {
      const p = r() < 0.25 ? pick(byTier(pick(["simple", "standard", "complex", "reasoning"] as const))) : tasks[taskCursor++ % tasks.length]!;
      say(p.t[0]!);
      loop(p.l, task, "task");
      if (r() < 0.6) {
        at += 30_000 + Math.floor(r() * 90_000);
        say(pick(FOLLOW_UPS));
        loop(p.l, task, "follow-up");
      }
      if (r() < 0.5) {
        at += 20_000 + Math.floor(r() * 60_000);
        say(pick(ACKS));
        push("ack", "simple", -1, true);
        history.push({ role: "assistant", text: "You're welcome!" });
      }
      // Heartbeats run in the same session while the agent is idle.
      const beats = Math.floor(r() * 3);
      for (let b = 0; b < beats; b++) {
        at += 30 * 60_000;
        history.push({ role: "user", text: HEARTBEAT_PROMPT });
        push("heartbeat", "simple", -1, true);
        history.push({ role: "assistant", text: "HEARTBEAT_OK" });
      }
      at += r() < 0.5 ? 45 * 60_000 : 3 * 60_000;
    }
  }
  return calls;
}
