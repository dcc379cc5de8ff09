import { loadEnv, type Env } from "../env";
import type { ProxyErrorKind } from "./errors";
import { parseProxyKey, presentedKey } from "./keys";
import type { Endpoint } from "./upstream";

/** Largest request body the proxy accepts (OpenClaw's requests are ~60 KB; long contexts can be MBs). */
export const MAX_PROXY_BODY = 8 * 1024 * 1024;

/** The proxy's error answer in the caller's SDK shape, carrying the call's request id (errors.ts). */
export type Fail = (kind: ProxyErrorKind, message: string, code?: string, param?: string) => Response;

/** A request that passed intake: the configured env, the key's user, and the body as JSON and as bytes. */
export interface Intake {
  env: Env;
  key: { userId: string; keyHash: string };
  /** `model` is a non-empty string. */
  body: Record<string, unknown>;
  bytes: Uint8Array;
}

/**
 * The checks every proxied request passes before anything is looked up, in this order: the service is
 * configured, a well-formed proxy key is presented, the body is a JSON object within the size limit, and it
 * names a model. Model calls (handler.ts) and token counts (count-tokens.ts) share it; any failure is the
 * caller's answer, returned as a Response.
 */
export async function intake(request: Request, rawEnv: object, fail: Fail): Promise<Intake | Response> {
  const { env, problems } = loadEnv(rawEnv);
  if (problems) return fail("internal", "The service is misconfigured; the operators have been told.");
  const key = await parseProxyKey(presentedKey(request.headers));
  if (!key) return fail("invalid_key", "Missing or malformed API key: use the key from your OpenClaw Cloud dashboard.", "invalid_api_key");

  if (!/json/i.test(request.headers.get("content-type") ?? ""))
    return fail("invalid_request", "Send the request body as JSON (Content-Type: application/json).");
  if (Number(request.headers.get("content-length") ?? 0) > MAX_PROXY_BODY) return tooLarge(fail);
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.length > MAX_PROXY_BODY) return tooLarge(fail);
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(utf8.decode(bytes));
    if (!body || typeof body !== "object" || Array.isArray(body)) throw new Error("not an object");
  } catch {
    return fail("invalid_request", "The request body is not valid JSON.");
  }
  if (typeof body.model !== "string" || !body.model) return fail("invalid_request", '`model` is required (use "auto" to let the smart router choose).');
  return { env, key, body, bytes };
}

/** What a model call's body must carry besides its model (the endpoint's required fields). */
export function missingField(endpoint: Endpoint, body: Record<string, unknown>): string | undefined {
  if ((endpoint === "chat" || endpoint === "messages") && (!Array.isArray(body.messages) || body.messages.length === 0))
    return "`messages` must be a non-empty array.";
  if ((endpoint === "responses" || endpoint === "embeddings") && body.input === undefined) return "`input` is required.";
  return undefined;
}

const utf8 = new TextDecoder();
const tooLarge = (fail: Fail) => fail("too_large", `The request body is over ${MAX_PROXY_BODY / 1024 / 1024} MiB.`);
