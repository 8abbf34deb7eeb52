/** Kubernetes client plumbing shared by the operator, the router and the dashboard. */
export * from "./configmap.ts";
export * from "./connections.ts";
export * from "./informer.ts";
export * from "./leader.ts";
