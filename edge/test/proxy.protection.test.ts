import { env, exports } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { UserAgent } from "../src/worker";
import { chatBody, debits, proxyUser } from "./proxy-helpers";
import { poll } from "../../test-harness/poll";

const post = (key: string, body: unknown, headers: Record<string, string> = {}) =>
  exports.default.fetch(
    new Request("http://localhost/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    }),
  );

const hhmm = (d: Date) => `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;

describe("token protection", () => {
  it("loop detection: the same request repeated past the limit is refused, with an activity event", async () => {
    const u = await proxyUser();
    await u.account.updateProtection({ loop: { maxRepeats: 3, windowSec: 60, maxCallsPerMessage: 40 } });
    const body = chatBody("call the weather tool again");
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await post(u.key, body);
      statuses.push(r.status);
      if (i === 3) {
        const err = (await r.json()) as { error: { code: string; message: string } };
        expect(err.error.code).toBe("loop_detected");
        expect(err.error.message).toContain("Loop detected");
      } else await r.text();
    }
    expect(statuses).toEqual([200, 200, 200, 400]);
    const events = await u.account.listActivity(5);
    expect(events[0]!.kind).toBe("protection");
    expect(events[0]!.message).toContain("Loop detected");
    // A different request still goes through.
    expect((await post(u.key, chatBody("something else"))).status).toBe(200);
  });

  it("loop detection after a restart counts the calls the alarm wrote (control: another request passes)", async () => {
    const u = await proxyUser();
    await u.account.updateProtection({ loop: { maxRepeats: 3, windowSec: 600, maxCallsPerMessage: 40 } });
    const keyHash = await runInDurableObject(
      u.account,
      (_o, state) => state.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'proxyKeyHash'").one().value,
    );
    const call = (fingerprint: string, n: number) => ({ tier: "simple" as const, background: false, fingerprint, inbound: `in-${fingerprint}-${n}` });
    for (let n = 0; n < 3; n++) {
      expect(await u.account.authorize({ keyHash, reservationId: `loop-${n}`, maxWholesale: 10, call: call("same", n) })).toMatchObject({ ok: true });
      await u.account.settle(`loop-${n}`, 10, `in-same-${n}`);
    }
    // The history lives in the object's memory until its alarm writes it (the settlements scheduled it).
    expect(await runDurableObjectAlarm(u.account)).toBe(true);
    const after = await runInDurableObject(u.account, async (_o, state) => {
      const fresh = new UserAgent(state, env); // a restarted object: nothing of the old one's memory
      return {
        repeated: await fresh.authorize({ keyHash, reservationId: "loop-3", maxWholesale: 10, call: call("same", 3) }),
        other: await fresh.authorize({ keyHash, reservationId: "loop-4", maxWholesale: 10, call: call("other", 4) }),
      };
    });
    expect(after.repeated).toMatchObject({ ok: false, code: "loop_detected" });
    expect(after.other).toMatchObject({ ok: true });
  });

  it("loop detection: too many model calls for one inbound message", async () => {
    const u = await proxyUser();
    await u.account.updateProtection({ loop: { maxRepeats: 100, windowSec: 60, maxCallsPerMessage: 3 } });
    const msgs = (n: number) => [
      { role: "user", content: "plan my trip" },
      ...Array.from({ length: n }, (_, i) => ({ role: "assistant", content: `step ${i}` })),
    ];
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const r = await post(u.key, { model: "gpt-4.1-nano", messages: msgs(i + 1), max_tokens: 50 });
      statuses.push(r.status);
      await r.text();
    }
    expect(statuses).toEqual([200, 200, 200, 400]);
  });

  it("quiet hours: background work is refused at night, interactive messages still pass", async () => {
    const u = await proxyUser();
    const now = new Date();
    await u.account.updateProtection({
      timezone: "UTC",
      quietHours: { enabled: true, start: hhmm(new Date(now.getTime() - 3_600_000)), end: hhmm(new Date(now.getTime() + 3_600_000)) },
    });
    const heartbeat = await post(u.key, chatBody("Read HEARTBEAT.md if it exists. If nothing needs attention, reply HEARTBEAT_OK."));
    expect(heartbeat.status).toBe(429);
    expect(((await heartbeat.json()) as { error: { code: string } }).error.code).toBe("quiet_hours");
    const marked = await post(u.key, chatBody("nightly digest"), { "x-oc-background": "1" });
    expect(marked.status).toBe(429);
    await marked.text();
    const person = await post(u.key, chatBody("are you awake?"));
    expect(person.status).toBe(200);
    await person.text();

    await u.account.updateProtection({ quietHours: { enabled: false, start: "23:00", end: "07:00" } });
    const later = await post(u.key, chatBody("Read HEARTBEAT.md again"));
    expect(later.status).toBe(200);
    await later.text();
  });

  it("daily cap: refused once the day's spend would pass it", async () => {
    const u = await proxyUser();
    // The hold covers the fallback model's price too: ~150 micros for this small request.
    await u.account.updateProtection({ dailyCap: 400 });
    const first = await post(u.key, chatBody("one", { max_tokens: 50 }));
    expect(first.status).toBe(200);
    await first.text();
    await debits(u.account, 1); // settled (after the response)
    const second = await post(u.key, chatBody("two", { max_tokens: 2000 }));
    expect(second.status).toBe(429);
    expect(((await second.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: "daily_cap",
      message: expect.stringContaining("Daily limit reached"),
    });
  });

  it("daily cap counts the calls still in flight: two at once cannot both pass a cap that fits one (control: one after the other, both pass)", async () => {
    const u = await proxyUser();
    const start = (await u.account.getBalance()).balance;
    // The hold of one such call, seen while a slow one is in flight (no cap yet).
    const probe = post(u.key, chatBody("[[delay:1500]] probe", { max_tokens: 50 }));
    const hold = await poll(
      async () => (await u.account.getBalance()).reserved,
      (r) => r > 0,
    );
    await (await probe).text();
    await debits(u.account, 1);
    const spent = () => u.account.getBalance().then((b) => start - b.balance);
    // Room for today's spend, one hold and half of another.
    await u.account.updateProtection({ dailyCap: (await spent()) + Math.floor(hold * 1.5) });
    const slow = post(u.key, chatBody("[[delay:1500]] first", { max_tokens: 50 }));
    await poll(
      async () => (await u.account.getBalance()).reserved,
      (r) => r > 0,
    );
    const second = await post(u.key, chatBody("second", { max_tokens: 50 }));
    expect(second.status).toBe(429);
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe("daily_cap");
    expect((await slow).status).toBe(200);
    await debits(u.account, 2);
    // Control: the first call has settled at what it really cost, so the same call now fits under the cap.
    await u.account.updateProtection({ dailyCap: (await spent()) + Math.floor(hold * 1.5) });
    const third = await post(u.key, chatBody("third", { max_tokens: 50 }));
    expect(third.status).toBe(200);
    await third.text();
  });

  it("single pass for background tasks: one trigger gets a capped chain of calls", async () => {
    const u = await proxyUser();
    await u.account.updateProtection({ backgroundMaxCalls: 2, quietHours: { enabled: false, start: "23:00", end: "07:00" } });
    const chain = (i: number) => ({
      model: "gpt-4.1-nano",
      max_tokens: 20,
      messages: [
        { role: "user", content: "[cron:daily-news] summarise the news" },
        { role: "assistant", content: `turn ${i}` },
      ],
    });
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      const r = await post(u.key, chain(i));
      statuses.push(r.status);
      await r.text();
    }
    expect(statuses).toEqual([200, 200, 400]);
  });

  it("auto top-up trigger: one low_balance event when the balance falls below the threshold, consumed once by billing", async () => {
    const u = await proxyUser(1_000);
    await u.account.updateProtection({ autoTopUp: { enabled: true, threshold: 999 } });
    for (const text of ["a", "b"]) {
      const r = await post(u.key, chatBody(text, { max_tokens: 20 }));
      await r.text();
    }
    await debits(u.account, 2);
    // Billing's job took the one event; with no saved card it says so once, and charges nothing.
    const activity = await poll(
      () => u.account.listActivity(20),
      (a) => a.some((x) => x.message.startsWith("Automatic top-up failed")),
    );
    expect(activity.filter((a) => a.message.startsWith("Automatic top-up failed")).map((a) => a.message)).toEqual([
      "Automatic top-up failed: there is no saved card yet; buy a token pack once to save one",
    ]);
    expect(await u.account.takeEvents()).toEqual([]);
  });
});
