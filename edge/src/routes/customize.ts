import { createRoute, z } from "@hono/zod-openapi";
import type { App } from "../app";
import { errorResponses } from "../errors";
import { requireUser } from "../middleware/auth";
import { applyTemplate, getPersonality, listSkills, listTemplates, publishTemplate, setPersonality, setSkills } from "../services/customize";
import { body, json } from "./schemas";

/** Skills Marketplace, Personality Editor and Agent Templates. */
const auth = [requireUser()];
const applied = json(z.object({ appliedToAgent: z.boolean() }));
const personality = z.object({
  name: z.string().trim().max(60),
  tone: z.string().trim().max(200),
  language: z.string().trim().max(40),
  instructions: z.string().trim().max(4000),
});

const routes = {
  skills: createRoute({
    method: "get",
    path: "/agent/skills",
    tags: ["agent"],
    middleware: auth,
    responses: {
      200: json(z.object({ skills: z.array(z.object({ name: z.string(), description: z.string(), emoji: z.string(), enabled: z.boolean() })) })),
      ...errorResponses,
    },
  }),
  setSkills: createRoute({
    method: "put",
    path: "/agent/skills",
    tags: ["agent"],
    middleware: auth,
    request: body(
      z.object({
        changes: z
          .array(z.object({ name: z.string().max(60), enabled: z.boolean() }))
          .min(1)
          .max(100),
      }),
    ),
    responses: { 200: applied, ...errorResponses },
  }),
  personality: createRoute({
    method: "get",
    path: "/agent/personality",
    tags: ["agent"],
    middleware: auth,
    responses: { 200: json(personality), ...errorResponses },
  }),
  setPersonality: createRoute({
    method: "put",
    path: "/agent/personality",
    tags: ["agent"],
    middleware: auth,
    description: "Name, tone, language and instructions, written as the agent's SOUL.md and IDENTITY.md.",
    request: body(personality),
    responses: { 200: applied, ...errorResponses },
  }),
  templates: createRoute({
    method: "get",
    path: "/templates",
    tags: ["templates"],
    middleware: auth,
    responses: {
      200: json(
        z.object({
          templates: z.array(
            z.object({
              id: z.string(),
              name: z.string(),
              description: z.string(),
              uses: z.number(),
              config: z.record(z.string(), z.unknown()),
              createdAt: z.string(),
            }),
          ),
        }),
      ),
      ...errorResponses,
    },
  }),
  publish: createRoute({
    method: "post",
    path: "/templates",
    tags: ["templates"],
    middleware: auth,
    description: "Publishes the caller's current router model, personality and skills as a community template.",
    request: body(z.object({ name: z.string().trim().min(3).max(80), description: z.string().trim().min(10).max(500) })),
    responses: { 201: json(z.object({ id: z.string() })), ...errorResponses },
  }),
  apply: createRoute({
    method: "post",
    path: "/templates/{id}/apply",
    tags: ["templates"],
    middleware: auth,
    request: { params: z.object({ id: z.string().min(1).max(64) }) },
    responses: { 200: applied, ...errorResponses },
  }),
};

export function registerCustomizeRoutes(app: App) {
  app.openapi(routes.skills, async (c) => c.json({ skills: await listSkills(c.get("services"), c.get("user").id) }, 200));
  app.openapi(routes.setSkills, async (c) => c.json(await setSkills(c.get("services"), c.get("user").id, c.req.valid("json").changes, c.get("meta")), 200));
  app.openapi(routes.personality, async (c) => c.json(await getPersonality(c.get("services"), c.get("user").id), 200));
  app.openapi(routes.setPersonality, async (c) => c.json(await setPersonality(c.get("services"), c.get("user").id, c.req.valid("json"), c.get("meta")), 200));
  app.openapi(routes.templates, async (c) => c.json({ templates: await listTemplates(c.get("services")) }, 200));
  app.openapi(routes.publish, async (c) => c.json(await publishTemplate(c.get("services"), c.get("user").id, c.req.valid("json"), c.get("meta")), 201));
  app.openapi(routes.apply, async (c) => c.json(await applyTemplate(c.get("services"), c.get("user").id, c.req.valid("param").id, c.get("meta")), 200));
}
