import { join } from "node:path";
import type { AgentSpec } from "./container-spec";
import { Dir, Refused, parseOwner, removeTree } from "./safe-fs";

/** A user id becomes a path component and a container name: only a plain name is accepted. */
export function plainUserId(userId: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(userId)) throw new Refused(`refused: invalid user id ${JSON.stringify(userId.slice(0, 80))}`);
  return userId;
}

/**
 * The agents' state dirs on this node (`<stateRoot>/<userId>`, bind-mounted into the container). The tenant
 * controls what is inside one, so everything written there goes through safe-fs.
 */
export class StateDirs {
  constructor(private readonly root: string) {}

  /** The user's state dir; the id becomes a path component, so only a plain name is accepted. */
  path(userId: string): string {
    return join(this.root, plainUserId(userId));
  }

  /**
   * Writes openclaw.json and the persona files into the state dir, owned by the container's user. A link,
   * FIFO or hard link planted at any of these names (or at `workspace`) is refused, never written through,
   * chmodded or chowned.
   */
  async writeConfig(spec: AgentSpec): Promise<void> {
    const owner = parseOwner(spec.user);
    for (const rel of Object.keys(spec.files ?? {}))
      // The wire schema allows only workspace/<NAME>.md; checked again here because this writes to disk.
      if (!/^workspace\/[A-Za-z0-9_-]+\.md$/.test(rel)) throw new Refused(`refused to write ${rel}`);
    const root = await Dir.openRoot(this.path(spec.userId), { create: true });
    try {
      if (owner) await root.chown(owner);
      await root.writeFile("openclaw.json", JSON.stringify(spec.config, null, 2), { mode: 0o600, owner });
      const files = Object.entries(spec.files ?? {});
      if (files.length === 0) return;
      const ws = await root.sub("workspace", { create: true, owner });
      try {
        if (owner) await ws.chown(owner);
        for (const [rel, content] of files) await ws.writeFile(rel.slice("workspace/".length), content, { owner });
      } finally {
        await ws.close();
      }
    } finally {
      await root.close();
    }
  }

  /** Deletes the state dir (an erased account) through descriptors, never following a planted link. */
  remove(userId: string): Promise<void> {
    return removeTree(this.path(userId));
  }
}
