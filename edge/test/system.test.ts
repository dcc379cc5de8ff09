import { describe, expect, it } from "vitest";
import { call, signup } from "./helpers";

describe("system routes", () => {
  it("health reaches the real database", async () => {
    const res = await call("/api/health");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, database: "up", environment: "test" });
    expect(res.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
  });

  it("serves an OpenAPI document generated from the route schemas", async () => {
    const res = await call("/api/openapi.json");
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe("3.1.0");
    const paths = Object.keys(res.body.paths);
    expect(paths).toEqual(expect.arrayContaining(["/api/auth/signup", "/api/auth/login", "/api/account/api-keys", "/api/account/sessions/{id}"]));
    const signup = res.body.paths["/api/auth/signup"].post;
    expect(signup.requestBody.content["application/json"].schema.required).toEqual(expect.arrayContaining(["email", "password"]));
  });

  it("serves the SvelteKit landing page from the same Worker", async () => {
    const res = await call("/");
    expect(res.status).toBe(200);
    expect(String(res.body)).toContain("Your own personal AI agent");
  });
});

describe("Smart Router setting", () => {
  it("is auto by default, takes a fixed model from the catalog, and refuses unknown ones", async () => {
    const u = await signup();
    const initial = await call("/api/agent/router", { cookie: u.cookie });
    expect(initial.body.model).toBe("auto");
    expect(initial.body.options.map((o: { id: string }) => o.id)).toContain("claude-sonnet-4-5");
    const set = await call("/api/agent/router", { method: "PUT", body: { model: "claude-sonnet-4-5" }, cookie: u.cookie });
    expect(set.body).toEqual({ model: "claude-sonnet-4-5", appliedToAgent: false }); // not provisioned yet: used at provisioning
    expect((await call("/api/agent/router", { cookie: u.cookie })).body.model).toBe("claude-sonnet-4-5");
    const bad = await call("/api/agent/router", { method: "PUT", body: { model: "gpt-9" }, cookie: u.cookie });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('Unknown model "gpt-9"');
  });
});
