import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";

/** Commands the NodeLink of `nodeId` was asked to send (it queues them even with no agent connected). */
const commandsOn = (nodeId: string) =>
  runInDurableObject(env.NODE_LINK.getByName(nodeId), (_o, state) =>
    state.storage.sql.exec<{ id: string; command: string }>("SELECT id, command FROM commands").toArray().map((r) => ({ id: r.id, command: JSON.parse(r.command) })),
  );

const idleFor = (stub: DurableObjectStub, ms: number) =>
  runInDurableObject(stub, (_o, state) => {
    state.storage.sql.exec("UPDATE meta SET value = ? WHERE key = 'lastUseAt'", String(Date.now() - ms));
  });

describe("a running agent sleeps after its idle timeout", () => {
  it("the alarm sends `sleep` to the agent's node once it has been idle long enough, and only once", async () => {
    const userId = "usr_idlealarmidlealarmidle";
    const nodeId = "node_idle_1";
    const stub = env.USER_AGENT.getByName(userId);
    await stub.init(userId);
    await stub.setPlacement(nodeId);
    await stub.setIdleTimeout(5);
    await stub.setStatus("ready");
    expect(await runInDurableObject(stub, (_o, state) => state.storage.getAlarm())).not.toBeNull();

    // Used 2 minutes ago: the alarm finds it still within the 5-minute window and sends nothing.
    await idleFor(stub, 2 * 60_000);
    await runDurableObjectAlarm(stub);
    expect(await commandsOn(nodeId)).toEqual([]);

    // Idle for 6 minutes: the alarm asks the node to put it to sleep.
    await idleFor(stub, 6 * 60_000);
    await runDurableObjectAlarm(stub);
    const sent = await commandsOn(nodeId);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.command).toEqual({ kind: "sleep", userId });
    expect((await stub.listActivity(1))[0]!.message).toContain("going to sleep");

    // A later alarm does not ask again while the request is pending.
    await runDurableObjectAlarm(stub);
    expect(await commandsOn(nodeId)).toHaveLength(1);
  });

  it("interactive use keeps it awake; an agent that is not running is never put to sleep", async () => {
    const userId = "usr_touchtouchtouchtouchto";
    const nodeId = "node_idle_2";
    const stub = env.USER_AGENT.getByName(userId);
    await stub.init(userId);
    await stub.setPlacement(nodeId);
    await stub.setIdleTimeout(5);
    await stub.setStatus("ready");
    await idleFor(stub, 6 * 60_000);
    await stub.touch(); // a message arrived
    await runDurableObjectAlarm(stub);
    expect(await commandsOn(nodeId)).toEqual([]);

    await stub.setStatus("failed", "start failed");
    await idleFor(stub, 60 * 60_000);
    await runDurableObjectAlarm(stub);
    expect(await commandsOn(nodeId)).toEqual([]);
  });
});
