import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call } from "./helpers";
import { anthropic, chatBody, openai, proxyUser } from "./proxy-helpers";
import { poll } from "../../test-harness/poll";

const raw = (body: BodyInit, headers: Record<string, string>, path = "/v1/chat/completions") =>
  exports.default.fetch(new Request(`http://localhost${path}`, { method: "POST", headers, body }));

describe("proxy bad input: provider-shaped errors, no reservation leaks", () => {
  it("unknown model → 404 the SDK recognises", async () => {
    const u = await proxyUser();
    const err = await openai(u.key)
      .chat.completions.create({ model: "gpt-99", messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.message).toContain('Unknown model "gpt-99"');
    const aerr = await anthropic(u.key)
      .messages.create({ model: "claude-0", max_tokens: 5, messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(aerr).toBeInstanceOf(Anthropic.NotFoundError);
    expect((await u.account.getBalance()).reserved).toBe(0);
  });

  it("malformed body, wrong content type and oversize body", async () => {
    const u = await proxyUser();
    const auth = { authorization: `Bearer ${u.key}` };
    const bad = await raw("{not json", { ...auth, "content-type": "application/json" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { type: "invalid_request_error", message: "The request body is not valid JSON." } });
    const noMessages = await raw(JSON.stringify({ model: "gpt-4.1-nano" }), { ...auth, "content-type": "application/json" });
    expect(((await noMessages.json()) as { error: { message: string } }).error.message).toContain("`messages`");
    const form = await raw("a=b", { ...auth, "content-type": "application/x-www-form-urlencoded" });
    expect(form.status).toBe(400);
    const huge = await raw(JSON.stringify(chatBody("x".repeat(9 * 1024 * 1024))), { ...auth, "content-type": "application/json" });
    expect(huge.status).toBe(413);
    expect((await u.account.getBalance()).reserved).toBe(0);
  });

  it("missing, forged and revoked keys → 401 AuthenticationError", async () => {
    const u = await proxyUser();
    const missing = await raw(JSON.stringify(chatBody("x")), { "content-type": "application/json" });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: { type: "invalid_request_error", code: "invalid_api_key" } });
    const forged = u.key.slice(0, -6) + "AAAAAA";
    expect(
      await openai(forged)
        .chat.completions.create(chatBody("x") as never)
        .catch((e) => e),
    ).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(
      await anthropic(forged)
        .messages.create({ model: "claude-haiku-4-5", max_tokens: 5, messages: [{ role: "user", content: "x" }] })
        .catch((e) => e),
    ).toBeInstanceOf(Anthropic.AuthenticationError);
    // Rotating the key revokes the old one at once.
    const rotated = await call("/api/agent/proxy-key", { method: "POST", cookie: u.cookie });
    expect(
      await openai(u.key)
        .chat.completions.create(chatBody("x") as never)
        .catch((e) => e),
    ).toBeInstanceOf(OpenAI.AuthenticationError);
    const ok = await openai(rotated.body.key).chat.completions.create(chatBody("x") as never);
    expect(ok.choices).toHaveLength(1);
  });

  it("a suspended user's key → 403", async () => {
    const u = await proxyUser();
    await u.account.setSuspended(true, "chargeback");
    const err = await openai(u.key)
      .chat.completions.create(chatBody("x") as never)
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.message).toContain("suspended");
  });

  it("upstream timeout → 504, and the hold is released", async () => {
    const u = await proxyUser();
    const res = await raw(JSON.stringify(chatBody("[[delay:8000]] slow")), { authorization: `Bearer ${u.key}`, "content-type": "application/json" });
    expect(res.status).toBe(504);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe("timeout");
    const after = await poll(
      () => u.account.getBalance(),
      (b) => b.reserved === 0,
    );
    expect(after).toMatchObject({ reserved: 0, balance: 1_000_000 });
  }, 20_000);

  it("upstream 4xx is passed through and nothing is charged", async () => {
    const u = await proxyUser();
    const err = await openai(u.key)
      .chat.completions.create(chatBody("[[fail:500]]") as never)
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.status).toBe(502);
    expect(
      await poll(
        () => u.account.getBalance(),
        (b) => b.reserved === 0,
      ),
    ).toMatchObject({ reserved: 0, balance: 1_000_000 });
  });
});
