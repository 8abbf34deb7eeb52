import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { run } from "@turgon/toolkit/run";

/** What an external host received: one entry per HTTP request. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** The request body as it arrived: its length and sha256 (hex). */
  body: { bytes: number; sha256: string };
}

/**
 * A host that looks like the internet to a guest's egress: an HTTP server
 * in a network namespace of the test's own, on a documentation address
 * (203.0.113.0/24, TEST-NET-3) reached over a veth pair. Neither loopback
 * nor the node's own address nor a private range, so the egress floor lets
 * it through while no test needs to open the floor. It also answers DNS on
 * port 53, resolving every name to itself.
 */
export interface ExternalHost {
  /** The host's address (inside the namespace). */
  address: string;
  port: number;
  /** `http://<address>:<port>`. */
  url: string;
  /** Every request it received so far, oldest first. */
  received: ReceivedRequest[];
  stop(): Promise<void>;
}

const NAMESPACE_PREFIX = "turgon-ext-";

async function ip(args: string[]): Promise<void> {
  const result = await run("ip", args);
  if (result.exitCode !== 0) throw new Error(`ip ${args.join(" ")}: ${result.tail}`);
}

/** A /30 of 203.0.113.0/24 not in use on this machine: the host side .1, the namespace .2. */
async function claimBlock(): Promise<{
  block: number;
  names: { ns: string; host: string; peer: string };
}> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const block = Math.floor(Math.random() * 64);
    const names = {
      ns: `${NAMESPACE_PREFIX}${block}-${process.pid}`,
      host: `tgx${block}h`,
      peer: `tgx${block}n`,
    };
    // Creating the link is the claim: it fails if another run holds this block.
    const made = await run("ip", [
      "link",
      "add",
      names.host,
      "type",
      "veth",
      "peer",
      "name",
      names.peer,
    ]);
    if (made.exitCode === 0) return { block, names };
  }
  throw new Error("no free 203.0.113.0/24 block for an external test host");
}

/** Starts an external host; `stop()` removes its namespace and links. */
export async function startExternalHost(port = 8080): Promise<ExternalHost> {
  const { block, names } = await claimBlock();
  const base = block * 4;
  const hostSide = `203.0.113.${base + 1}`;
  const address = `203.0.113.${base + 2}`;
  let child: ChildProcess | undefined;
  const cleanup = async () => {
    child?.kill("SIGKILL");
    await run("ip", ["netns", "del", names.ns]);
    await run("ip", ["link", "del", names.host]);
  };
  try {
    await ip(["netns", "add", names.ns]);
    await ip(["link", "set", names.peer, "netns", names.ns]);
    await ip(["addr", "add", `${hostSide}/30`, "dev", names.host]);
    await ip(["link", "set", names.host, "up"]);
    await ip(["-n", names.ns, "addr", "add", `${address}/30`, "dev", names.peer]);
    await ip(["-n", names.ns, "link", "set", names.peer, "up"]);
    await ip(["-n", names.ns, "link", "set", "lo", "up"]);
    const script = new URL("./external-server.ts", import.meta.url).pathname;
    child = spawn(
      "ip",
      ["netns", "exec", names.ns, process.execPath, script, String(port), address],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const received: ReceivedRequest[] = [];
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the external host did not start")), 15_000);
      child?.once("exit", (code) => reject(new Error(`the external host exited with ${code}`)));
      lines.on("line", (line) => {
        const entry = JSON.parse(line) as ReceivedRequest & { listening?: number };
        if (entry.listening) {
          clearTimeout(timer);
          resolve();
        } else received.push(entry);
      });
    });
    return { address, port, url: `http://${address}:${port}`, received, stop: cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** Removes namespaces and links that external hosts of dead test processes left behind. */
export async function removeStaleExternalHosts(): Promise<void> {
  const listed = await run("ip", ["netns", "list"]);
  for (const line of listed.stdout.split("\n")) {
    const match = new RegExp(`^(${NAMESPACE_PREFIX}(\\d+)-(\\d+))`).exec(line);
    if (!match) continue;
    const [, ns, block, pid] = match;
    if (isAlive(Number(pid))) continue;
    await run("ip", ["netns", "del", ns as string]);
    await run("ip", ["link", "del", `tgx${block}h`]);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
