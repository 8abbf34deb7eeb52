export * from "./agent/index.ts";
export * from "./audit/index.ts";
export * from "./crd/index.ts";
