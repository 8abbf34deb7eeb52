import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../logger.ts";

interface VmRecord {
  uid: string;
  pid: number;
  startedAt: string;
}

/**
 * One small file per running VM under `<state-dir>/vms`. QEMU outlives an
 * agent that crashes; the next agent reads these records, kills what is left
 * (checking the pid still runs QEMU) and starts with no VMs, so it never
 * reports a phantom sandbox nor leaks a VM.
 */
export class VmRecords {
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, "vms");
  }

  async save(uid: string, pid: number): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const record: VmRecord = { uid, pid, startedAt: new Date().toISOString() };
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
      const record = JSON.parse(
        await readFile(path, "utf8").catch(() => "{}"),
      ) as Partial<VmRecord>;
      if (record.pid && record.uid && (await isQemu(record.pid))) {
        process.kill(record.pid, "SIGKILL");
        for (let i = 0; i < 50 && (await isQemu(record.pid)); i++) await sleep(100);
        log.warn(
          { uid: record.uid, pid: record.pid },
          "killed a VM left behind by a previous agent",
        );
        reaped.push(record.uid);
      }
      await rm(path, { force: true });
    }
    return reaped;
  }
}

/** True while `pid` is a live (not zombie) QEMU process. */
export async function isQemu(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return false;
    return (await readFile(`/proc/${pid}/cmdline`, "utf8")).includes("qemu-system");
  } catch {
    return false;
  }
}
