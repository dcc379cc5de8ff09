import { EMBEDDING_MODELS, MODELS } from "./catalog";
import { handleTokenCount } from "./count-tokens";
import { proxyError } from "./errors";
import { handleProxy } from "./handler";
import type { CountEndpoint, Endpoint } from "./request-policy";

/**
 * The OpenAI- and Anthropic-compatible surface under /v1. A plain table rather than a router: this is the
 * hot path, and errors here must be provider-shaped, not the dashboard API's envelope.
 */
const POST_ROUTES: Record<string, Endpoint> = {
  "/v1/chat/completions": "chat",
  "/v1/responses": "responses",
  "/v1/embeddings": "embeddings",
  "/v1/messages": "messages",
};
const COUNT_ROUTES: Record<string, CountEndpoint> = {
  "/v1/messages/count_tokens": "count_tokens",
  "/v1/responses/input_tokens": "input_tokens",
};

const modelIds = () => ["auto", ...MODELS.map((m) => m.id), ...EMBEDDING_MODELS.map((m) => m.id)];

/** The SDKs list models in their own shapes: Anthropic's clients send `anthropic-version`. */
function modelObject(id: string, anthropic: boolean) {
  return anthropic
    ? { type: "model", id, display_name: id, created_at: "1970-01-01T00:00:00Z" }
    : { id, object: "model", created: 0, owned_by: "openclaw-cloud" };
}

export function proxyFetch(request: Request, env: object, ctx: ExecutionContext): Promise<Response> | Response {
  const { pathname } = new URL(request.url);
  const endpoint = POST_ROUTES[pathname];
  if (endpoint && request.method === "POST") return handleProxy(request, env, ctx, endpoint);
  const count = COUNT_ROUTES[pathname];
  if (count && request.method === "POST") return handleTokenCount(request, env, ctx, count);
  const anthropic = request.headers.has("anthropic-version");
  if (pathname === "/v1/models" && request.method === "GET") {
    const data = modelIds().map((id) => modelObject(id, anthropic));
    return Response.json(anthropic ? { data, has_more: false, first_id: data[0]!.id, last_id: data.at(-1)!.id } : { object: "list", data });
  }
  const one = pathname.match(/^\/v1\/models\/([^/]+)$/);
  if (one && request.method === "GET") {
    const id = decodeURIComponent(one[1]!);
    if (modelIds().includes(id)) return Response.json(modelObject(id, anthropic));
    return proxyError(anthropic ? "anthropic" : "openai", "unknown_model", `Unknown model "${id}".`, "model_not_found");
  }
  const api = pathname.startsWith("/v1/messages") ? "anthropic" : "openai";
  return endpoint || count
    ? proxyError(api, "invalid_request", `Use POST for ${pathname}.`, "method_not_allowed")
    : proxyError(api, "unknown_model", `No such endpoint: ${request.method} ${pathname}.`, "not_found");
}
