import { createLogger } from "@turgon/toolkit/logger";

export type { Logger } from "@turgon/toolkit/logger";

/** The router's one logger (its lines and crash logs say `router`); components take children. */
export const logger = createLogger("router");
