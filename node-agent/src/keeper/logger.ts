import { createLogger, type Logger } from "@turgon/toolkit/logger";

/** The keeper's one logger: its lines sit beside the agent's on the same stdout. */
export const keeperLogger = (): Logger => createLogger("node-agent-keeper");
