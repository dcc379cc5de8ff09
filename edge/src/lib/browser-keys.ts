import { randomToken, sha256Hex } from "@oc/contracts/crypto";

/**
 * The agent's browser key, `ocb_<userId>_<secret>`: issued with each proxy key (and replaced with it), it opens
 * only the agent's own remote browser through the CDP relay. It has no spending rights: the /v1 proxy takes
 * only `ocx_` keys, and the relay only this one, so a browser key that leaks (it sits in the CDP URL of the
 * agent's config) spends nothing, and the proxy key never drives the browser.
 */
export function newBrowserKey(userId: string): string {
  return `ocb_${userId}_${randomToken(24)}`;
}

export async function parseBrowserKey(key: string | undefined): Promise<{ userId: string; keyHash: string } | undefined> {
  const m = key?.match(/^ocb_(usr_[a-z2-7]{24})_[\w-]{20,200}$/);
  if (!m) return undefined;
  return { userId: m[1]!, keyHash: await sha256Hex(key!) };
}

/**
 * The key as a CDP client sends it: `Authorization: Basic` (OpenClaw turns the user:password part of its CDP
 * URL into this header and strips it from the URL it requests) or `Authorization: Bearer`. Never a query
 * parameter: URLs end up in access logs.
 */
export function presentedBrowserKey(headers: Headers): string | undefined {
  const auth = headers.get("authorization") ?? "";
  const bearer = auth.match(/^Bearer\s+(\S+)$/i)?.[1];
  if (bearer) return bearer;
  const basic = auth.match(/^Basic\s+([A-Za-z0-9+/=]+)$/i)?.[1];
  if (!basic) return undefined;
  try {
    const decoded = atob(basic);
    return decoded.slice(decoded.indexOf(":") + 1) || undefined;
  } catch {
    return undefined;
  }
}
