import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../app";
import { errorResponses } from "../errors";
import { requireUser } from "../middleware/auth";
import { addCronJob, listCronJobs, removeCronJob } from "../services/cron";
import { addMemory, deleteMemory, listMemories, readMemoryFile } from "../services/memory";
import { fromBase64 } from "@oc/contracts/crypto";
import type { Services } from "../services/context";
import { callNode } from "../services/node-call";
import { body, json } from "./schemas";

/** File Manager, Memory Manager and Cron Scheduler: the agent's workspace and schedule, through the node agent. */
const auth = [requireUser()];
const path = z.string().max(500).default("");
const anyJson = json(z.record(z.string(), z.unknown()));

const routes = {
  list: createRoute({
    method: "get",
    path: "/agent/files",
    tags: ["workspace"],
    middleware: auth,
    request: { query: z.object({ path }) },
    responses: { 200: anyJson, ...errorResponses },
  }),
  read: createRoute({
    method: "get",
    path: "/agent/files/content",
    tags: ["workspace"],
    middleware: auth,
    request: { query: z.object({ path: z.string().min(1).max(500) }) },
    responses: { 200: { description: "The file's bytes" }, ...errorResponses },
  }),
  write: createRoute({
    method: "put",
    path: "/agent/files",
    tags: ["workspace"],
    middleware: auth,
    request: body(z.object({ path: z.string().min(1).max(500), contentBase64: z.string().max(1_400_000) })),
    responses: { 200: anyJson, ...errorResponses },
  }),
  remove: createRoute({
    method: "delete",
    path: "/agent/files",
    tags: ["workspace"],
    middleware: auth,
    request: { query: z.object({ path: z.string().min(1).max(500) }) },
    responses: { 200: anyJson, ...errorResponses },
  }),
  memories: createRoute({
    method: "get",
    path: "/agent/memories",
    tags: ["workspace"],
    middleware: auth,
    request: { query: z.object({ q: z.string().max(500).optional() }) },
    responses: { 200: anyJson, ...errorResponses },
  }),
  addMemory: createRoute({
    method: "post",
    path: "/agent/memories",
    tags: ["workspace"],
    middleware: auth,
    request: body(z.object({ content: z.string().trim().min(1).max(2000) })),
    responses: { 201: anyJson, ...errorResponses },
  }),
  deleteMemory: createRoute({
    method: "delete",
    path: "/agent/memories/{id}",
    tags: ["workspace"],
    middleware: auth,
    request: { params: z.object({ id: z.string().max(64) }) },
    responses: { 200: anyJson, ...errorResponses },
  }),
  cron: createRoute({ method: "get", path: "/agent/cron", tags: ["workspace"], middleware: auth, responses: { 200: anyJson, ...errorResponses } }),
  addCron: createRoute({
    method: "post",
    path: "/agent/cron",
    tags: ["workspace"],
    middleware: auth,
    request: body(
      z.object({
        name: z.string().trim().min(1).max(80),
        cron: z.string().trim().min(9).max(100),
        message: z.string().trim().min(1).max(2000),
        tz: z.string().max(64).optional(),
      }),
    ),
    responses: { 201: anyJson, ...errorResponses },
  }),
  removeCron: createRoute({
    method: "delete",
    path: "/agent/cron/{id}",
    tags: ["workspace"],
    middleware: auth,
    request: { params: z.object({ id: z.string().regex(/^[\w-]{1,100}$/) }) },
    responses: { 200: anyJson, ...errorResponses },
  }),
};

export function registerWorkspaceRoutes(app: App) {
  const files = (s: Services, userId: string, op: "list" | "read" | "write" | "delete", p: string, content?: string) =>
    callNode<Record<string, unknown>>(s, userId, { kind: "files", userId, op, path: p, content });
  app.openapi(routes.list, async (c) => c.json(await files(c.get("services"), c.get("user").id, "list", c.req.valid("query").path), 200));
  app.openapi(routes.read, async (c) => {
    const p = c.req.valid("query").path;
    const r = (await files(c.get("services"), c.get("user").id, "read", p)) as { content: string };
    const name = p
      .split("/")
      .pop()!
      .replace(/[^\w.-]/g, "_");
    return new Response(fromBase64(r.content), {
      headers: { "content-type": "application/octet-stream", "content-disposition": `attachment; filename="${name}"` },
    }) as never;
  });
  app.openapi(routes.write, async (c) => {
    const { path: p, contentBase64 } = c.req.valid("json");
    return c.json(await files(c.get("services"), c.get("user").id, "write", p, contentBase64), 200);
  });
  app.openapi(routes.remove, async (c) => c.json(await files(c.get("services"), c.get("user").id, "delete", c.req.valid("query").path), 200));
  app.openapi(routes.cron, async (c) => c.json({ jobs: await listCronJobs(c.get("services"), c.get("user").id) }, 200));
  app.openapi(routes.addCron, async (c) => c.json({ job: await addCronJob(c.get("services"), c.get("user").id, c.req.valid("json")) }, 201));
  app.openapi(routes.removeCron, async (c) => {
    await removeCronJob(c.get("services"), c.get("user").id, c.req.valid("param").id);
    return c.json({ ok: true }, 200);
  });
  app.openapi(routes.memories, async (c) => {
    const s = c.get("services");
    const q = c.req.valid("query").q;
    const [list, file] = await Promise.all([
      listMemories(s, c.get("user").id, q || undefined),
      q ? Promise.resolve(null) : readMemoryFile(s, c.get("user").id),
    ]);
    return c.json({ memories: list, memoryFile: file }, 200);
  });
  app.openapi(routes.addMemory, async (c) => c.json(await addMemory(c.get("services"), c.get("user").id, c.req.valid("json").content), 201));
  app.openapi(routes.deleteMemory, async (c) => c.json(await deleteMemory(c.get("services"), c.get("user").id, c.req.valid("param").id), 200));
}
