import { authorise } from "./authorise";
import { proxyError, type ProxyErrorKind } from "./errors";
import { forward, sameFormat, type ClientRequest } from "./forward";
import { intake, missingField, type Fail } from "./intake";
import { policeRequest } from "./request-policy";
import { streamAnswer, upstreamFailed, wholeAnswer } from "./respond";
import { settler, type Answered } from "./settle";
import { apiOf, type Endpoint } from "./upstream";

export { MAX_PROXY_BODY } from "./intake";
export { DRAIN_BYTES, DRAIN_MS } from "./respond";

/**
 * One metered model call: authenticate by proxy key, route, reserve the maximum price in the user's
 * Durable Object, forward the client's own request (falling back on 5xx/429), stream the answer back
 * untouched while reading its usage, then settle the actual price exactly once, even when the client
 * or the upstream stops half way, and write the usage record after the response.
 */
export async function handleProxy(request: Request, rawEnv: object, ctx: ExecutionContext, endpoint: Endpoint): Promise<Response> {
  const started = Date.now();
  const api = apiOf(endpoint);
  const requestId = `req_${crypto.randomUUID().replace(/-/g, "")}`;
  const fail: Fail = (kind: ProxyErrorKind, message: string, code?: string, param?: string) => proxyError(api, kind, message, code, requestId, param);

  // 1. Intake: key, JSON body, model; then the endpoint's fields and the allow-list (only what the hold can price is forwarded).
  const input = await intake(request, rawEnv, fail);
  if (input instanceof Response) return input;
  const { env, key, body, bytes } = input;
  const missing = missingField(endpoint, body);
  if (missing) return fail("invalid_request", missing);
  const policed = policeRequest(endpoint, body);
  if (!policed.ok) return fail("invalid_request", policed.message, "unsupported_parameter", policed.param);
  const { facts } = policed;

  // 2. Route and reserve in the user's Durable Object.
  const authorised = await authorise(request, ctx, env, endpoint, api, input, facts, fail);
  if (authorised instanceof Response) return authorised;

  // 3. Forward, falling back to the next candidate on 5xx/429/timeouts.
  const stream = body.stream === true && endpoint !== "embeddings";
  const tUp = performance.now();
  const abort = new AbortController();
  const req: ClientRequest = { body, policedBody: policed.body, changed: policed.changed, bytes, maxOut: facts.maxOutput, stream };
  let forwarded;
  try {
    forwarded = await forward(env, endpoint, api, authorised.decision, req, authorised.maxWholesale, abort.signal);
  } catch (e) {
    authorised.settledDone();
    throw e;
  }

  // 4. Settle exactly once with what the answer used.
  const answered: Answered = { used: forwarded.used, routed: authorised.decision };
  const settle = settler(ctx, env, key.userId, authorised, facts, bytes.length, started, answered);
  const { upstream, used } = forwarded;
  if (!upstream || !used) return upstreamFailed(ctx, settle, forwarded, requestId, fail);

  // 5. Respond: the whole answer, or the stream passed through.
  const headers = new Headers({
    "content-type": upstream.headers.get("content-type") ?? "application/json",
    "x-request-id": requestId,
    "x-oc-model": used.id,
    "x-oc-tier": authorised.decision.tier,
    // Where the time went (workerd only advances its clock across I/O, which is what these measure).
    "server-timing": `auth;dur=${authorised.authMs.toFixed(1)}, upstream;dur=${(performance.now() - tUp).toFixed(1)}`,
  });
  const estimatedInput = Math.ceil(bytes.length / 4);
  if (stream) return streamAnswer(upstream, used, api, headers, estimatedInput, settle, abort);
  const retryBody = () => sameFormat(req, authorised.decision.escalation!, endpoint);
  return wholeAnswer(ctx, env, endpoint, api, upstream, answered, retryBody, facts, headers, estimatedInput, settle, fail, abort.signal);
}
