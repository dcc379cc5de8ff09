import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, signup } from "./helpers";
import { chatBody, debits, openai, proxyUser } from "./proxy-helpers";
import { poll } from "../../test-harness/poll";

/** The APIs behind the dashboard pages: analytics, referrals, protection, conversation search, live events. */
describe("dashboard APIs", () => {
  it("Token Analytics sums real usage by day, model and tier, with zero-filled days", async () => {
    const u = await proxyUser(5_000_000);
    await openai(u.key).chat.completions.create(chatBody("hi!", { model: "auto" }));
    await openai(u.key).chat.completions.create(
      chatBody(
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?",
        { model: "auto" },
      ),
    );
    const charged = (await debits(u.account, 2)).reduce((t, e) => t - e.amount, 0);
    const usage = await poll(
      () => call("/api/usage?days=7", { cookie: u.cookie }).then((r) => r.body),
      (b) => b.totals.calls === 2,
      { timeoutMs: 10_000 },
    );
    expect(usage.byDay).toHaveLength(7);
    expect(usage.byDay.at(-1).calls).toBe(2);
    expect(usage.totals.spentMicros).toBe(charged);
    expect(usage.byModel.map((m: { model: string }) => m.model).sort()).toEqual(["gpt-6-astra", "gpt-6-luna"]);
    expect(usage.byTier.map((t: { tier: string }) => t.tier).sort()).toEqual(["reasoning", "simple"]);
    expect(usage.recent[0].reason).toMatch(/^auto: /);
    expect((await call("/api/usage?days=400", { cookie: u.cookie })).status).toBe(400);
  });

  it("the referral page lists who joined, masked", async () => {
    const me = await signup();
    const code = (await call("/api/referrals", { cookie: me.cookie })).body.link.split("ref=")[1];
    await call("/api/auth/signup", {
      body: { email: `friend-${crypto.randomUUID().slice(0, 8)}@example.org`, password: "a-long-enough-password", referralCode: code },
    });
    const page = (await call("/api/referrals", { cookie: me.cookie })).body;
    expect(page.referred).toHaveLength(1);
    expect(page.referred[0].who).toMatch(/^fr…@example\.org$/);
    expect(page.referred[0].creditedMicros).toBeNull();
  });

  it("token protection can be read and changed; a bad time zone or time is refused clearly", async () => {
    const u = await signup();
    const before = (await call("/api/agent/protection", { cookie: u.cookie })).body;
    expect(before.loop.maxRepeats).toBeGreaterThan(1);
    const changed = await call("/api/agent/protection", {
      method: "PUT",
      body: { quietHours: { enabled: true, start: "22:30", end: "06:00" }, timezone: "Europe/Paris", dailyCap: 2_000_000 },
      cookie: u.cookie,
    });
    expect(changed.body).toMatchObject({ quietHours: { start: "22:30" }, timezone: "Europe/Paris", dailyCap: 2_000_000, loop: before.loop });
    const badZone = await call("/api/agent/protection", { method: "PUT", body: { timezone: "Mars/Olympus" }, cookie: u.cookie });
    expect(badZone.status).toBe(400);
    expect(badZone.body.error.message).toContain('Unknown time zone "Mars/Olympus"');
    const badTime = await call("/api/agent/protection", {
      method: "PUT",
      body: { quietHours: { enabled: true, start: "25:00", end: "06:00" } },
      cookie: u.cookie,
    });
    expect(badTime.body.error.code).toBe("VALIDATION_FAILED");
    expect((await call("/api/agent/idle", { method: "PUT", body: { idleMinutes: 10, deepSleepMinutes: 0 }, cookie: u.cookie })).body).toEqual({
      idleMinutes: 10,
      deepSleepMinutes: 0,
      alwaysOn: false,
    });
  });

  it("conversation history is searchable (text or reply, case-insensitive, % is literal)", async () => {
    const u = await signup();
    const account = env.USER_AGENT.getByName(u.userId);
    await account.init(u.userId);
    await account.sendMessage("Plan my trip to Lisbon");
    await account.sendMessage("What is 50% of 80?");
    await account.sendMessage("Order groceries");
    const find = async (q: string) =>
      (await call(`/api/agent/messages?q=${encodeURIComponent(q)}`, { cookie: u.cookie })).body.messages.map((m: { text: string }) => m.text);
    expect(await find("lisbon")).toEqual(["Plan my trip to Lisbon"]);
    expect(await find("50%")).toEqual(["What is 50% of 80?"]);
    expect(await find("%")).toEqual(["What is 50% of 80?"]);
    expect(await find("")).toHaveLength(3);
  });

  it("live events stream the status and new activity as server-sent events", async () => {
    const u = await signup();
    const { exports } = await import("cloudflare:workers");
    const res = await exports.default.fetch(new Request("http://localhost/api/agent/events", { headers: { cookie: u.cookie } }));
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = res.body!.getReader();
    let text = "";
    const decoder = new TextDecoder();
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) text += decoder.decode((await reader.read()).value);
    };
    await readUntil("event: status");
    expect(text).toContain('data: {"status":"none"}');
    await env.USER_AGENT.getByName(u.userId).recordActivity("test", "something happened");
    await readUntil("something happened");
    expect(text).toMatch(/event: activity\ndata: .*something happened/);
    await reader.cancel();
  });
});
