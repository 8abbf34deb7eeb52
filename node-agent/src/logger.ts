import { createLogger } from "@turgon/toolkit/logger";

export type { Logger } from "@turgon/toolkit/logger";

/** The agent's one logger (toolkit's: one redaction list for every daemon); components take children. */
export const logger = createLogger("node-agent");
