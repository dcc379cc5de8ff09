export * from "./accounts";
export * from "./billing";
export * from "./agents";
export * from "./content";
