import { join } from "node:path";
import { testEnvironment } from "@turgon/dev/testing";
import type { SandboxVm } from "./vm/launcher.ts";

/**
 * Flags for an agent under test: its files under `dir` (token in
 * `dir/token`), the test platform's API server, free ports unless given.
 * Later flags in `extra` override earlier ones.
 */
export function testAgentFlags(
  dir: string,
  nodeName: string,
  redisUrl: string,
  extra: Record<string, string> = {},
): string[] {
  const flags: Record<string, string> = {
    "node-name": nodeName,
    "api-port": "0",
    "ingress-port": "0",
    "token-file": join(dir, "token"),
    kubeconfig: testEnvironment().kubeconfig,
    "state-dir": join(dir, "state"),
    "spool-dir": join(dir, "spool"),
    "redis-url": redisUrl,
    ...extra,
  };
  return Object.entries(flags).flatMap(([name, value]) => [`--${name}`, value]);
}

/** Writes a file in a sandbox's guest through exec (what every runtime's VM offers). */
export async function writeGuestFile(vm: SandboxVm, path: string, content: string): Promise<void> {
  const result = await vm.exec(["/bin/sh", "-c", 'cat > "$1"', "write-guest-file", path], {
    stdin: content,
  });
  if (result.exitCode !== 0) throw new Error(`writing ${path} in the guest: ${result.stderr}`);
}

/** Guest-side test servers (HTTP echo, WebSocket echo) for routing tests. */
export const GUEST_FIXTURES = new URL("./vm/fixtures/", import.meta.url).pathname;
