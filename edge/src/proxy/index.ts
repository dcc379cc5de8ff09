import { EMBEDDING_MODELS, MODELS } from "./catalog";
import { proxyError } from "./errors";
import { handleProxy } from "./handler";
import type { Endpoint } from "./upstream";

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

export function proxyFetch(request: Request, env: object, ctx: ExecutionContext): Promise<Response> | Response {
  const { pathname } = new URL(request.url);
  const endpoint = POST_ROUTES[pathname];
  if (endpoint && request.method === "POST") return handleProxy(request, env, ctx, endpoint);
  if (pathname === "/v1/models" && request.method === "GET") {
    const data = [{ id: "auto" }, ...MODELS.map((m) => ({ id: m.id })), ...EMBEDDING_MODELS.map((m) => ({ id: m.id }))].map((m) => ({ ...m, object: "model", created: 0, owned_by: "openclaw-cloud" }));
    return Response.json({ object: "list", data });
  }
  const api = pathname === "/v1/messages" ? "anthropic" : "openai";
  return endpoint
    ? proxyError(api, "invalid_request", `Use POST for ${pathname}.`, "method_not_allowed")
    : proxyError(api, "unknown_model", `No such endpoint: ${request.method} ${pathname}.`, "not_found");
}
