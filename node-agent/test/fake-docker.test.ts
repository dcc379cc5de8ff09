import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { DockerClient } from "../src/docker-client";
import { DockerodeClient } from "../src/dockerode-client";
import { FakeDocker } from "./fake-docker";

/**
 * The fake engine is only worth its tests if it behaves like the real one: the same script runs against
 * both (the real engine of DOCKER_HOST and FakeDocker), and what each call answered, or how it failed, must
 * be the same. Container names are per run, so the messages are compared with the name masked.
 */
const IMAGE = "openclaw-test/busybox:1";
const real = new DockerodeClient();

async function script(docker: DockerClient, name: string) {
  const seen: unknown[] = [];
  const mask = (v: unknown) =>
    JSON.parse(
      JSON.stringify(v ?? null)
        .replaceAll(name, "NAME")
        .replace(/[0-9a-f]{64}/g, "ID"),
    );
  const step = async (label: string, call: () => Promise<unknown>) =>
    seen.push([
      label,
      await call().then(
        (v) => ({ ok: mask(v) }),
        (e: { statusCode?: number; message: string }) => ({ status: e.statusCode ?? null, error: e.statusCode === 409 ? "(conflict)" : mask(e.message) }),
      ),
    ]);
  const missing = `${name}-missing`;
  await step("inspect missing", () => docker.inspect(missing));
  for (const op of ["start", "stop", "pause", "unpause"] as const) await step(`${op} missing`, () => docker[op](missing));
  await step("ipOn missing", () => docker.ipOn(missing, "x"));
  await step("exec missing", () => docker.exec(missing, ["true"]));
  await step("memoryInfo missing", () => docker.memoryInfo(missing));
  await step("remove missing", () => docker.remove(missing));
  await step("removeNetwork missing", () => docker.removeNetwork(`${name}-nonet`));
  await step("create without image", () => docker.createContainer({ name, image: "openclaw-test/absent:0", memoryMb: 64, cpus: 0.5, pidsLimit: 64 }));

  const network = `${name}-net`;
  await docker.ensureNetwork(network);
  const spec = {
    name,
    image: IMAGE,
    cmd: ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"],
    labels: { "openclaw.user": name },
    memoryMb: 64,
    cpus: 0.5,
    pidsLimit: 64,
    network,
  };
  const id = await docker.createContainer(spec);
  await step("create twice", () => docker.createContainer(spec));
  const state = () => docker.inspect(id).then((i) => i?.state);
  await step("created", state);
  await step("pause created", () => docker.pause(id));
  await step("memoryInfo created", () => docker.memoryInfo(id));
  await step("start", () => docker.start(id));
  await step("start again", () => docker.start(id));
  await step("running", state);
  await step("has an address", () => docker.ipOn(id, network).then((ip) => typeof ip));
  await step("has a pid", () => docker.memoryInfo(id).then((m) => m && { pid: m.pid > 0, memoryBytes: m.memoryBytes }));
  await step("listed", () => docker.list(`openclaw.user=${name}`).then((l) => l.map((c) => [c.name, c.state])));
  await step("pause", () => docker.pause(id));
  await step("pause again", () => docker.pause(id));
  await step("paused", state);
  await step("unpause", () => docker.unpause(id));
  await step("unpause again", () => docker.unpause(id));
  await step("stop", () => docker.stop(id, 5));
  await step("stop again", () => docker.stop(id, 5));
  await step("exited", state);
  await step("exec stopped", () => docker.exec(id, ["true"]));
  await step("no address when stopped", () => docker.ipOn(id, network));
  await step("remove", () => docker.remove(id));
  await step("gone", () => docker.inspect(id));
  await step("remove again", () => docker.remove(id));
  await step("removeNetwork", () => docker.removeNetwork(network));
  return seen;
}

describe("fake Docker engine", () => {
  it("answers and fails exactly like the real engine through the real client", async () => {
    if (!(await real.hasImage(IMAGE)))
      await real.buildImage(
        IMAGE,
        { busybox: readFileSync("/bin/busybox") },
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["/bin/sh"]\n',
      );
    const name = `oc-fake-${Date.now().toString(36)}`;
    const onReal = await script(real, name);
    const onFake = await script(new FakeDocker({ images: [IMAGE] }), name);
    expect(onFake).toEqual(onReal);
  }, 60_000);
});
