import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { commandsOn, readyAgent as placedAndReady } from "../../test-harness/workerd/agents";

/** The object's own settings table (its reads are served from memory, so tests write through it too). */
const metaOf = (o: unknown) => (o as { meta: { set(k: string, v: string): void } }).meta;

const idleFor = (stub: DurableObjectStub, ms: number) =>
  runInDurableObject(stub, (o) => {
    metaOf(o).set("lastUseAt", String(Date.now() - ms));
  });

describe("a running agent dozes, then sleeps, after its idle timeout", () => {
  it("the alarm pauses the agent once it has been idle long enough, and only once", async () => {
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

    // Idle for 6 minutes: the alarm asks the node to freeze it (the first, instantly reversible step).
    await idleFor(stub, 6 * 60_000);
    await runDurableObjectAlarm(stub);
    const sent = await commandsOn(nodeId);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.command).toEqual({ kind: "pause", userId });
    expect((await stub.listActivity(1))[0]!.message).toContain("dozing");

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

/** Backdates a meta timestamp of the user's object (what the alarm compares against). */
const backdate = (stub: DurableObjectStub, key: string, ms: number) =>
  runInDurableObject(stub, (o) => {
    metaOf(o).set(key, String(Date.now() - ms));
  });

/** A running agent with its sealed spec (so it can be woken) that dozes after 5 minutes and sleeps after 60. */
const readyAgent = async (userId: string, nodeId: string) =>
  (await placedAndReady(userId, nodeId, { sealedSpec: await sealSpec(userId), idleMinutes: [5, 60] })).account;

async function sealSpec(userId: string) {
  const { SecretBox } = await import("@oc/contracts/crypto");
  const spec = {
    userId,
    image: "openclaw-agent:test",
    host: "h.example.com",
    config: {},
    gatewayToken: "g".repeat(32),
    memoryMb: 2048,
    cpus: 2,
    pidsLimit: 512,
  };
  return new SecretBox(env.ENCRYPTION_KEY).encrypt(JSON.stringify(spec), `spec:${userId}`);
}

describe("paused agents", () => {
  it("a paused agent sleeps deeply after the deep-sleep delay; a message wakes it with its spec", async () => {
    const userId = "usr_pausepausepausepausepa";
    const nodeId = "node_pause_1";
    const stub = await readyAgent(userId, nodeId);
    await backdate(stub, "lastUseAt", 6 * 60_000);
    await runDurableObjectAlarm(stub);
    await stub.setStatus("paused"); // the node's answer to `pause`
    expect((await stub.getSnapshot()).status).toBe("paused");

    // Paused for 30 of 60 minutes: nothing; for 61: deep sleep (stop + archive).
    await backdate(stub, "pausedAt", 30 * 60_000);
    await runDurableObjectAlarm(stub);
    expect((await commandsOn(nodeId)).map((c) => c.command.kind)).toEqual(["pause"]);
    await backdate(stub, "pausedAt", 61 * 60_000);
    await runDurableObjectAlarm(stub);
    expect((await commandsOn(nodeId)).map((c) => c.command.kind)).toEqual(["pause", "sleep"]);
  });

  it("a message to a paused agent wakes it at once, then is delivered when it is ready", async () => {
    const userId = "usr_pausewakepausewakepaus";
    const nodeId = "node_pause_2";
    const stub = await readyAgent(userId, nodeId);
    await stub.requestSleep("pause");
    await stub.setStatus("paused");
    const msg = await stub.sendMessage("are you there?");
    expect(msg.state).toBe("queued");
    const wake = (await commandsOn(nodeId)).find((c) => c.command.kind === "wake")!;
    expect(wake.command.spec.userId).toBe(userId);
    expect((await stub.getSnapshot()).status).toBe("starting");
    await stub.setStatus("ready"); // the node's answer to `wake`
    const deliver = (await commandsOn(nodeId)).find((c) => c.command.kind === "deliver")!;
    expect(deliver.command).toMatchObject({ text: "are you there?", userId });
  });

  it("when the node cannot store the archive the agent stays ready and tries again after another idle period", async () => {
    const userId = "usr_s3failss3failss3failss";
    const nodeId = "node_pause_3";
    const stub = await readyAgent(userId, nodeId);
    expect(await stub.requestSleep("deep")).toBe(true);
    expect(await stub.requestSleep("deep")).toBe(false); // one request at a time
    await stub.sleepFailed("S3 refused the upload");
    const snap = await stub.getSnapshot();
    expect(snap.status).toBe("ready");
    expect((await stub.listActivity(1))[0]!.message).toMatch(/could not be put to sleep \(S3 refused the upload\)/);
    // The idle clock restarted: the next idle step is due only after the full timeout again.
    await runDurableObjectAlarm(stub);
    expect((await commandsOn(nodeId)).filter((c) => c.command.kind !== "deliver")).toHaveLength(1);
    expect(await stub.requestSleep("deep")).toBe(true);
  });
});

describe("cron-aware wake", () => {
  it("a sleeping agent with a scheduled job is woken two minutes before it is due", async () => {
    const userId = "usr_croncroncroncroncroncr";
    const nodeId = "node_cron_1";
    const stub = await readyAgent(userId, nodeId);
    const due = Date.now() + 60 * 60_000;
    await stub.onSlept(due);
    expect((await stub.getSnapshot()).status).toBe("sleeping");
    await runDurableObjectAlarm(stub); // an earlier alarm (from when it ran): nothing to do yet, and the next is set
    expect((await commandsOn(nodeId)).filter((c) => c.command.kind === "wake")).toHaveLength(0);
    expect(await runInDurableObject(stub, (_o, state) => state.storage.getAlarm())).toBe(due - 120_000);
    await backdate(stub, "nextCronAt", -2 * 60_000 + 1_000); // now it is due in under two minutes
    await runDurableObjectAlarm(stub);
    const wakes = (await commandsOn(nodeId)).filter((c) => c.command.kind === "wake");
    expect(wakes).toHaveLength(1);
    expect((await stub.listActivity(3)).map((a) => a.message).join("\n")).toContain("a scheduled task is due");
  });
});

describe("always on (socket channels)", () => {
  it("an always-on agent never dozes by itself, but the user's Stop button still puts it to sleep", async () => {
    const userId = "usr_alwaysonalwaysonalways";
    const nodeId = "node_always_1";
    const stub = await readyAgent(userId, nodeId);
    await stub.setAlwaysOn(true);
    await backdate(stub, "lastUseAt", 60 * 60_000);
    await runDurableObjectAlarm(stub);
    expect(await commandsOn(nodeId)).toEqual([]);
    expect(await stub.requestSleep("pause")).toBe(false);
    expect(await stub.requestSleep("deep", true)).toBe(true);
    expect((await commandsOn(nodeId)).map((c) => c.command.kind)).toEqual(["sleep"]);
  });
});
