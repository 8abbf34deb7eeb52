import { existsSync, readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { IngressRoute } from "@earendil-works/gondolin";

/** What the agent keeps beside a checkpoint so a later resume (or a later agent) can use it. */
export interface CheckpointRecord {
  uid: string;
  /** `bootIdentity()` of the desired state the VM ran: a checkpoint only resumes the same VM. */
  bootIdentity: string;
  /** The guest's routing table at suspend (the guest may have edited it). */
  guestRoutes: IngressRoute[];
  /** The spec's routes at suspend: if they changed since, the spec's new routes win on resume. */
  specRoutes?: IngressRoute[];
  createdAt: string;
}

/**
 * Suspended sandboxes' disks under `<state-dir>/checkpoints`: `<uid>.qcow2`
 * is Gondolin's single-file checkpoint (qcow2 with a JSON trailer) and
 * `<uid>.json` the agent's record of it. They outlive the agent process, so a
 * restarted agent told that a sandbox is suspended picks its disk up again.
 */
export class Checkpoints {
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = resolve(stateDir, "checkpoints");
  }

  /** Gondolin wants an absolute path. */
  diskPath(uid: string): string {
    return join(this.dir, `${uid}.qcow2`);
  }

  private recordPath(uid: string): string {
    return join(this.dir, `${uid}.json`);
  }

  async prepare(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  async save(record: CheckpointRecord): Promise<void> {
    await writeFile(this.recordPath(record.uid), JSON.stringify(record));
  }

  /**
   * The record of a checkpoint whose disk is present, if any. Synchronous (a
   * small file): a new sandbox's first answer must already say whether it has
   * a saved disk, without opening a window for a second PUT of the same UID.
   */
  loadSync(uid: string): CheckpointRecord | undefined {
    try {
      if (!existsSync(this.diskPath(uid))) return undefined;
      return JSON.parse(readFileSync(this.recordPath(uid), "utf8")) as CheckpointRecord;
    } catch {
      return undefined;
    }
  }

  async remove(uid: string): Promise<void> {
    await rm(this.diskPath(uid), { force: true });
    await rm(this.recordPath(uid), { force: true });
  }
}
