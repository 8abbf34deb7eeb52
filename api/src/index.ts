export * from "./crd/index.ts";
