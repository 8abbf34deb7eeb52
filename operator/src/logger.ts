import { createLogger } from "@turgon/toolkit/logger";

export type { Logger } from "@turgon/toolkit/logger";

/** The operator's one logger; components take children named after themselves. */
export const logger = createLogger("operator");
