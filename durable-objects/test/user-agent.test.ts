import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";

describe("UserAgent Durable Object (per user, SQLite)", () => {
  it("binds to its user once and records activity", async () => {
    const stub = env.USER_AGENT.getByName("usr_alice");
    const snap = await stub.init("usr_alice");
    expect(snap).toMatchObject({ userId: "usr_alice", status: "none", activityCount: 1 });
    // Caught explicitly: a rejected RPC promise handed to expect().rejects is also reported as unhandled.
    let refused: unknown;
    try {
      await stub.init("usr_mallory");
    } catch (e) {
      refused = e;
    }
    expect(String(refused)).toMatch(/already belongs to usr_alice/);
    expect((await stub.init("usr_alice")).activityCount).toBe(1); // idempotent

    await stub.setStatus("placing", "placing on a node");
    await stub.setStatus("placing"); // the same status again records nothing
    const events = await stub.listActivity(10);
    expect(events.map((e) => e.message)).toEqual(["Agent is placing: placing on a node", "Account created"]);
    expect((await stub.getSnapshot()).status).toBe("placing");
  });

  it("keeps state in SQLite storage and caps the activity log", async () => {
    const stub = env.USER_AGENT.getByName("usr_bob");
    await stub.init("usr_bob");
    for (let i = 0; i < 520; i++) await stub.recordActivity("test", `event ${i}`);
    const rows = await runInDurableObject(stub, (_obj, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM activity").one().n);
    expect(rows).toBe(500);
    const page = await stub.listActivity(3);
    expect(page.map((e) => e.message)).toEqual(["event 519", "event 518", "event 517"]);
    const older = await stub.listActivity(2, page[2]!.id);
    expect(older.map((e) => e.message)).toEqual(["event 516", "event 515"]);
  });

  it("separate users get separate objects", async () => {
    await env.USER_AGENT.getByName("usr_c1").init("usr_c1");
    expect((await env.USER_AGENT.getByName("usr_c2").getSnapshot()).userId).toBeNull();
  });
});
