import { and, desc, eq, sql } from "drizzle-orm";
import { BUNDLED_SKILLS } from "@oc/contracts/bundled-skills";
import { AppError } from "@oc/contracts/errors";
import { agents, skillSettings, templates } from "@oc/db/schema";
import { newId } from "@oc/contracts/ids";
import { audit } from "./audit";
import type { RequestMeta, Services } from "./context";
import { setRouterModel } from "./agent-controls";
import { applyAgentConfig } from "./agent-config";
export { personaFiles } from "./agent-config";
import type { Personality } from "./agent-config";
import { ensureAgent } from "./proxy-keys";

/**
 * The agent's customisation: bundled skills on/off (written into its config), its personality (seeded as
 * the workspace persona files SOUL.md and IDENTITY.md), and community templates that bundle both with the
 * router setting. A change is applied to a running agent at once (it restarts on the new spec).
 */
export type { Personality } from "./agent-config";

const EMPTY: Personality = { name: "", tone: "", language: "", instructions: "" };

/** Skills turned off for this agent (all bundled skills are on unless turned off). */
export async function disabledSkills(s: Services, agentId: string): Promise<string[]> {
  const rows = await s.db
    .select({ skill: skillSettings.skill })
    .from(skillSettings)
    .where(and(eq(skillSettings.agentId, agentId), eq(skillSettings.enabled, false)));
  return rows.map((r) => r.skill).sort();
}

export async function listSkills(s: Services, userId: string) {
  const off = new Set(await disabledSkills(s, await ensureAgent(s, userId)));
  return BUNDLED_SKILLS.map((k) => ({ ...k, enabled: !off.has(k.name) }));
}

export async function setSkills(s: Services, userId: string, changes: { name: string; enabled: boolean }[], meta: RequestMeta, apply = true) {
  const known = new Set(BUNDLED_SKILLS.map((k) => k.name));
  const unknown = changes.filter((c) => !known.has(c.name)).map((c) => c.name);
  if (unknown.length > 0) throw new AppError("VALIDATION_FAILED", `Unknown skill: ${unknown.join(", ")}.`);
  const agentId = await ensureAgent(s, userId);
  for (const c of changes)
    await s.db
      .insert(skillSettings)
      .values({ agentId, skill: c.name, enabled: c.enabled })
      .onConflictDoUpdate({ target: [skillSettings.agentId, skillSettings.skill], set: { enabled: c.enabled, updatedAt: new Date() } });
  audit(s, meta, userId, "agent.skills_changed", { changes });
  return { appliedToAgent: apply ? await applyAgentConfig(s, userId, meta) : false };
}

export async function getPersonality(s: Services, userId: string): Promise<Personality> {
  const [row] = await s.db.select({ p: agents.personality }).from(agents).where(eq(agents.userId, userId));
  return { ...EMPTY, ...(row?.p ?? {}) };
}

export async function setPersonality(s: Services, userId: string, p: Personality, meta: RequestMeta, apply = true) {
  const agentId = await ensureAgent(s, userId);
  await s.db
    .update(agents)
    .set({ personality: { ...p }, updatedAt: new Date() })
    .where(eq(agents.id, agentId));
  audit(s, meta, userId, "agent.personality_changed");
  return { appliedToAgent: apply ? await applyAgentConfig(s, userId, meta) : false };
}

/** Community templates: published configurations others can apply. */
export async function listTemplates(s: Services) {
  const rows = await s.db.select().from(templates).where(eq(templates.published, true)).orderBy(desc(templates.uses), desc(templates.createdAt)).limit(100);
  return rows.map((t) => ({ id: t.id, name: t.name, description: t.description, uses: t.uses, config: t.config, createdAt: t.createdAt.toISOString() }));
}

export async function publishTemplate(s: Services, userId: string, input: { name: string; description: string }, meta: RequestMeta) {
  const agentId = await ensureAgent(s, userId);
  const [row] = await s.db.select({ model: agents.routerMode }).from(agents).where(eq(agents.id, agentId));
  const config = { model: row?.model ?? "auto", personality: await getPersonality(s, userId), disabledSkills: await disabledSkills(s, agentId) };
  const id = newId("tpl");
  await s.db.insert(templates).values({ id, authorId: userId, name: input.name, description: input.description, config, published: true });
  audit(s, meta, userId, "template.published", { id });
  return { id };
}

/** Applies a template's router model, personality and skills in one go (one restart). */
export async function applyTemplate(s: Services, userId: string, templateId: string, meta: RequestMeta) {
  const [t] = await s.db
    .select()
    .from(templates)
    .where(and(eq(templates.id, templateId), eq(templates.published, true)));
  if (!t) throw new AppError("NOT_FOUND", "No such template.");
  const c = t.config as { model?: string; personality?: Personality; disabledSkills?: string[] };
  const known = new Set(BUNDLED_SKILLS.map((k) => k.name));
  const off = new Set((c.disabledSkills ?? []).filter((n) => known.has(n)));
  await setSkills(
    s,
    userId,
    BUNDLED_SKILLS.map((k) => ({ name: k.name, enabled: !off.has(k.name) })),
    meta,
    false,
  );
  if (c.personality) await setPersonality(s, userId, { ...EMPTY, ...c.personality }, meta, false);
  const { appliedToAgent } = await setRouterModel(s, userId, c.model ?? "auto", meta); // applies everything at once
  await s.db
    .update(templates)
    .set({ uses: sql`${templates.uses} + 1` })
    .where(eq(templates.id, templateId));
  return { appliedToAgent };
}
