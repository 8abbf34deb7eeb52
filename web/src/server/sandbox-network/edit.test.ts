/**
 * Editing a Sandbox's own spec.network on the real API server and a scratch
 * database, as impersonated users: validation per field (schema, the
 * operator's override rule, the API server's CEL rule through a dry-run
 * that persists nothing), saves that write spec.network alone, a conflict
 * on a concurrent spec.network edit but not on a status write in between,
 * RBAC's refusal for another team's member, history and restore, and the
 * approval of a Sandbox-kind request through the applier.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { TRPCError } from "@trpc/server";
import type { Sandbox } from "@turgon/api/crd";
import { KubeApiError } from "../kube/errors.ts";
import { must } from "../kube/testing.ts";
import { historyOf } from "../policies/changes.ts";
import { PolicyConflict } from "../policies/conflicts.ts";
import {
  applyObject,
  createPolicyAsAdmin,
  fieldErrorsOf,
  policyEditors,
} from "../policies/testing.ts";
import { allowHostApplier } from "../policy-requests/applier.ts";
import { mayEditSandbox } from "./access.ts";
import { previewNetwork, restoreNetworkVersion, saveNetwork, validateNetwork } from "./edit.ts";
import { networkOf, readSandbox } from "./kube.ts";

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected a refusal");
}

describe("editing a sandbox's own network rules", () => {
  const editors = policyEditors("sbnet");
  const { namespace, owner, owner2, member, outsider, deps } = editors;
  /** A Sandbox as the cluster's admin (no operator runs here: it stays Pending). */
  const createSandbox = (name: string, network?: Sandbox["spec"]["network"]) =>
    applyObject({
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name, namespace },
      spec: {
        image: "debian:test",
        env: [{ name: "KEEP", value: "me" }],
        ...(network ? { network } : {}),
      },
    });
  /** A status write as the operator makes them: bumps resourceVersion, not generation. */
  const writeStatus = (name: string, phase: string) =>
    must([
      "patch",
      "sandboxes.turgon.dev",
      name,
      "-n",
      namespace,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { phase } }),
    ]);

  it("validate: a bad host, a bad CIDR (the API server's CEL rule too) and an override the policy forbids are named by field; nothing is persisted", async () => {
    await createPolicyAsAdmin(namespace, "strict", {
      allowedHosts: ["example.com"],
      deniedMethods: ["DELETE"],
    });
    await createSandbox("v", { policyRef: { name: "strict" } });
    const before = await readSandbox(deps(owner).apis, namespace, "v");

    const issues = await validateNetwork(deps(owner), {
      namespace,
      name: "v",
      network: {
        policyRef: { name: "strict" },
        allowedHosts: ["example.com", "http://bad/"],
        deniedCIDRs: ["10.0.0.0/33"],
      },
    });
    const by = (field: string, source: string) =>
      issues.filter((i) => i.field === field && i.source === source);
    assert.ok(by("spec.network.allowedHosts[1]", "schema").length > 0, JSON.stringify(issues));
    assert.ok(by("spec.network.deniedCIDRs[0]", "schema").length > 0, JSON.stringify(issues));
    const cel = by("spec.network.deniedCIDRs[0]", "apiserver");
    assert.match(cel[0]?.message ?? "", /must be a CIDR/, JSON.stringify(issues));

    // Schema-valid, but relaxing a policy without allowSandboxOverrides: the operator's refusal, by field.
    const relaxing = await validateNetwork(deps(owner), {
      namespace,
      name: "v",
      network: { policyRef: { name: "strict" }, allowedHosts: ["example.com", "evil.example"] },
    });
    const refused = relaxing.filter((i) => i.source === "policy");
    assert.deepEqual(
      refused.map((i) => i.field),
      ["spec.network.allowedHosts[1]"],
      JSON.stringify(relaxing),
    );
    assert.match(refused[0]?.message ?? "", /evil\.example.*allowSandboxOverrides: true/);
    // A policy that does not exist is named at policyRef.name.
    const missing = await validateNetwork(deps(owner), {
      namespace,
      name: "v",
      network: { policyRef: { name: "nope" } },
    });
    assert.deepEqual(
      missing.map((i) => i.field),
      ["spec.network.policyRef.name"],
    );

    const good = await validateNetwork(deps(owner), {
      namespace,
      name: "v",
      network: { policyRef: { name: "strict" }, deniedCIDRs: ["10.0.0.0/8"] },
    });
    assert.deepEqual(good, []);
    const after = await readSandbox(deps(owner).apis, namespace, "v");
    assert.equal(after.metadata.generation, before.metadata.generation);
    assert.deepEqual(after.spec.network, { policyRef: { name: "strict" } });

    // A save of the relaxing rules is refused by field too, and writes nothing.
    const error = await rejection(
      saveNetwork(deps(owner), owner, {
        namespace,
        name: "v",
        network: { policyRef: { name: "strict" }, allowedHosts: ["evil.example"] },
        loadedNetwork: { policyRef: { name: "strict" } },
      }),
    );
    assert.ok(fieldErrorsOf(error)["spec.network.allowedHosts[0]"]);
    assert.equal(await editors.db.policyChange.count({ where: { name: "v" } }), 0);
  });

  it("validate: a secret's Secret must be injectable and have the key (what the operator would refuse), named by field", async () => {
    await applyObject({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "gh", namespace, labels: { "turgon.dev/injectable": "true" } },
      stringData: { token: "not-for-anyone" },
    });
    await applyObject({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "plain", namespace },
      stringData: { token: "not-injectable" },
    });
    await createSandbox("sec");
    const secret = (name: string, key: string) => ({
      secrets: [{ name: "GH_TOKEN", hosts: ["api.github.com"], secretKeyRef: { name, key } }],
    });
    const fields = async (network: unknown) =>
      (await validateNetwork(deps(owner), { namespace, name: "sec", network })).map((i) => [
        i.field,
        i.source,
      ]);
    assert.deepEqual(await fields(secret("gh", "token")), []);
    assert.deepEqual(await fields(secret("gh", "nope")), [
      ["spec.network.secrets[0].secretKeyRef.key", "policy"],
    ]);
    assert.deepEqual(await fields(secret("plain", "token")), [
      ["spec.network.secrets[0].secretKeyRef.name", "policy"],
    ]);
    // No issue carries a value.
    const issues = await validateNetwork(deps(owner), {
      namespace,
      name: "sec",
      network: secret("plain", "token"),
    });
    assert.ok(!JSON.stringify(issues).includes("not-injectable"));
    assert.ok(!JSON.stringify(issues).includes("not-for-anyone"));
  });

  it("save writes spec.network alone, records history, and the preview names this sandbox", async () => {
    await createSandbox("s");
    const preview = await previewNetwork(deps(owner), {
      namespace,
      name: "s",
      network: { allowedHosts: ["api.example.com"] },
      loadedNetwork: {},
    });
    assert.deepEqual(preview.addedHosts, ["api.example.com"]);
    assert.match(preview.diff, /\+allowedHosts:/);
    assert.equal(preview.stale, false);
    assert.deepEqual(
      preview.reaches.map((r) => [r.name, r.phase]),
      [["s", "Pending"]],
    );

    const change = await saveNetwork(deps(owner), owner, {
      namespace,
      name: "s",
      network: { allowedHosts: ["api.example.com"], deniedMethods: ["DELETE"] },
      loadedNetwork: {},
      reason: "the app calls the API",
    });
    assert.equal(change.kind, "Sandbox");
    assert.deepEqual(change.addedHosts, ["api.example.com"]);
    const saved = await readSandbox(deps(owner).apis, namespace, "s");
    assert.deepEqual(saved.spec.network, {
      allowedHosts: ["api.example.com"],
      deniedMethods: ["DELETE"],
    });
    // The rest of the spec is untouched.
    assert.equal(saved.spec.image, "debian:test");
    assert.deepEqual(saved.spec.env, [{ name: "KEEP", value: "me" }]);

    const rows = await historyOf(editors.db, { namespace, kind: "Sandbox", name: "s" });
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.userEmail, "owner@example.com");
    assert.equal(rows[0]?.reason, "the app calls the API");
    assert.match(rows[0]?.diff ?? "", /\+ {2}- api\.example\.com/);

    // No rules at all: spec.network is removed, not left as {}.
    await saveNetwork(deps(owner), owner, {
      namespace,
      name: "s",
      network: {},
      loadedNetwork: saved.spec.network,
    });
    const cleared = await readSandbox(deps(owner).apis, namespace, "s");
    assert.equal(cleared.spec.network, undefined);
    assert.equal(cleared.spec.image, "debian:test");
    const [latest] = await historyOf(editors.db, { namespace, kind: "Sandbox", name: "s" });
    assert.deepEqual(latest?.removedHosts, ["api.example.com"]);
  });

  it("a status write in between is not a conflict; a concurrent spec.network edit is, showing theirs", async () => {
    await createSandbox("c", { allowedHosts: ["one.example"] });
    const loaded = networkOf(await readSandbox(deps(owner).apis, namespace, "c"));
    const rvBefore = (await readSandbox(deps(owner).apis, namespace, "c")).metadata.resourceVersion;
    await writeStatus("c", "Running");
    const afterStatus = await readSandbox(deps(owner).apis, namespace, "c");
    assert.notEqual(afterStatus.metadata.resourceVersion, rvBefore, "the status write bumped it");
    await saveNetwork(deps(owner), owner, {
      namespace,
      name: "c",
      network: { allowedHosts: ["one.example", "two.example"] },
      loadedNetwork: loaded,
      reason: "mine",
    });
    // The operator's status survives the save (spec.network alone was written).
    assert.equal((await readSandbox(deps(owner).apis, namespace, "c")).status?.phase, "Running");

    // owner2 loaded the same version as owner did, and saves after owner: CONFLICT with owner's change.
    const error = await rejection(
      saveNetwork(deps(owner2), owner2, {
        namespace,
        name: "c",
        network: { allowedHosts: ["one.example", "three.example"] },
        loadedNetwork: loaded,
      }),
    );
    assert.ok(error instanceof TRPCError && error.code === "CONFLICT", String(error));
    assert.ok(error.cause instanceof PolicyConflict);
    assert.equal(error.cause.details.by?.email, "owner@example.com");
    assert.equal(error.cause.details.by?.reason, "mine");
    assert.match(error.cause.details.theirDiff, /\+ {2}- two\.example/);
    assert.deepEqual(
      (await readSandbox(deps(owner).apis, namespace, "c")).spec.network?.allowedHosts,
      ["one.example", "two.example"],
    );
    // A status write between owner2's reload and save is still fine.
    const reloaded = networkOf(await readSandbox(deps(owner2).apis, namespace, "c"));
    await writeStatus("c", "Suspended");
    await saveNetwork(deps(owner2), owner2, {
      namespace,
      name: "c",
      network: { ...reloaded, allowedHosts: ["one.example", "two.example", "three.example"] },
      loadedNetwork: reloaded,
    });
    assert.equal(
      (await historyOf(editors.db, { namespace, kind: "Sandbox", name: "c" })).length,
      2,
    );
  });

  it("between the save's read and its write: a status write is retried over; a spec.network edit is a conflict", async () => {
    await createSandbox("w", { allowedHosts: ["one.example"] });
    /** The owner's deps, whose first patch of the sandbox is preceded by `meanwhile` (as the admin). */
    const racing = (meanwhile: () => Promise<unknown>) => {
      const base = deps(owner);
      let patches = 0;
      const customObjects = new Proxy(base.apis.customObjects, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver);
          if (property !== "patchNamespacedCustomObject") return value;
          return async (...args: unknown[]) => {
            patches++;
            if (patches === 1) await meanwhile();
            return value.apply(target, args);
          };
        },
      });
      return { deps: { ...base, apis: { ...base.apis, customObjects } }, patches: () => patches };
    };
    const status = racing(() => writeStatus("w", "Running"));
    await saveNetwork(status.deps, owner, {
      namespace,
      name: "w",
      network: { allowedHosts: ["one.example", "two.example"] },
      loadedNetwork: { allowedHosts: ["one.example"] },
    });
    // The first write was refused by its resourceVersion precondition (409), the second went through.
    assert.equal(status.patches(), 2);
    const saved = await readSandbox(deps(owner).apis, namespace, "w");
    assert.deepEqual(saved.spec.network?.allowedHosts, ["one.example", "two.example"]);
    assert.equal(saved.status?.phase, "Running");

    const edit = racing(() =>
      must([
        "patch",
        "sandboxes.turgon.dev",
        "w",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        JSON.stringify({ spec: { network: { allowedHosts: ["kubectl.example"] } } }),
      ]),
    );
    const error = await rejection(
      saveNetwork(edit.deps, owner, {
        namespace,
        name: "w",
        network: { allowedHosts: ["mine.example"] },
        loadedNetwork: { allowedHosts: ["one.example", "two.example"] },
      }),
    );
    assert.ok(error instanceof TRPCError && error.code === "CONFLICT", String(error));
    assert.ok(error.cause instanceof PolicyConflict);
    // Not saved from the dashboard: no author, but their change is shown.
    assert.equal(error.cause.details.by, null);
    assert.match(error.cause.details.theirDiff, /\+ {2}- kubectl\.example/);
    assert.deepEqual(
      (await readSandbox(deps(owner).apis, namespace, "w")).spec.network?.allowedHosts,
      ["kubectl.example"],
    );
  });

  it("RBAC decides: another team's member is refused; the team's member and owner may save", async () => {
    await createSandbox("r");
    assert.equal(await mayEditSandbox(deps(outsider).apis, namespace, "r"), false);
    assert.equal(await mayEditSandbox(deps(owner).apis, namespace, "r"), true);
    assert.equal(await mayEditSandbox(deps(member).apis, namespace, "r"), true);
    // Each call made only when awaited, so no refusal goes unhandled meanwhile.
    for (const attempt of [
      () =>
        saveNetwork(deps(outsider), outsider, {
          namespace,
          name: "r",
          network: { allowedHosts: ["x.example"] },
          loadedNetwork: {},
        }),
      () => validateNetwork(deps(outsider), { namespace, name: "r", network: {} }),
      () => previewNetwork(deps(outsider), { namespace, name: "r", network: {} }),
    ]) {
      const error = await rejection(attempt());
      assert.ok(error instanceof KubeApiError && error.status === 403, String(error));
    }
    await saveNetwork(deps(member), member, {
      namespace,
      name: "r",
      network: { allowedHosts: ["m.example"] },
      loadedNetwork: {},
    });
    assert.deepEqual(
      (await readSandbox(deps(owner).apis, namespace, "r")).spec.network?.allowedHosts,
      ["m.example"],
    );
    assert.equal(await editors.db.policyChange.count({ where: { namespace, name: "r" } }), 1);
  });

  it("restore writes an earlier version as a new one", async () => {
    await createSandbox("h");
    const first = await saveNetwork(deps(owner), owner, {
      namespace,
      name: "h",
      network: { allowedHosts: ["a.example"] },
      loadedNetwork: {},
    });
    await saveNetwork(deps(owner), owner, {
      namespace,
      name: "h",
      network: { allowedHosts: ["b.example"], mode: "report" },
      loadedNetwork: { allowedHosts: ["a.example"] },
    });
    const restored = await restoreNetworkVersion(deps(owner), owner, {
      namespace,
      name: "h",
      changeId: first.id,
    });
    assert.equal(restored.action, "restore");
    assert.equal(restored.restoredFrom, first.id);
    assert.deepEqual(networkOf(await readSandbox(deps(owner).apis, namespace, "h")), {
      allowedHosts: ["a.example"],
    });
    const rows = await historyOf(editors.db, { namespace, kind: "Sandbox", name: "h" });
    assert.deepEqual(
      rows.map((r) => r.action),
      ["restore", "update", "update"],
    );
    // Another sandbox's version cannot be restored here.
    const error = await rejection(
      restoreNetworkVersion(deps(owner), owner, { namespace, name: "r", changeId: first.id }),
    );
    assert.ok(error instanceof TRPCError && error.code === "NOT_FOUND");
  });

  it("approving a Sandbox-kind request adds the host to spec.network.allowedHosts, linked to the request; a policy without overrides refuses, naming the field", async () => {
    await createSandbox("a", { allowedHosts: ["keep.example"] });
    const requestId = randomUUID();
    const apply = allowHostApplier(owner, deps(owner));
    const actor = { id: owner.userId, email: owner.email, isAdmin: false, teams: owner.teams };
    const { id } = await apply(actor, {
      namespace,
      kind: "Sandbox",
      name: "a",
      host: "new.example",
      reason: "asked for",
      requestId,
    });
    const row = await editors.db.policyChange.findUniqueOrThrow({ where: { id } });
    assert.equal(row.kind, "Sandbox");
    assert.equal(row.action, "approve");
    assert.equal(row.requestId, requestId);
    assert.deepEqual(row.addedHosts, ["new.example"]);
    assert.deepEqual(
      (await readSandbox(deps(owner).apis, namespace, "a")).spec.network?.allowedHosts,
      ["keep.example", "new.example"],
    );
    // A second approval of a host already allowed writes nothing, and says so with an empty diff.
    const again = await apply(actor, {
      namespace,
      kind: "Sandbox",
      name: "a",
      host: "new.example",
      requestId: randomUUID(),
    });
    assert.equal(
      (await editors.db.policyChange.findUniqueOrThrow({ where: { id: again.id } })).diff,
      "",
    );

    // The sandbox's policy allows no overrides and not the host: refused, naming the field.
    await createPolicyAsAdmin(namespace, "closed", { allowedHosts: ["example.com"] });
    await createSandbox("b", { policyRef: { name: "closed" } });
    const error = await rejection(
      apply(actor, { namespace, kind: "Sandbox", name: "b", host: "evil.example", requestId }),
    );
    assert.ok(error instanceof TRPCError && error.code === "PRECONDITION_FAILED", String(error));
    assert.match(error.message, /spec\.network\.allowedHosts.*allowSandboxOverrides/);
    assert.equal(
      (await readSandbox(deps(owner).apis, namespace, "b")).spec.network?.allowedHosts,
      undefined,
    );
    // The team's member may patch the sandbox, but approving is for owners and admins.
    const byMember = await rejection(
      allowHostApplier(member, deps(member))(actor, {
        namespace,
        kind: "Sandbox",
        name: "a",
        host: "m.example",
        requestId,
      }),
    );
    assert.ok(byMember instanceof TRPCError && byMember.code === "FORBIDDEN", String(byMember));
    // Another team's owner is refused by RBAC.
    const theirs = allowHostApplier(outsider, deps(outsider));
    const refused = await rejection(
      theirs(actor, { namespace, kind: "Sandbox", name: "a", host: "x.example", requestId }),
    );
    assert.ok(
      (refused instanceof KubeApiError && refused.status === 403) ||
        (refused instanceof TRPCError && refused.code === "FORBIDDEN"),
      String(refused),
    );
    assert.deepEqual(
      (await readSandbox(deps(owner).apis, namespace, "a")).spec.network?.allowedHosts,
      ["keep.example", "new.example"],
    );
  });
});
