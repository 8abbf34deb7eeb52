import { EventEmitter } from "node:events";
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import type { EgressAuditEvent } from "@turgon/api/audit";

export interface SpoolOptions {
  dir: string;
  /** A segment is closed and a new one started past this size. */
  maxSegmentBytes?: number;
  /** The oldest segments are dropped past this total, so the disk never fills. */
  maxTotalBytes?: number;
  /** Writes are flushed to disk at least this often. */
  syncIntervalMs?: number;
  /**
   * Another process appends (a supervisor's spool, read by the agent's
   * shipper): every segment but the newest counts as closed, never opened here.
   */
  readOnly?: boolean;
}

export interface Checkpoint {
  segment: number;
  offset: number;
}

const SEGMENT = /^segment-(\d{12})\.ndjson$/;
const segmentName = (n: number) => `segment-${String(n).padStart(12, "0")}.ndjson`;

/**
 * A durable, bounded, rotated on-disk queue of audit events (newline-
 * delimited JSON segments). Events are appended before anything else
 * happens to them; the shipper reads from a persisted checkpoint, so a crash
 * or an unreachable Redis loses nothing (delivery is at least once).
 */
export class AuditSpool extends EventEmitter<{ appended: []; dropped: [number] }> {
  readonly dir: string;
  private readonly maxSegmentBytes: number;
  private readonly maxTotalBytes: number;
  private readonly syncIntervalMs: number;
  readonly readOnly: boolean;
  private current = 0;
  private currentBytes = 0;
  private handle?: FileHandle;
  private dirty = false;
  private syncTimer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();

  constructor(options: SpoolOptions) {
    super();
    this.dir = options.dir;
    this.maxSegmentBytes = options.maxSegmentBytes ?? 1 << 20;
    this.maxTotalBytes = options.maxTotalBytes ?? 256 << 20;
    this.syncIntervalMs = options.syncIntervalMs ?? 100;
    this.readOnly = options.readOnly ?? false;
  }

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const segments = await this.segments();
    this.current = segments.at(-1) ?? 0;
    await this.openSegment(this.current);
    this.syncTimer = setInterval(() => void this.sync(), this.syncIntervalMs);
    this.syncTimer.unref();
  }

  private async openSegment(n: number): Promise<void> {
    this.handle = await open(join(this.dir, segmentName(n)), "a");
    this.currentBytes = (await this.handle.stat()).size;
  }

  async segments(): Promise<number[]> {
    const files = await readdir(this.dir).catch((error: NodeJS.ErrnoException) => {
      if (this.readOnly && error.code === "ENOENT") return [];
      throw error;
    });
    return files
      .flatMap((f) => SEGMENT.exec(f)?.[1] ?? [])
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** Appends one event; resolves once it is written (flushed within syncIntervalMs). */
  append(event: EgressAuditEvent): Promise<void> {
    const line = `${JSON.stringify(event)}\n`;
    this.writing = this.writing.then(async () => {
      if (this.currentBytes > 0 && this.currentBytes + line.length > this.maxSegmentBytes)
        await this.rotate();
      await this.handle?.write(line);
      this.currentBytes += Buffer.byteLength(line);
      this.dirty = true;
    });
    return this.writing.then(() => {
      this.emit("appended");
    });
  }

  private async rotate(): Promise<void> {
    await this.handle?.sync();
    await this.handle?.close();
    this.current += 1;
    await this.openSegment(this.current);
    await this.enforceBound();
  }

  /** Drops the oldest closed segments while the spool is over its bound. */
  private async enforceBound(): Promise<void> {
    const segments = await this.segments();
    let total = 0;
    const sizes = new Map<number, number>();
    for (const n of segments) {
      const size = (await stat(join(this.dir, segmentName(n)))).size;
      sizes.set(n, size);
      total += size;
    }
    for (const n of segments) {
      if (total <= this.maxTotalBytes || n === this.current) break;
      const lines = (await readFile(join(this.dir, segmentName(n)), "utf8"))
        .split("\n")
        .filter(Boolean).length;
      await rm(join(this.dir, segmentName(n)), { force: true });
      total -= sizes.get(n) ?? 0;
      this.emit("dropped", lines);
    }
  }

  async sync(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    await this.writing;
    await this.handle?.sync().catch(() => {});
  }

  /**
   * Reads up to `max` complete lines after the checkpoint. A segment that is
   * fully read and closed moves the returned checkpoint to the next one.
   */
  async read(from: Checkpoint, max: number): Promise<{ events: string[]; next: Checkpoint }> {
    const all = await this.segments();
    const segments = all.filter((n) => n >= from.segment);
    let cursor = { ...from };
    if (segments[0] !== undefined && segments[0] > cursor.segment)
      cursor = { segment: segments[0], offset: 0 };
    const events: string[] = [];
    // Only a segment closed before it was read is complete: one still open may
    // get more lines (and be closed) while it is read, and passing over it then
    // would skip them.
    // (Read-only, the writer is elsewhere: its newest segment is the open one.)
    const closedBelow = this.readOnly ? (all.at(-1) ?? 0) : this.current;
    for (const n of segments.filter((s) => s >= cursor.segment)) {
      const data = await readFile(join(this.dir, segmentName(n)));
      const start = n === cursor.segment ? cursor.offset : 0;
      let offset = start;
      while (events.length < max) {
        const end = data.indexOf(10, offset);
        if (end === -1) break;
        events.push(data.subarray(offset, end).toString("utf8"));
        offset = end + 1;
      }
      cursor = { segment: n, offset };
      if (events.length >= max) break;
      if (offset >= data.length && n < closedBelow) cursor = { segment: n + 1, offset: 0 };
      else break;
    }
    return { events, next: cursor };
  }

  /** Deletes segments wholly before the checkpoint: they are delivered. */
  async release(checkpoint: Checkpoint): Promise<void> {
    const segments = await this.segments();
    const open = this.readOnly ? segments.at(-1) : this.current;
    for (const n of segments) {
      if (n < checkpoint.segment && n !== open)
        await rm(join(this.dir, segmentName(n)), { force: true });
    }
  }

  /**
   * Bytes appended and not yet delivered: everything from the persisted
   * checkpoint on (whole lines and a partial last one alike).
   */
  async backlogBytes(): Promise<number> {
    const checkpoint = await this.loadCheckpoint();
    let bytes = 0;
    for (const n of await this.segments()) {
      if (n < checkpoint.segment) continue;
      const size = await stat(join(this.dir, segmentName(n))).then(
        (s) => s.size,
        () => 0, // released meanwhile: delivered
      );
      bytes += n === checkpoint.segment ? Math.max(0, size - checkpoint.offset) : size;
    }
    return bytes;
  }

  async loadCheckpoint(): Promise<Checkpoint> {
    try {
      return JSON.parse(await readFile(join(this.dir, "checkpoint.json"), "utf8")) as Checkpoint;
    } catch {
      return { segment: (await this.segments())[0] ?? 0, offset: 0 };
    }
  }

  /** Persists the checkpoint atomically (write, then rename). */
  async saveCheckpoint(checkpoint: Checkpoint): Promise<void> {
    const tmp = join(this.dir, "checkpoint.json.tmp");
    await writeFile(tmp, JSON.stringify(checkpoint));
    await rename(tmp, join(this.dir, "checkpoint.json"));
  }

  async close(): Promise<void> {
    clearInterval(this.syncTimer);
    await this.writing;
    await this.handle?.sync().catch(() => {});
    await this.handle?.close();
    this.handle = undefined;
  }
}
