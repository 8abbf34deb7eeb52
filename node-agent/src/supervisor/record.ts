import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SUPERVISOR_RECORD, SupervisorRecord } from "@turgon/api/supervisor";

/**
 * A supervisor's `record.json` in its directory `dir`, checked against its
 * schema (leniently: fields of a later build are dropped). A missing file, or
 * one cut short or malformed (its supervisor died while writing it), is
 * undefined, never a throw: the callers treat it as a supervisor gone.
 */
export async function readSupervisorRecord(dir: string): Promise<SupervisorRecord | undefined> {
  const text = await readFile(join(dir, SUPERVISOR_RECORD), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const parsed = SupervisorRecord.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the record atomically (write, then rename): agents read it at any time. */
export async function writeSupervisorRecord(dir: string, record: SupervisorRecord): Promise<void> {
  const path = join(dir, SUPERVISOR_RECORD);
  await writeFile(`${path}.tmp`, JSON.stringify(record), { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}
