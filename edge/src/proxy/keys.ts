import { randomToken, sha256Hex } from "@oc/contracts/crypto";

/**
 * Proxy keys name their user: `ocx_<userId>_<secret>`. The edge routes the call to that user's Durable
 * Object, which holds the key's SHA-256 and decides; no database lookup sits on the hot path, and a
 * rotated key stops working at the next call.
 */
export function newProxyKey(userId: string): string {
  return `ocx_${userId}_${randomToken(24)}`;
}

/** Recent keys' hashes: an agent presents the same key on every call; hashing it once per isolate is enough. */
const hashes = new Map<string, string>();
const HASHES_KEPT = 2_000;

export async function parseProxyKey(key: string | undefined): Promise<{ userId: string; keyHash: string } | undefined> {
  // The secret is base64url and may itself contain "_", so the user id is matched by its fixed shape.
  const m = key?.match(/^ocx_(usr_[a-z2-7]{24})_[\w-]{20,200}$/);
  if (!m) return undefined;
  let keyHash = hashes.get(key!);
  if (!keyHash) {
    keyHash = await sha256Hex(key!);
    if (hashes.size >= HASHES_KEPT) hashes.delete(hashes.keys().next().value!);
    hashes.set(key!, keyHash);
  }
  return { userId: m[1]!, keyHash };
}

/** OpenAI clients send `Authorization: Bearer`; Anthropic clients `x-api-key` (either is accepted). */
export function presentedKey(headers: Headers): string | undefined {
  return headers.get("x-api-key") ?? headers.get("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? undefined;
}
