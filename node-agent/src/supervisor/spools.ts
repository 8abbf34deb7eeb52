import { readdir, readFile, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { SupervisorRecord } from "@turgon/api/supervisor";
import type { SpoolSource } from "../audit/shipper.ts";
import { AuditSpool } from "../audit/spool.ts";
import type { Logger } from "../logger.ts";
import { supervisorPaths, supervisorSpoolsDir } from "./config.ts";

/**
 * The supervisors' audit spools, for the agent's shipper: each written by its
 * supervisor (also while the agent is down), read here. A spool whose
 * supervisor is gone (no record names it) is removed once shipped.
 */
export class SupervisorSpools implements SpoolSource {
  private readonly dir: string;
  private readonly stateDir: string;
  private readonly log: Logger;
  private readonly open = new Map<string, AuditSpool>();

  private readonly onEvent: (event: { decision: string }) => void;

  constructor(options: {
    spoolDir: string;
    stateDir: string;
    log: Logger;
    /** Each event shipped (metrics count supervised egress here). */
    onEvent?: (event: { decision: string }) => void;
  }) {
    this.dir = supervisorSpoolsDir(options.spoolDir);
    this.onEvent = options.onEvent ?? (() => {});
    this.stateDir = options.stateDir;
    this.log = options.log;
  }

  async spools(): Promise<AuditSpool[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const name of names) {
      const dir = join(this.dir, name);
      if (!this.open.has(dir)) this.open.set(dir, new AuditSpool({ dir, readOnly: true }));
    }
    for (const dir of this.open.keys()) if (!names.includes(basename(dir))) this.open.delete(dir);
    return [...this.open.values()];
  }

  shipped(lines: string[]): void {
    for (const line of lines) {
      try {
        this.onEvent(JSON.parse(line) as { decision: string });
      } catch {
        // a line cut short by a crash: shipped as it is, counted as nothing
      }
    }
  }

  /** Removes a shipped spool whose supervisor no longer names it. */
  async drained(spool: AuditSpool): Promise<void> {
    const uid = basename(spool.dir).split(".")[0] ?? "";
    const text = await readFile(supervisorPaths(this.stateDir, uid).record, "utf8").catch(() => "");
    let owner: string | undefined;
    try {
      owner = SupervisorRecord.parse(JSON.parse(text)).spoolDir;
    } catch {
      owner = undefined;
    }
    if (owner === spool.dir) return;
    await rm(spool.dir, { recursive: true, force: true });
    this.open.delete(spool.dir);
    this.log.debug({ uid, spool: spool.dir }, "removed the shipped spool of a supervisor now gone");
  }
}
