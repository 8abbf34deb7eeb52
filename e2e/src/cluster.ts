/** The test platform's cluster as the tests look at it: kubectl as its admin. */
import assert from "node:assert/strict";
import { SSH_USERS_SECRET, SshUsersFile } from "@turgon/api/routing";
import { kubectl } from "@turgon/dev/testing";

/** Runs kubectl as the cluster's admin; fails the test with its output if it fails. */
export async function must(args: string[]): Promise<string> {
  const result = await kubectl(args);
  assert.equal(result.exitCode, 0, `kubectl ${args.join(" ")}: ${result.tail}`);
  return result.stdout;
}

/** One data key of a Secret (namespace/name), decoded; undefined when the key (or Secret) is absent. */
export async function secretValue(ref: string, key: string): Promise<Buffer | undefined> {
  const [namespace, name] = ref.split("/") as [string, string];
  const result = await kubectl(["get", "secret", name, "-n", namespace, "-o", "json"]);
  if (result.exitCode !== 0) return undefined;
  const value = (JSON.parse(result.stdout) as { data?: Record<string, string> }).data?.[key];
  return value === undefined ? undefined : Buffer.from(value, "base64");
}

/** A dashboard's list in the SSH users Secret, as the router's gateway would parse it. */
export async function sshUsers(key: string): Promise<SshUsersFile | undefined> {
  const value = await secretValue(`turgon-system/${SSH_USERS_SECRET}`, key);
  return value === undefined ? undefined : SshUsersFile.parse(JSON.parse(value.toString("utf8")));
}

/**
 * Reads until `accept` holds (for what the dashboard does in the
 * background, such as writing the SSH users Secret): the one shared helper.
 */
export { eventually } from "@turgon/dev/testing";
