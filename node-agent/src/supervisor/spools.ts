import { readdir, rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { SUPERVISOR_RECORD } from "@turgon/api/supervisor";
import type { SpoolSource } from "../audit/shipper.ts";
import { AuditSpool } from "../audit/spool.ts";
import type { Logger } from "../logger.ts";
import { supervisorSpoolsDir, supervisorsDir } from "./config.ts";
import { readSupervisorRecord } from "./record.ts";

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
  /**
   * The spool each supervisor's record names, by UID, with the version of
   * the record it was read from: the shipper asks every second for each idle
   * spool, and the record is read again only when it was rewritten.
   */
  private readonly owners = new Map<string, { version: string; spoolDir?: string }>();

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
    if ((await this.spoolOf(uid)) === spool.dir) return;
    await rm(spool.dir, { recursive: true, force: true });
    this.open.delete(spool.dir);
    this.log.debug({ uid, spool: spool.dir }, "removed the shipped spool of a supervisor now gone");
  }

  /** The spool that the record of `uid`'s supervisor names, if it has one. */
  private async spoolOf(uid: string): Promise<string | undefined> {
    const dir = join(supervisorsDir(this.stateDir), uid);
    const found = await stat(join(dir, SUPERVISOR_RECORD)).catch(() => undefined);
    if (!found) {
      this.owners.delete(uid);
      return undefined;
    }
    // Records are replaced by rename: a new inode is a new record.
    const version = `${found.ino}:${found.mtimeMs}:${found.size}`;
    const known = this.owners.get(uid);
    if (known?.version === version) return known.spoolDir;
    const spoolDir = (await readSupervisorRecord(dir))?.spoolDir;
    this.owners.set(uid, { version, ...(spoolDir ? { spoolDir } : {}) });
    return spoolDir;
  }
}
