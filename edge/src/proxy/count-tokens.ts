import { liveCatalog } from "./catalog-store";
import { isClientFault, proxyError, type Fail } from "./errors";
import { callUpstream } from "./forward";
import { intake } from "./handler";
import { apiOf, policeRequest, type CountEndpoint } from "./request-policy";
import { userAgent } from "../clients/user-agent";

/**
 * Token counting (Anthropic `POST /v1/messages/count_tokens`, OpenAI `POST /v1/responses/input_tokens`):
 * free at the providers, so free here, with no reservation. It still needs a valid key (it reaches the
 * platform's provider account) and the same allow-list as a model call, so it cannot be used to reach
 * stored responses or files either. Its intake (key, JSON body within the size limit, model) is the model
 * call's (handler.ts). `auto` is counted on the format's cheapest standard-tier model (the same tokenizer family).
 */
export async function handleTokenCount(request: Request, rawEnv: object, ctx: ExecutionContext, endpoint: CountEndpoint): Promise<Response> {
  const api = apiOf(endpoint);
  const requestId = `req_${crypto.randomUUID().replace(/-/g, "")}`;
  const fail: Fail = (kind, message, code, param) => proxyError(api, kind, message, code, requestId, param);
  const input = await intake(request, rawEnv, fail);
  if (input instanceof Response) return input;
  const { env, key, body } = input;
  const account = userAgent(env, key.userId);
  const checked = await account.checkKey(key.keyHash);
  if (!checked.ok) return fail("invalid_key", "This API key is not valid (it may have been replaced).", "invalid_api_key");

  const policed = policeRequest(endpoint === "count_tokens" ? "count_tokens" : "responses", body);
  if (!policed.ok) return fail("invalid_request", policed.message, "unsupported_parameter", policed.param);
  const forwarded = policed.body;
  if (endpoint === "input_tokens")
    for (const k of [
      "stream",
      "store",
      "stream_options",
      "max_output_tokens",
      "service_tier",
      "metadata",
      "user",
      "safety_identifier",
      "prompt_cache_key",
      "prompt_cache_retention",
      "include",
      "background",
    ])
      delete forwarded[k];
  const view = await liveCatalog(env, (p) => ctx.waitUntil(p));
  const model = body.model === "auto" ? view.candidatesFor(api, "standard")[0] : view.find(body.model as string);
  if (!model || model.api !== api)
    return fail("unknown_model", `Unknown model "${body.model}". GET /v1/models lists the models you can use, or use "auto".`, "model_not_found");
  const r = await callUpstream(env, endpoint, JSON.stringify({ ...forwarded, model: model.id }), request.signal);
  if (r.ok)
    return new Response(r.response.body, {
      status: r.response.status,
      headers: { "content-type": r.response.headers.get("content-type") ?? "application/json", "x-request-id": requestId },
    });
  if (r.timeout) return fail("timeout", "The model provider did not answer in time. Please retry.");
  if (!r.retryable && r.body && isClientFault(r.status))
    return new Response(JSON.stringify(r.body), { status: r.status, headers: { "content-type": "application/json", "x-request-id": requestId } });
  return fail("upstream", "The model provider is unavailable right now. Please retry in a moment.", "upstream_unavailable");
}
