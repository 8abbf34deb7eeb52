/**
 * The ports of the sandboxes' ingress fronts on this node (`--front-ports`).
 * Each supervisor binds one for its whole life; the router trusts a
 * sandbox's front port only inside the range the SandboxNode advertises.
 */
import { readFileSync } from "node:fs";

/** An inclusive range of TCP ports. */
export interface PortRange {
  first: number;
  last: number;
}

/** How long a port another process held (EADDRINUSE) is left alone. */
const SET_ASIDE_MS = 10 * 60_000;

/** No free front port: every port of the range is held or set aside. */
export class FrontPortsExhausted extends Error {}

/** The kernel's ephemeral range, where port 0 binds (`net.ipv4.ip_local_port_range`). */
export function ephemeralPortRange(file = "/proc/sys/net/ipv4/ip_local_port_range"): PortRange {
  const [first, last] = readFileSync(file, "utf8").trim().split(/\s+/).map(Number);
  if (!first || !last) throw new Error(`${file}: not a port range`);
  return { first, last };
}

/**
 * Which sandbox holds which front port. With a range, a sandbox gets the
 * port it had before if that is free (a reboot keeps its endpoint), else the
 * free port released longest ago (reuse by another sandbox comes as late as
 * it can, and a stale route meets a 421 rather than the wrong sandbox).
 * `ephemeral` (tests: many agents on one host) lets each supervisor bind port
 * 0 and advertises the kernel's ephemeral range.
 */
export class FrontPorts {
  /** What the SandboxNode advertises (spec.frontPorts). */
  readonly range: PortRange;
  readonly ephemeral: boolean;
  private readonly held = new Map<string, number>();
  /** Free ports of the range, least recently released first (Set keeps insertion order). */
  private readonly free = new Set<number>();
  /** The sandbox that last held a free port, by port (bounded by the range). */
  private readonly lastHolder = new Map<number, string>();
  private readonly setAside = new Map<number, number>();
  private readonly now: () => number;

  constructor(range: PortRange | "ephemeral", options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
    this.ephemeral = range === "ephemeral";
    this.range = range === "ephemeral" ? ephemeralPortRange() : range;
    if (range !== "ephemeral")
      for (let port = range.first; port <= range.last; port++) this.free.add(port);
  }

  /** The port for a new supervisor of `uid` (0: any, in ephemeral mode). */
  reserve(uid: string): number {
    if (this.ephemeral) return 0;
    const had = this.held.get(uid);
    if (had !== undefined) return had;
    let chosen: number | undefined;
    for (const [port, holder] of this.lastHolder)
      if (holder === uid && this.usable(port)) {
        chosen = port;
        break;
      }
    if (chosen === undefined)
      for (const port of this.free)
        if (this.usable(port)) {
          chosen = port;
          break;
        }
    if (chosen === undefined)
      throw new FrontPortsExhausted(
        `no free front port in ${this.range.first}-${this.range.last} (${this.held.size} held, ${this.setAside.size} set aside)`,
      );
    this.take(uid, chosen);
    return chosen;
  }

  /** A running supervisor's port, found by a starting agent. */
  adopt(uid: string, port: number): void {
    this.take(uid, port);
  }

  /**
   * A warm VM's supervisor now serves sandbox `to` (a claim): its port moves
   * from the VM's id to the sandbox's UID, with no moment free.
   */
  transfer(from: string, to: string): void {
    const port = this.held.get(from);
    if (port === undefined) return;
    this.held.delete(from);
    this.held.set(to, port);
  }

  /** The sandbox's supervisor is gone: its port is free again (released last, so reused last). */
  release(uid: string): void {
    const port = this.held.get(uid);
    if (port === undefined) return;
    this.held.delete(uid);
    if (this.ephemeral || port < this.range.first || port > this.range.last) return;
    this.free.add(port);
    this.lastHolder.set(port, uid);
  }

  /** Another process holds `port` (EADDRINUSE): its sandbox lets go, and the port is left alone a while. */
  refused(uid: string, port: number): void {
    if (this.held.get(uid) === port) this.release(uid);
    if (!this.ephemeral) this.setAside.set(port, this.now() + SET_ASIDE_MS);
  }

  /** The port `uid` holds, if any. */
  portOf(uid: string): number | undefined {
    return this.held.get(uid);
  }

  private usable(port: number): boolean {
    if (!this.free.has(port)) return false;
    const until = this.setAside.get(port);
    if (until === undefined) return true;
    if (this.now() < until) return false;
    this.setAside.delete(port);
    return true;
  }

  private take(uid: string, port: number): void {
    const had = this.held.get(uid);
    if (had !== undefined && had !== port) this.release(uid);
    this.held.set(uid, port);
    this.free.delete(port);
    this.lastHolder.delete(port);
  }
}
