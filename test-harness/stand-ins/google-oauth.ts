import { createHash } from "node:crypto";
import { serve } from "./http.ts";

/**
 * A local stand-in for Google's OAuth 2.0 endpoints: /authorize redirects back with a code, /token checks
 * client credentials and the PKCE verifier, /userinfo answers for the access token. Which Google account
 * "signs in" is chosen by the test through a `test_profile` query parameter (base64url JSON).
 */
export async function startGoogleStandIn(port: number, clientId: string, clientSecret: string) {
  const codes = new Map<string, { profile: unknown; challenge: string; redirectUri: string }>();
  const tokens = new Map<string, unknown>();
  return serve(port, (req, body, url) => {
    if (url.pathname === "/authorize") {
      const q = url.searchParams;
      if (q.get("client_id") !== clientId || q.get("code_challenge_method") !== "S256") return { status: 400, json: { error: "invalid_request" } };
      const profile = JSON.parse(Buffer.from(q.get("test_profile") ?? "", "base64url").toString() || "{}");
      const code = crypto.randomUUID();
      codes.set(code, { profile, challenge: q.get("code_challenge") ?? "", redirectUri: q.get("redirect_uri") ?? "" });
      const back = new URL(q.get("redirect_uri") ?? "");
      back.searchParams.set("code", code);
      back.searchParams.set("state", q.get("state") ?? "");
      return { status: 302, headers: { location: back.toString() } };
    }
    if (url.pathname === "/token" && req.method === "POST") {
      const form = new URLSearchParams(body);
      const basic = req.headers.authorization?.replace(/^Basic /, "");
      const [id, secret] = basic ? Buffer.from(basic, "base64").toString().split(":") : [form.get("client_id"), form.get("client_secret")];
      if (id !== clientId || secret !== clientSecret) return { status: 401, json: { error: "invalid_client" } };
      const entry = codes.get(form.get("code") ?? "");
      codes.delete(form.get("code") ?? "");
      const verifier = form.get("code_verifier") ?? "";
      if (!entry || createHash("sha256").update(verifier).digest("base64url") !== entry.challenge || form.get("redirect_uri") !== entry.redirectUri)
        return { status: 400, json: { error: "invalid_grant" } };
      const accessToken = crypto.randomUUID();
      tokens.set(accessToken, entry.profile);
      return { status: 200, json: { access_token: accessToken, token_type: "Bearer", expires_in: 3600 } };
    }
    if (url.pathname === "/userinfo") {
      const profile = tokens.get(req.headers.authorization?.replace(/^Bearer /, "") ?? "");
      return profile ? { status: 200, json: profile } : { status: 401, json: { error: "invalid_token" } };
    }
    return { status: 404, json: { error: "not_found" } };
  });
}
