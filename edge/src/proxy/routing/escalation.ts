import type { Api } from "../catalog";

/**
 * Whether a complete (non-stream) answer is detectably bad, so a cheap model's miss is retried once a tier
 * up: no answer at all, a tool call whose arguments are not valid JSON, or the provider's own refusal.
 * Only what is certain from the wire counts; the quality of a well-formed answer is not judged here.
 */
export function badAnswer(api: Api, json: any): string | undefined {
  if (!json || typeof json !== "object") return undefined;
  if (api === "anthropic") {
    if (json.type !== "message") return undefined;
    if (json.stop_reason === "refusal") return "the model refused";
    const blocks: any[] = Array.isArray(json.content) ? json.content : [];
    const tools = blocks.filter((b) => b?.type === "tool_use");
    if (tools.some((b) => !b.input || typeof b.input !== "object" || Array.isArray(b.input))) return "malformed tool call";
    const text = blocks
      .filter((b) => b?.type === "text")
      .map((b) => String(b.text ?? ""))
      .join("");
    if (tools.length === 0 && !text.trim() && json.stop_reason !== "max_tokens") return "empty answer";
    return undefined;
  }
  if (Array.isArray(json.choices)) {
    const c = json.choices[0];
    if (!c) return "empty answer";
    if (c.finish_reason === "content_filter" || (typeof c.message?.refusal === "string" && c.message.refusal)) return "the model refused";
    const calls: any[] = c.message?.tool_calls ?? [];
    if (calls.some((t) => !validJson(t?.function?.arguments))) return "malformed tool call";
    const text = typeof c.message?.content === "string" ? c.message.content : "";
    if (calls.length === 0 && !text.trim() && c.finish_reason !== "length") return "empty answer";
    return undefined;
  }
  if (json.object === "response" && Array.isArray(json.output)) {
    const items: any[] = json.output;
    if (items.some((i) => i?.type === "message" && (i.content ?? []).some((p: any) => p?.type === "refusal"))) return "the model refused";
    const calls = items.filter((i) => i?.type === "function_call");
    if (calls.some((i) => !validJson(i.arguments))) return "malformed tool call";
    const text = items
      .filter((i) => i?.type === "message")
      .flatMap((i) => i.content ?? [])
      .map((p: any) => String(p?.text ?? ""))
      .join("");
    if (calls.length === 0 && !text.trim() && json.status !== "incomplete") return "empty answer";
  }
  return undefined;
}

function validJson(s: unknown): boolean {
  if (typeof s !== "string") return false;
  try {
    const v = JSON.parse(s);
    return !!v && typeof v === "object";
  } catch {
    return false;
  }
}
