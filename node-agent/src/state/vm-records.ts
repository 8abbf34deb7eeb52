import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../logger.ts";
import { isQemu, killAndWait, processStartTime } from "../supervisor/process-identity.ts";

interface VmRecord {
  uid: string;
  pid: number;
  /** The QEMU's start time (see `process-identity.ts`): a reused pid is never killed. */
  pidStartTime?: number;
  startedAt: string;
}

/**
 * One small file per running VM under `<state-dir>/vms`. QEMU outlives an
 * agent that crashes; the next agent reads these records, kills what is left
 * (checking the pid still runs that QEMU) and starts with no VMs, so it never
 * reports a phantom sandbox nor leaks a VM.
 */
export class VmRecords {
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, "vms");
  }

  async save(uid: string, pid: number): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const pidStartTime = await processStartTime(pid);
    const record: VmRecord = {
      uid,
      pid,
      ...(pidStartTime !== undefined ? { pidStartTime } : {}),
      startedAt: new Date().toISOString(),
    };
    await writeFile(join(this.dir, `${uid}.json`), JSON.stringify(record));
  }

  async remove(uid: string): Promise<void> {
    await rm(join(this.dir, `${uid}.json`), { force: true });
  }

  /** Kills the VMs a previous agent left behind; returns their UIDs. */
  async reapOrphans(log: Logger): Promise<string[]> {
    await mkdir(this.dir, { recursive: true });
    const reaped: string[] = [];
    for (const file of await readdir(this.dir)) {
      const path = join(this.dir, file);
      let record: Partial<VmRecord> = {};
      try {
        record = JSON.parse(await readFile(path, "utf8")) as Partial<VmRecord>;
      } catch {
        // a record cut short by a crash: nothing to go on
      }
      const { uid, pid, pidStartTime } = record;
      if (pid && uid && (await killAndWait(pid, (p) => isQemu(p, pidStartTime)))) {
        log.warn({ uid, pid }, "killed a VM left behind by a previous agent");
        reaped.push(uid);
      }
      await rm(path, { force: true });
    }
    return reaped;
  }
}
