/** The agent's audit delivery, for producers outside the agent (the audit worker's tests and benchmark). */
export { AuditShipper } from "./shipper.ts";
export { AuditSpool, type Checkpoint, type SpoolOptions } from "./spool.ts";
