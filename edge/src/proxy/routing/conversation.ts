/**
 * What the router reads of a request: the task, not the last line. A tool result is never a human turn
 * (Anthropic `tool_result` blocks in a user message, OpenAI `role: "tool"` / `function` messages, Responses
 * API `function_call_output` items); the task is the last message a person wrote, and a short follow-up
 * inherits the turn before it.
 */
export type TurnKind =
  /** A person wrote the message being answered. */
  | "human"
  /** The model is being fed tool output in the middle of a task (its tool loop). */
  | "tool"
  /** OpenClaw's heartbeat: "read HEARTBEAT.md … reply HEARTBEAT_OK" — nothing to do unless the file says so. */
  | "heartbeat";

export interface Conversation {
  kind: TurnKind;
  /** The last message a person wrote (for a tool turn: the one that started the task). */
  human: string;
  /** The human message before it, if any (what a short follow-up continues). */
  previousHuman: string | undefined;
  humanTurns: number;
  /** Tool results since the last human message (how deep into its tool loop the task is). */
  toolSteps: number;
  tools: number;
  /** Characters before the newest message: the prefix a provider's prompt cache can hold. */
  prefixChars: number;
  /** Characters of the newest message(s) after that prefix. */
  newChars: number;
  /** Identifies the conversation: system prompt + first human message (hash). */
  key: string;
}

type Msg = { role?: string; type?: string; content?: unknown; output?: unknown };

const HEARTBEAT = /HEARTBEAT(_OK|\.md)/;
/** Channel envelopes and cron markers around what the person (or the schedule) actually said. */
const ENVELOPE = /^\s*(\[[^\]\n]{1,120}\]\s*)+/;

function partText(p: unknown): string {
  if (!p || typeof p !== "object") return typeof p === "string" ? p : "";
  const part = p as { type?: string; text?: unknown };
  if ((part.type === "text" || part.type === "input_text" || part.type === undefined) && typeof part.text === "string") return part.text;
  return "";
}

const isToolPart = (p: unknown) =>
  !!p && typeof p === "object" && ["tool_result", "function_call_output", "tool_use", "function_call"].includes(String((p as { type?: string }).type));

/** The text a person wrote in this message, or undefined when it is tool output / not a person's turn. */
function humanTextOf(m: Msg): string | undefined {
  if (m.type === "function_call_output" || m.type === "function_call") return undefined;
  if (m.role !== "user") return undefined;
  if (typeof m.content === "string") return withoutAgentContext(m.content);
  if (!Array.isArray(m.content)) return undefined;
  // A user message that carries tool results is the tool loop talking, whatever text rides along with it.
  if (m.content.some(isToolPart)) return undefined;
  return withoutAgentContext(m.content.map(partText).join("\n"));
}

/** Characters of every string inside a value (an estimate for the cost model, without serialising it). */
function sizeOf(v: unknown, depth = 0): number {
  if (typeof v === "string") return v.length;
  if (!v || typeof v !== "object" || depth > 6) return typeof v === "number" ? 4 : 0;
  let n = 0;
  if (Array.isArray(v)) for (const x of v) n += sizeOf(x, depth + 1) + 2;
  else for (const k in v as Record<string, unknown>) n += k.length + 4 + sizeOf((v as Record<string, unknown>)[k], depth + 1);
  return n;
}

/** cyrb53: a fast 53-bit string hash (not cryptographic: a collision only merges two conversations' pins). */
export function hash53(s: string, seed = 0): string {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}

/** Strips "[Telegram Alice +2m]"-style envelopes and cron markers from the front of a message. */
export const stripEnvelope = (s: string) => s.replace(ENVELOPE, "");

const CONTEXT_BEGIN = "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>";
const CONTEXT_END = "<<<END_OPENCLAW_INTERNAL_CONTEXT>>>";

/**
 * OpenClaw puts runtime context (time, channel, memory snippets) into user messages between these markers,
 * nested at times, and sometimes sends a user message that is nothing but context: it is the agent talking,
 * not the person, so it is cut out before anything is classified. An unclosed block runs to the end.
 */
export function withoutAgentContext(text: string): string {
  if (!text.includes(CONTEXT_BEGIN)) return text;
  let out = "";
  let depth = 0;
  let i = 0;
  while (i < text.length) {
    const b = text.indexOf(CONTEXT_BEGIN, i);
    const e = depth > 0 ? text.indexOf(CONTEXT_END, i) : -1;
    if (depth === 0) {
      if (b === -1) {
        out += text.slice(i);
        break;
      }
      out += text.slice(i, b);
      depth = 1;
      i = b + CONTEXT_BEGIN.length;
    } else if (e === -1) {
      break;
    } else if (b !== -1 && b < e) {
      depth++;
      i = b + CONTEXT_BEGIN.length;
    } else {
      depth--;
      i = e + CONTEXT_END.length;
      if (depth === 0) out += "\n";
    }
  }
  return out.trim();
}

export function readConversation(body: { messages?: unknown; input?: unknown; system?: unknown; instructions?: unknown; tools?: unknown }): Conversation {
  const raw: Msg[] = Array.isArray(body.messages)
    ? (body.messages as Msg[])
    : Array.isArray(body.input)
      ? (body.input as Msg[])
      : typeof body.input === "string"
        ? [{ role: "user", content: body.input }]
        : [];
  const systemParts: string[] = [];
  if (typeof body.system === "string") systemParts.push(body.system);
  else if (Array.isArray(body.system)) systemParts.push(body.system.map(partText).join("\n"));
  if (typeof body.instructions === "string") systemParts.push(body.instructions);
  const humans: { i: number; text: string }[] = [];
  for (let i = 0; i < raw.length; i++) {
    const m = raw[i]!;
    if (m.role === "system" || m.role === "developer") {
      systemParts.push(typeof m.content === "string" ? m.content : Array.isArray(m.content) ? m.content.map(partText).join("\n") : "");
      continue;
    }
    const t = humanTextOf(m);
    if (t !== undefined && t.trim()) humans.push({ i, text: t });
  }
  // A heartbeat is the scheduler talking, not the person: a follow-up continues the person's last message.
  const people = humans.filter((h, n) => n === humans.length - 1 || !HEARTBEAT.test(h.text));
  const last = raw[raw.length - 1];
  const lastHuman = humans[humans.length - 1];
  const lastIsHuman = !!last && !!lastHuman && lastHuman.i === raw.length - 1;
  const human = lastHuman ? stripEnvelope(lastHuman.text) : "";
  // A heartbeat stays a heartbeat through its own tool calls (reading HEARTBEAT.md is one).
  const kind: TurnKind = HEARTBEAT.test(human) ? "heartbeat" : !lastIsHuman && raw.length > 0 && humans.length > 0 ? "tool" : "human";
  const system = systemParts.join("\n");
  let prefixChars = system.length + sizeOf(body.tools);
  let newChars = 0;
  // The newest message is new; everything before it was sent (and could be cached) on the previous call.
  for (let i = 0; i < raw.length; i++) {
    const n = sizeOf(raw[i]);
    if (i === raw.length - 1) newChars += n;
    else prefixChars += n;
  }
  const first = humans[0]?.text ?? "";
  let toolSteps = 0;
  for (let i = (lastHuman?.i ?? -1) + 1; i < raw.length; i++) {
    const m = raw[i]!;
    if (m.role === "tool" || m.role === "function" || m.type === "function_call_output") toolSteps++;
    else if (m.role === "user" && Array.isArray(m.content))
      toolSteps += m.content.filter((p) => !!p && typeof p === "object" && (p as { type?: string }).type === "tool_result").length;
  }
  return {
    kind: kind === "human" && lastHuman === undefined ? "human" : kind,
    human,
    previousHuman: people.length >= 2 ? stripEnvelope(people[people.length - 2]!.text) : undefined,
    humanTurns: humans.length,
    toolSteps,
    tools: Array.isArray(body.tools) ? body.tools.length : 0,
    prefixChars,
    newChars,
    key: hash53(`${system.slice(0, 4000)}\u0000${first.slice(0, 2000)}`),
  };
}
