/**
 * Editing policies on the real API server and a scratch database, as
 * impersonated users: validation (schema and the API server's dry-run,
 * nothing persisted), saves with a stale resourceVersion, history and
 * restore, who may do what, and the Secret picker never carrying a value.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TRPCError } from "@trpc/server";
import { KubeApiError } from "../kube/errors.ts";
import { historyOf } from "./changes.ts";
import { PolicyConflict } from "./conflicts.ts";
import {
  createNewPolicy,
  previewChange,
  restoreVersion,
  savePolicy,
  validateSpec,
} from "./edit.ts";
import { readPolicy } from "./kube.ts";
import { injectableSecrets } from "./secrets.ts";
import { applyObject, createPolicyAsAdmin, fieldErrorsOf, policyEditors } from "./testing.ts";

describe("editing policies", () => {
  const editors = policyEditors("edit");
  const { namespace, owner, owner2, member, outsider, deps } = editors;

  it("validate: a bad host pattern and a bad CIDR are named by field (schema and API server); a valid spec passes; nothing is persisted", async () => {
    await createPolicyAsAdmin(namespace, "v", { allowedHosts: ["example.com"] });
    const before = await readPolicy(deps(owner).apis, namespace, "v");
    const issues = await validateSpec(deps(owner), {
      namespace,
      name: "v",
      spec: { allowedHosts: ["example.com", "http://bad/"], deniedCIDRs: ["10.0.0.0/33"] },
    });
    const by = (field: string, source: string) =>
      issues.filter((i) => i.field === field && i.source === source);
    assert.ok(by("spec.allowedHosts[1]", "schema").length > 0, JSON.stringify(issues));
    assert.ok(by("spec.deniedCIDRs[0]", "schema").length > 0, JSON.stringify(issues));
    // The API server's CEL rule (isCIDR) and its OpenAPI pattern speak for themselves.
    const cel = by("spec.deniedCIDRs[0]", "apiserver");
    assert.ok(cel.length > 0, JSON.stringify(issues));
    assert.match(cel[0]?.message ?? "", /must be a CIDR/);
    assert.ok(by("spec.allowedHosts[1]", "apiserver").length > 0, JSON.stringify(issues));

    const good = await validateSpec(deps(owner), {
      namespace,
      name: "v",
      spec: { allowedHosts: ["example.com", "*.github.com"], deniedCIDRs: ["10.0.0.0/8"] },
    });
    assert.deepEqual(good, []);
    const afterward = await readPolicy(deps(owner).apis, namespace, "v");
    assert.equal(afterward.metadata.resourceVersion, before.metadata.resourceVersion);
    assert.deepEqual(afterward.spec, before.spec, "the dry-runs persisted nothing");
  });

  it("save refuses invalid rules with field errors and writes nothing", async () => {
    await createPolicyAsAdmin(namespace, "bad", { allowedHosts: ["example.com"] });
    const current = await readPolicy(deps(owner).apis, namespace, "bad");
    const error = await savePolicy(deps(owner), owner, {
      namespace,
      name: "bad",
      spec: { deniedCIDRs: ["nope"] },
      resourceVersion: current.metadata.resourceVersion ?? "",
    }).catch((e: unknown) => e);
    assert.ok(fieldErrorsOf(error)["spec.deniedCIDRs[0]"]);
    assert.equal(await editors.db.policyChange.count({ where: { namespace, name: "bad" } }), 0);
  });

  it("a save over a newer version is CONFLICT carrying their change; nothing is overwritten", async () => {
    await createPolicyAsAdmin(namespace, "race", { allowedHosts: ["a.example"] });
    const loaded = await readPolicy(deps(owner).apis, namespace, "race");
    const rv = loaded.metadata.resourceVersion ?? "";
    // Both load the same version; the second owner saves first.
    await savePolicy(deps(owner2), owner2, {
      namespace,
      name: "race",
      spec: { allowedHosts: ["a.example", "theirs.example"] },
      resourceVersion: rv,
      reason: "theirs",
    });
    const error = await savePolicy(deps(owner), owner, {
      namespace,
      name: "race",
      spec: { allowedHosts: ["a.example", "mine.example"] },
      resourceVersion: rv,
      loadedSpec: loaded.spec,
    }).catch((e: unknown) => e);
    assert.ok(error instanceof TRPCError && error.code === "CONFLICT", String(error));
    assert.ok(error.cause instanceof PolicyConflict);
    const details = error.cause.details;
    assert.deepEqual(details.spec.allowedHosts, ["a.example", "theirs.example"]);
    assert.match(details.theirDiff, /\+\s*- theirs\.example/);
    assert.equal(
      details.theirDiff.split("\n").filter((l) => /^[-+][^-+]/.test(l)).length,
      1,
      `only their one line differs:\n${details.theirDiff}`,
    );
    assert.equal(details.by?.email, "owner2@example.com");
    assert.equal(details.by?.reason, "theirs");
    assert.match(error.message, /owner2@example\.com/);
    const now = await readPolicy(deps(owner).apis, namespace, "race");
    assert.deepEqual(now.spec.allowedHosts, ["a.example", "theirs.example"]);
  });

  it("history records who, the diff and hosts added and removed; restore writes a new version", async () => {
    await createNewPolicy(deps(owner), owner, {
      namespace,
      name: "hist",
      spec: { allowedHosts: ["one.example", "two.example"] },
      reason: "start",
    });
    const v1 = await readPolicy(deps(owner).apis, namespace, "hist");
    const saved = await savePolicy(deps(owner), owner, {
      namespace,
      name: "hist",
      spec: { allowedHosts: ["two.example", "three.example"], websockets: true },
      resourceVersion: v1.metadata.resourceVersion ?? "",
      reason: "swap one for three",
    });
    assert.deepEqual(saved.addedHosts, ["three.example"]);
    assert.deepEqual(saved.removedHosts, ["one.example"]);
    assert.equal(saved.action, "update");
    assert.equal(saved.userEmail, "owner@example.com");
    assert.match(saved.diff, /-\s*- one\.example/);
    assert.match(saved.diff, /\+websockets: true/);

    let history = await historyOf(editors.db, { namespace, kind: "SandboxPolicy", name: "hist" });
    assert.deepEqual(
      history.map((h) => h.action),
      ["update", "create"],
    );
    const first = history[1];
    assert.ok(first);
    const restored = await restoreVersion(deps(owner), owner, { changeId: first.id });
    assert.equal(restored.action, "restore");
    assert.equal(restored.restoredFrom, first.id);
    assert.deepEqual(restored.addedHosts, ["one.example"]);
    assert.deepEqual(restored.removedHosts, ["three.example"]);
    const now = await readPolicy(deps(owner).apis, namespace, "hist");
    assert.deepEqual(now.spec, { allowedHosts: ["one.example", "two.example"] });
    history = await historyOf(editors.db, { namespace, kind: "SandboxPolicy", name: "hist" });
    assert.equal(history.length, 3, "a new version; the old ones stay");
  });

  it("preview: the diff against the current version and the sandboxes using the policy", async () => {
    await createPolicyAsAdmin(namespace, "prev", { allowedHosts: ["x.example"] });
    const current = await readPolicy(deps(member).apis, namespace, "prev");
    const sandbox = {
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name: "box", namespace },
      spec: { image: "alpine", network: { policyRef: { name: "prev" } } },
      status: { phase: "Running" },
    };
    const preview = await previewChange(deps(member), [sandbox as never], {
      namespace,
      name: "prev",
      spec: { allowedHosts: ["x.example", "y.example"] },
      resourceVersion: current.metadata.resourceVersion,
    });
    assert.equal(preview.stale, false);
    assert.deepEqual(preview.addedHosts, ["y.example"]);
    assert.match(preview.diff, /\+\s*- y\.example/);
    assert.deepEqual(
      preview.reaches.map((r) => [r.name, r.phase, r.via]),
      [["box", "Running", "sandbox"]],
    );
  });

  it("a plain member may read but not save (403 from Kubernetes); the owner may", async () => {
    await createPolicyAsAdmin(namespace, "own", { allowedHosts: ["x.example"] });
    const current = await readPolicy(deps(member).apis, namespace, "own");
    const write = {
      namespace,
      name: "own",
      spec: { allowedHosts: ["x.example", "member.example"] },
      resourceVersion: current.metadata.resourceVersion ?? "",
    };
    await assert.rejects(
      savePolicy(deps(member), member, write),
      (e: unknown) => e instanceof KubeApiError && e.status === 403,
    );
    assert.equal(await editors.db.policyChange.count({ where: { namespace, name: "own" } }), 0);
    const change = await savePolicy(deps(owner), owner, write);
    assert.deepEqual(change.addedHosts, ["member.example"]);
  });

  it("another team's owner can neither read nor edit (403 from Kubernetes)", async () => {
    await createPolicyAsAdmin(namespace, "theirs", { allowedHosts: ["x.example"] });
    await assert.rejects(
      readPolicy(deps(outsider).apis, namespace, "theirs"),
      (e: unknown) => e instanceof KubeApiError && e.status === 403,
    );
    await assert.rejects(
      savePolicy(deps(outsider), outsider, {
        namespace,
        name: "theirs",
        spec: { allowedHosts: ["*"] },
        resourceVersion: "1",
      }),
      (e: unknown) => e instanceof KubeApiError && e.status === 403,
    );
    await assert.rejects(
      validateSpec(deps(outsider), { namespace, name: "theirs", spec: { allowedHosts: ["*"] } }),
      (e: unknown) => e instanceof KubeApiError && e.status === 403,
    );
  });

  it("injectable Secrets: names and key names of labelled Secrets only, never a value", async () => {
    const value = "s3cr3t-value-7f1d2e";
    await applyObject({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "gh", namespace, labels: { "turgon.dev/injectable": "true" } },
      stringData: { token: value, other: "x" },
    });
    await applyObject({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "private", namespace },
      stringData: { key: value },
    });
    const secrets = await injectableSecrets(deps(owner).apis, namespace);
    assert.deepEqual(secrets, [{ name: "gh", keys: ["other", "token"] }]);
    const json = JSON.stringify(secrets);
    assert.ok(!json.includes(value));
    assert.ok(!json.includes(Buffer.from(value).toString("base64")));
    // Members may not list Secrets at all (turgon-team-member has none).
    await assert.rejects(
      injectableSecrets(deps(member).apis, namespace),
      (e: unknown) => e instanceof KubeApiError && e.status === 403,
    );
  });
});
