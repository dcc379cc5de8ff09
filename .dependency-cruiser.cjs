/**
 * The import rules between the runtimes, checked by `npm run typecheck` (scripts/test/import-rules.test.ts
 * proves a forbidden import fails it). `@oc/contracts` is the only package imported across runtimes; the
 * Durable Objects may also import `@oc/db`; nothing else crosses. Workspace packages resolve through their
 * node_modules/@oc symlinks to their folders, so one path rule covers `@oc/edge/x` and `../../edge/src/x` alike.
 */

/** Other runtimes' folders, as a regex over resolved paths. */
const folders = (...names) => `^(${names.join("|")})/`;

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "No import cycles anywhere (type-only imports count: they tie the files together all the same).",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "contracts-imports-no-workspace",
      comment: "contracts/ is imported by every runtime and imports none of them.",
      severity: "error",
      from: { path: "^contracts/" },
      to: { path: folders("db", "edge", "durable-objects", "node-agent", "app", "scripts", "e2e") },
    },
    {
      name: "contracts-runtime-neutral",
      comment: "contracts/ runs in workerd, Node and the browser: no Node built-ins, no cloudflare: modules, no npm package but zod.",
      severity: "error",
      from: { path: "^contracts/" },
      to: {
        dependencyTypesNot: ["local"],
        pathNot: "(^|/)node_modules/zod/",
      },
    },
    {
      name: "db-imports-only-contracts",
      comment: "db/ is the schema and the client; it knows nothing of the runtimes that use it.",
      severity: "error",
      from: { path: "^db/" },
      to: { path: folders("edge", "durable-objects", "node-agent", "app", "scripts", "e2e") },
    },
    {
      name: "app-imports-only-contracts",
      comment: "The dashboard reaches the edge over HTTP only; what it shares comes from contracts.",
      severity: "error",
      from: { path: "^app/" },
      to: { path: folders("db", "edge", "durable-objects", "node-agent", "scripts", "e2e") },
    },
    {
      name: "node-agent-imports-only-contracts",
      comment: "The node agent talks to the edge over the wire protocol in contracts, nothing else.",
      severity: "error",
      from: { path: "^node-agent/src/" },
      to: { path: folders("db", "edge", "durable-objects", "app", "scripts", "e2e") },
    },
    {
      name: "node-agent-tests-stay-in-node-agent",
      comment: "Node-agent tests may use scripts (the skill extractor) but no other runtime's code.",
      severity: "error",
      from: { path: "^node-agent/test/" },
      to: { path: folders("db", "edge", "durable-objects", "app", "e2e") },
    },
    {
      name: "durable-objects-import-only-contracts-and-db",
      comment: "The Durable Objects import contracts and db, never the edge (which imports them).",
      severity: "error",
      from: { path: "^durable-objects/src/" },
      to: { path: folders("edge", "node-agent", "app", "scripts", "e2e") },
    },
    {
      name: "durable-objects-tests-use-edge-test-helpers-only",
      comment: "DO tests run in the edge's workerd suite and may use its test helpers, not the edge's code.",
      severity: "error",
      from: { path: "^durable-objects/test/" },
      to: { path: folders("edge/src", "node-agent", "app", "e2e") },
    },
    {
      name: "edge-imports-no-durable-object",
      comment: "The edge types its namespaces with the RPC interfaces in contracts; only the Worker entry re-exports the classes (and serves the app's build).",
      severity: "error",
      from: { path: "^edge/src/", pathNot: "^edge/src/worker\\.ts$" },
      to: { path: folders("durable-objects", "node-agent", "app") },
    },
    {
      name: "edge-tests-reach-objects-only-as-the-worker-does",
      comment:
        "Edge tests run the whole Worker, its objects included (and may swap the job runner the Worker registers with them); they never reach node-agent or app code.",
      severity: "error",
      from: { path: "^edge/test/" },
      to: { path: folders("node-agent", "app") },
    },
    {
      name: "edge-src-imports-no-dev-tools",
      comment: "Production code never imports scripts/ (stand-ins, benches) or e2e/.",
      severity: "error",
      from: { path: "^edge/src/" },
      to: { path: folders("scripts", "e2e") },
    },
    {
      name: "routes-never-query",
      comment: "Routes are thin: they call services, and services reach the database.",
      severity: "error",
      from: { path: "^edge/src/routes/" },
      to: { path: ["^db/", "(^|/)node_modules/drizzle-orm/"] },
    },
    {
      name: "e2e-through-contracts",
      comment:
        "End-to-end tests drive the edge over HTTP; they may run the node agent and use the edge's test helpers and stand-ins, not the edge's, the objects' or the db's code.",
      severity: "error",
      from: { path: "^e2e/" },
      to: { path: folders("edge/src", "durable-objects", "db") },
    },
    {
      name: "workspace-imports-resolve",
      comment: "An @oc/* import that does not resolve would slip past every rule above.",
      severity: "error",
      from: {},
      to: { couldNotResolve: true, path: "^@oc/" },
    },
  ],
  options: {
    // Type-only imports are dependencies too: a cycle of types is still a cycle, a type from edge still a leak.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    webpackConfig: { fileName: ".dependency-cruiser.webpack.cjs" },
    doNotFollow: { path: "node_modules" },
    exclude: { path: ["\\.svelte-kit/", "(^|/)build/", "^node-agent/image/", "^app/src/.*\\.d\\.ts$"] },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types", "svelte"],
      mainFields: ["module", "main", "types", "typings"],
    },
    skipAnalysisNotInRules: true,
  },
};
