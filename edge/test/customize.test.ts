import { describe, expect, it } from "vitest";
import { BUNDLED_SKILLS } from "@oc/contracts/bundled-skills";
import { personaFiles } from "../src/services/customize";
import { call, signup } from "./helpers";

/** Skills Marketplace, Personality Editor and Agent Templates through the API. */
describe("agent customisation", () => {
  it("lists every bundled skill, turns one off, and refuses unknown ones", async () => {
    const u = await signup();
    const all = (await call("/api/agent/skills", { cookie: u.cookie })).body.skills;
    expect(all).toHaveLength(BUNDLED_SKILLS.length);
    expect(all.every((k: { enabled: boolean }) => k.enabled)).toBe(true);
    const off = await call("/api/agent/skills", { method: "PUT", body: { changes: [{ name: "weather", enabled: false }] }, cookie: u.cookie });
    expect(off.body).toEqual({ appliedToAgent: false });
    const after = (await call("/api/agent/skills", { cookie: u.cookie })).body.skills;
    expect(after.find((k: { name: string }) => k.name === "weather").enabled).toBe(false);
    const bad = await call("/api/agent/skills", { method: "PUT", body: { changes: [{ name: "rm-rf", enabled: true }] }, cookie: u.cookie });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toBe("Unknown skill: rm-rf.");
  });

  it("keeps the personality and turns it into persona files", async () => {
    const u = await signup();
    const p = { name: "Juniper", tone: "warm and brief", language: "French", instructions: "Always end with a haiku." };
    await call("/api/agent/personality", { method: "PUT", body: p, cookie: u.cookie });
    expect((await call("/api/agent/personality", { cookie: u.cookie })).body).toEqual(p);
    const files = personaFiles(p)!;
    expect(files["workspace/IDENTITY.md"]).toContain("**Name:** Juniper");
    expect(files["workspace/SOUL.md"]).toContain("Answer in French");
    expect(files["workspace/SOUL.md"]).toContain("Always end with a haiku.");
    expect(personaFiles({ name: "", tone: "", language: "", instructions: "" })).toBeUndefined();
    expect((await call("/api/agent/personality", { method: "PUT", body: { ...p, instructions: "x".repeat(5000) }, cookie: u.cookie })).status).toBe(400);
  });

  it("a published template applies its router model, personality and skills to another user", async () => {
    const author = await signup();
    await call("/api/agent/router", { method: "PUT", body: { model: "claude-haiku-4-5" }, cookie: author.cookie });
    await call("/api/agent/personality", {
      method: "PUT",
      body: { name: "Scout", tone: "curious", language: "English", instructions: "Research before answering." },
      cookie: author.cookie,
    });
    await call("/api/agent/skills", { method: "PUT", body: { changes: [{ name: "github", enabled: false }] }, cookie: author.cookie });
    const published = await call("/api/templates", {
      body: { name: `Researcher ${Date.now()}`, description: "Careful research assistant with GitHub off." },
      cookie: author.cookie,
    });
    expect(published.status).toBe(201);

    const user = await signup();
    const list = (await call("/api/templates", { cookie: user.cookie })).body.templates;
    const t = list.find((x: { id: string }) => x.id === published.body.id);
    expect(t.config).toMatchObject({ model: "claude-haiku-4-5", disabledSkills: ["github"], personality: { name: "Scout" } });
    expect((await call(`/api/templates/${t.id}/apply`, { method: "POST", cookie: user.cookie })).body).toEqual({ appliedToAgent: false });
    expect((await call("/api/agent/router", { cookie: user.cookie })).body.model).toBe("claude-haiku-4-5");
    expect((await call("/api/agent/personality", { cookie: user.cookie })).body.name).toBe("Scout");
    const skills = (await call("/api/agent/skills", { cookie: user.cookie })).body.skills;
    expect(skills.filter((k: { enabled: boolean }) => !k.enabled).map((k: { name: string }) => k.name)).toEqual(["github"]);
    const again = (await call("/api/templates", { cookie: user.cookie })).body.templates.find((x: { id: string }) => x.id === t.id);
    expect(again.uses).toBe(1);
    expect((await call("/api/templates/tpl_nope/apply", { method: "POST", cookie: user.cookie })).status).toBe(404);
  });
});
