/** Requests to allow a host and the report-mode rollout (server side). */
export * from "./service.ts";
