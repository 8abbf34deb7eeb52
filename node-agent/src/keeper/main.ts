#!/usr/bin/env node
/**
 * `node node-agent/src/keeper/main.ts [agent flags...]`: runs the node agent
 * (same flags, environment and stdio) and starts it again when it exits by
 * itself; see `keeper.ts`. In a container it runs under an init that reaps
 * (`tini -- node .../keeper/main.ts`): supervisors orphaned by an agent
 * crash are re-parented to PID 1, and Node reaps only its own children.
 * Its logger takes TURGON_LOG_LEVEL as the agent does (an unknown level is
 * `info` here; the agent refuses it, exit 2, naming the variable).
 */
import { startKeeper } from "./keeper.ts";
import { keeperLogger } from "./logger.ts";

const log = keeperLogger();
const keeper = startKeeper({ args: process.argv.slice(2), env: process.env, log });
process.on("SIGTERM", () => keeper.stop("SIGTERM"));
process.on("SIGINT", () => keeper.stop("SIGINT"));
process.exit(await keeper.done);
