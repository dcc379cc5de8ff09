import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

/**
 * The import rules (.dependency-cruiser.cjs) really fail `npm run typecheck`: files with a forbidden import
 * are planted in the tree, the exact command the typecheck runs (`check:imports` in package.json) must exit
 * non-zero naming each broken rule, and the same files importing contracts instead must pass.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const command: string = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).scripts["check:imports"];
const planted = {
  app: join(root, "app/src/lib/__planted_forbidden.ts"),
  durableObjects: join(root, "durable-objects/src/__planted_forbidden.ts"),
};

function plant(file: string, source: string) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, source);
}

function checkImports() {
  const [bin, ...args] = command.split(" ");
  const r = spawnSync(join(root, "node_modules/.bin", bin!), args, { cwd: root, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

afterAll(() => {
  for (const file of Object.values(planted)) rmSync(file, { force: true });
});

describe("import rules in npm run typecheck", () => {
  it("fails on the app or a Durable Object importing the edge, and passes the same files importing contracts", () => {
    try {
      plant(planted.app, 'import type { Env } from "../../../edge/src/env";\nexport type Planted = Env;\n');
      plant(planted.durableObjects, 'import { envSchema } from "../../edge/src/env";\nexport const planted = envSchema;\n');
      const bad = checkImports();
      expect(bad.status, bad.output).not.toBe(0);
      expect(bad.output).toMatch(/app-imports-only-contracts:\s*app\/src\/lib\/__planted_forbidden\.ts → edge\/src\/env\.ts/);
      expect(bad.output).toMatch(/durable-objects-import-only-contracts-and-db:\s*durable-objects\/src\/__planted_forbidden\.ts → edge\/src\/env\.ts/);

      // Positive control: the same files, importing what they share through contracts, pass.
      plant(planted.app, 'import type { ErrorEnvelope } from "@oc/contracts/errors";\nexport type Planted = ErrorEnvelope;\n');
      plant(planted.durableObjects, 'import { ERROR_CODES } from "@oc/contracts/errors";\nexport const planted = ERROR_CODES;\n');
      const good = checkImports();
      expect(good.output).toMatch(/no dependency violations found/);
      expect(good.status, good.output).toBe(0);
    } finally {
      for (const file of Object.values(planted)) rmSync(file, { force: true });
    }
  }, 120_000);
});
