/**
 * The SSH users Secret on the real API server, read with the router's own
 * identity: the shipped RBAC grants just that Secret, and the router follows
 * it live.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  ApiException,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type { SshUsersFile } from "@turgon/api/routing";
import { kubeConfigAs, kubectl, testKubeConfig, uniqueName } from "@turgon/dev/testing";
import { eventually } from "@turgon/operator/testing";
import { logger } from "../logger.ts";
import { parseSshUsers, SshUsersError, SshUsersSecret, usersOfSecret } from "./users.ts";

const ROUTER = "system:serviceaccount:turgon-system:turgon-router";
const GROUPS = ["system:serviceaccounts", "system:serviceaccounts:turgon-system"];
const KEY_A =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ada@example";
const KEY_B =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBSlPUUTnXhcIRpbXQnbhfTsxq7mgkpQvTlmqSRi2Q8a bob@example";
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const quiet = logger.child({}, { level: "silent" });

function data(documents: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(documents).map(([key, value]) => [
      key,
      Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64"),
    ]),
  );
}

describe("SSH users from a Secret", () => {
  let admin: CoreV1Api;
  let asRouter: KubeConfig;
  const name = uniqueName("ssh-users");

  before(async () => {
    admin = testKubeConfig().makeApiClient(CoreV1Api);
    const ns = await kubectl(["create", "namespace", "turgon-system"]);
    assert.ok(ns.exitCode === 0 || /already exists/i.test(ns.tail), ns.tail);
    const rbac = await kubectl([
      "apply",
      "-f",
      new URL("../../deploy/rbac.yaml", import.meta.url).pathname,
    ]);
    assert.equal(rbac.exitCode, 0, rbac.tail);
    // The mechanics are tested on a Secret of this test's own, so that stacks using the
    // shipped name meanwhile cannot change what it sees; the role below mirrors the shipped one.
    const role = await kubectl([
      "create",
      "role",
      name,
      "-n",
      "turgon-system",
      "--verb=get,list,watch",
      "--resource=secrets",
      `--resource-name=${name}`,
    ]);
    assert.equal(role.exitCode, 0, role.tail);
    const binding = await kubectl([
      "create",
      "rolebinding",
      name,
      "-n",
      "turgon-system",
      `--role=${name}`,
      "--serviceaccount=turgon-system:turgon-router",
    ]);
    assert.equal(binding.exitCode, 0, binding.tail);
    asRouter = await kubeConfigAs(ROUTER, GROUPS);
  });

  after(async () => {
    await kubectl(["delete", "role,rolebinding,secret", name, "-n", "turgon-system"]);
  });

  it("the shipped RBAC lets the router list and watch turgon-ssh-users by name, and no other Secret", async () => {
    const core = asRouter.makeApiClient(CoreV1Api);
    const byName = await core.listNamespacedSecret({
      namespace: "turgon-system",
      fieldSelector: "metadata.name=turgon-ssh-users",
    });
    assert.ok(Array.isArray(byName.items));
    const refused = async (promise: Promise<unknown>, what: string) =>
      assert.rejects(promise, (error: unknown) => {
        assert.ok(error instanceof ApiException, what);
        assert.equal(error.code, 403, what);
        return true;
      });
    await refused(core.listNamespacedSecret({ namespace: "turgon-system" }), "every Secret");
    await refused(
      core.listNamespacedSecret({
        namespace: "turgon-system",
        fieldSelector: "metadata.name=turgon-web-auth",
      }),
      "another Secret by name",
    );
  });

  it("follows the Secret live: created, a second writer's key, a bad document, deleted", async () => {
    let seen: SshUsersFile = [{ user: "before-start", admin: false, teams: [], keys: [KEY_A] }];
    const source = new SshUsersSecret(
      asRouter,
      `turgon-system/${name}`,
      (users) => {
        seen = users;
      },
      quiet,
    );
    await source.start();
    try {
      assert.deepEqual(seen, [], "no Secret yet: nobody");
      await admin.createNamespacedSecret({
        namespace: "turgon-system",
        body: {
          metadata: { name },
          data: data({ "users.json": [{ user: "ada@example.com", teams: ["a"], keys: [KEY_A] }] }),
        },
      });
      const users = () => seen.map((u) => u.user).join(",");
      await eventually(
        "the dashboard's users",
        async () => users(),
        (u) => u === "ada@example.com",
      );
      assert.deepEqual(seen[0], {
        user: "ada@example.com",
        admin: false,
        teams: ["a"],
        keys: [KEY_A],
      });

      await admin.patchNamespacedSecret(
        {
          namespace: "turgon-system",
          name,
          body: {
            data: data({ "break-glass.json": [{ user: "ops", admin: true, keys: [KEY_B] }] }),
          },
        },
        mergePatch,
      );
      await eventually(
        "both writers' users",
        async () => users(),
        (u) => u === "ops,ada@example.com",
      );

      await admin.patchNamespacedSecret(
        {
          namespace: "turgon-system",
          name,
          body: { data: data({ "users.json": '[{"user": "ada", "keys": []}]' }) },
        },
        mergePatch,
      );
      await eventually(
        "a bad document shuts out only its own users",
        async () => users(),
        (u) => u === "ops",
      );

      await admin.deleteNamespacedSecret({ namespace: "turgon-system", name });
      await eventually(
        "deleted: nobody",
        async () => seen.length,
        (n) => n === 0,
      );
    } finally {
      source.stop();
    }
  });

  it("names what is wrong in a users document", () => {
    assert.throws(
      () => parseSshUsers('[{"user": "ada", "keys": ["not a key"]}]', "users.json"),
      (error: unknown) =>
        error instanceof SshUsersError &&
        /^users\.json: .*keys.*OpenSSH public key/.test(error.message),
    );
    assert.throws(() => parseSshUsers("{", "users.json"), /users\.json: not JSON/);
    assert.deepEqual(usersOfSecret({ data: data({ "notes.txt": "hello" }) }, quiet), []);
  });
});
