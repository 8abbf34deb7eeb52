/**
 * The SSH users list on the real API server: written as the dashboard's own
 * identity (web/deploy/rbac.yaml), beside other writers' keys, created when
 * missing, retried after a failure, and never logged with its keys.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { AuthorizationV1Api, CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import {
  SSH_USERS_SECRET,
  type SshUsersFile,
  SshUsersFile as SshUsersSchema,
} from "@turgon/api/routing";
import { kubectl, testKubeConfig, uniqueName } from "@turgon/dev/testing";
import pino from "pino";
import { DASHBOARD_USER, dashboardKubeConfig, installWebRbac, must } from "../kube/testing.ts";
import { SshUsersPublisher } from "./publisher.ts";

const KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICVT7cGyk1Zu7LSBPNNY1mBcUPMBD4E8BI2OYYw1AIYF";
const KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFf4y0qfMdhp0A7b6HkTTtvYFn6N3lY0ZrFyyzhRZEAv";
const SYSTEM = "turgon-system";

/** A logger whose lines the test reads; `waitFor` resolves on the first line matching. */
function capturedLogger() {
  const lines: string[] = [];
  const waiters: { match: RegExp; resolve: () => void }[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      const line = String(chunk);
      lines.push(line);
      for (const waiter of waiters.splice(0))
        if (waiter.match.test(line)) waiter.resolve();
        else waiters.push(waiter);
      done();
    },
  });
  return {
    log: pino({ level: "debug" }, stream),
    lines,
    waitFor: (match: RegExp) =>
      lines.some((l) => match.test(l))
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push({ match, resolve })),
  };
}

async function readKey(kc: KubeConfig, namespace: string, name: string, key: string) {
  const secret = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ namespace, name });
  const value = secret.data?.[key];
  return {
    secret,
    users:
      value === undefined
        ? undefined
        : SshUsersSchema.parse(JSON.parse(Buffer.from(value, "base64").toString("utf8"))),
  };
}

describe("the dashboard's RBAC in turgon-system", () => {
  before(installWebRbac);

  it("lets turgon-web read the token key, get and patch turgon-ssh-users and create Secrets, and nothing more", async () => {
    const authz = testKubeConfig().makeApiClient(AuthorizationV1Api);
    const may = async (verb: string, name?: string, namespace = SYSTEM) =>
      (
        await authz.createSubjectAccessReview({
          body: {
            spec: {
              user: DASHBOARD_USER,
              groups: ["system:serviceaccounts", "system:serviceaccounts:turgon-system"],
              resourceAttributes: {
                verb,
                resource: "secrets",
                namespace,
                ...(name ? { name } : {}),
              },
            },
          },
        })
      ).status?.allowed === true;
    assert.equal(await may("get", "turgon-ingress-keys"), true);
    assert.equal(await may("get", SSH_USERS_SECRET), true);
    assert.equal(await may("patch", SSH_USERS_SECRET), true);
    assert.equal(await may("create"), true);
    for (const [verb, name, namespace] of [
      ["patch", "turgon-ingress-keys"],
      ["update", SSH_USERS_SECRET],
      ["delete", SSH_USERS_SECRET],
      ["get", "turgon-router-token"],
      ["list", undefined],
      ["watch", undefined],
      ["get", "turgon-ingress-keys", "default"],
      ["create", undefined, "default"],
    ] as const)
      assert.equal(
        await may(verb, name, namespace),
        false,
        `${verb} ${namespace ?? SYSTEM}/${name ?? "*"}`,
      );
  });
});

describe("writing the SSH users Secret", () => {
  const run = uniqueName("ssh-users");
  const ours = `${run}.json`;
  const theirs = `${run}-other.json`;
  const scratchNamespace = uniqueName("ssh-users-ns");
  const publishers: SshUsersPublisher[] = [];

  before(async () => {
    await installWebRbac();
    const created = await kubectl(["create", "secret", "generic", SSH_USERS_SECRET, "-n", SYSTEM]);
    if (created.exitCode !== 0 && !/already exists/i.test(created.tail)) assert.fail(created.tail);
    const other: SshUsersFile = [{ user: "break-glass", admin: true, teams: [], keys: [KEY_B] }];
    const value = Buffer.from(JSON.stringify(other)).toString("base64");
    await must([
      "patch",
      "secret",
      SSH_USERS_SECRET,
      "-n",
      SYSTEM,
      "-p",
      JSON.stringify({ data: { [theirs]: value } }),
    ]);
  });
  after(async () => {
    for (const p of publishers) p.stop();
    const patch = JSON.stringify({ data: { [ours]: null, [theirs]: null } });
    await kubectl(["patch", "secret", SSH_USERS_SECRET, "-n", SYSTEM, "-p", patch]);
    await kubectl(["delete", "namespace", scratchNamespace, "--wait=false"]);
  });

  it("as the dashboard, patches only its own key and leaves other writers' keys alone; a burst of changes ends with the latest", async () => {
    const dashboard = await dashboardKubeConfig();
    const captured = capturedLogger();
    let current: SshUsersFile = [
      { user: "ada@example.com", admin: false, teams: ["ml"], keys: [KEY_A] },
    ];
    const publisher = new SshUsersPublisher({
      kc: dashboard,
      target: { namespace: SYSTEM, name: SSH_USERS_SECRET, key: ours },
      load: async () => current,
      log: captured.log,
    });
    publishers.push(publisher);
    publisher.request("first");
    await publisher.idle();
    let read = await readKey(testKubeConfig(), SYSTEM, SSH_USERS_SECRET, ours);
    assert.deepEqual(read.users, current);
    assert.deepEqual((await readKey(testKubeConfig(), SYSTEM, SSH_USERS_SECRET, theirs)).users, [
      { user: "break-glass", admin: true, teams: [], keys: [KEY_B] },
    ]);

    for (const teams of [["a"], ["a", "b"], ["a", "b", "c"]]) {
      current = [{ user: "ada@example.com", admin: true, teams, keys: [KEY_A, KEY_B] }];
      publisher.request("change");
    }
    await publisher.idle();
    read = await readKey(testKubeConfig(), SYSTEM, SSH_USERS_SECRET, ours);
    assert.deepEqual(read.users, current);
    // Coalesced: at most the first write and one for the burst (the burst may join a write under way).
    assert.ok(publisher.written <= 3, `${publisher.written} writes`);
    assert.ok(read.secret.data?.[theirs], "the other writer's key is still there");

    // Logs say how many, never which keys.
    assert.ok(captured.lines.some((l) => /SSH users written/.test(l)));
    for (const line of captured.lines)
      for (const key of [KEY_A, KEY_B])
        assert.ok(
          !line.includes(key.split(" ")[1] as string),
          `a log line carries key material: ${line}`,
        );
  });

  it("creates the Secret when it is missing, and retries a failed write until it succeeds", async () => {
    // The cluster admin's identity: the scratch namespace is not turgon-system.
    const captured = capturedLogger();
    const publisher = new SshUsersPublisher({
      kc: testKubeConfig(),
      target: { namespace: scratchNamespace, name: SSH_USERS_SECRET, key: ours },
      load: async () => [{ user: "ada@example.com", admin: false, teams: [], keys: [KEY_A] }],
      log: captured.log,
      retryDelaysMs: [20, 50],
    });
    publishers.push(publisher);
    publisher.request("start-up");
    // Its namespace does not exist yet: the write fails, is logged and retried.
    await captured.waitFor(/could not write the SSH users; retrying/);
    assert.ok(publisher.failures >= 1);
    assert.equal(publisher.written, 0);
    await must(["create", "namespace", scratchNamespace]);
    await publisher.idle();
    assert.equal(publisher.written, 1);
    assert.equal(publisher.failures, 0);
    const read = await readKey(testKubeConfig(), scratchNamespace, SSH_USERS_SECRET, ours);
    assert.deepEqual(read.users, [
      { user: "ada@example.com", admin: false, teams: [], keys: [KEY_A] },
    ]);
    assert.ok(captured.lines.some((l) => /created the SSH users Secret/.test(l)));
    const failure = captured.lines.find((l) => /retrying/.test(l)) ?? "";
    assert.match(failure, /"status":404/);
    assert.ok(!failure.includes(KEY_A.split(" ")[1] as string));
  });
});
