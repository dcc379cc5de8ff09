export * from "./schema/accounts";
export * from "./schema/billing";
export * from "./schema/agents";
export * from "./schema/content";
