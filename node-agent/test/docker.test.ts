import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DockerodeClient } from "../src/dockerode-client";

/**
 * Runs against the real Docker engine scripts/test.sh starts (DOCKER_HOST). No registry is reachable, so
 * the image is built here FROM scratch with Debian's static busybox.
 */
const docker = new DockerodeClient();
const IMAGE = "openclaw-test/busybox:1";

describe("node agent Docker client (real engine)", () => {
  it("has an engine to talk to", () => {
    expect(process.env.DOCKER_HOST, "DOCKER_HOST unset: run through `npm test`, which starts dockerd").toBeTruthy();
  });

  it("builds an image locally, then creates, starts, stops and removes a hardened container", async () => {
    expect(await docker.ping()).toBe(true);
    if (!(await docker.hasImage(IMAGE))) {
      await docker.buildImage(
        IMAGE,
        { busybox: readFileSync("/bin/busybox") },
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["/bin/sh"]\n',
      );
    }
    expect(await docker.hasImage(IMAGE)).toBe(true);

    const name = `oc-test-${Date.now()}`;
    const network = await docker.ensureNetwork(`${name}-net`);
    expect(await docker.ensureNetwork(`${name}-net`)).toBe(network); // idempotent
    const id = await docker.createContainer({
      name,
      image: IMAGE,
      cmd: ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"],
      labels: { "openclaw.user": "usr_test" },
      memoryMb: 64,
      cpus: 0.5,
      pidsLimit: 64,
      network: `${name}-net`,
    });
    expect((await docker.inspect(id))?.state).toBe("created");

    await docker.start(id);
    await docker.start(id); // starting a running container is a no-op, not an error
    expect((await docker.inspect(id))?.state).toBe("running");
    const listed = await docker.list("openclaw.user=usr_test");
    expect(listed.map((c) => c.name)).toContain(name);

    await docker.stop(id, 5);
    expect((await docker.inspect(id))?.state).toBe("exited");
    await docker.remove(id);
    expect(await docker.inspect(id)).toBeUndefined();
    await docker.remove(id); // removing twice is fine (idempotent commands)
    await docker.removeNetwork(`${name}-net`);
    await docker.removeNetwork(`${name}-net`); // and so is removing a network twice
  }, 120_000);
});
