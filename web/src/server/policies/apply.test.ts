/**
 * applyAllowHost on the real API server and a scratch database: the host is
 * added as the approving user (Kubernetes RBAC decides), a concurrent save
 * is kept (re-read and retried), and the history row says who, which
 * request, and which host.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KubeApiError } from "../kube/errors.ts";
import { impersonatedApis } from "../kube/impersonation.ts";
import { applyAllowHost } from "./apply.ts";
import { readPolicy, replacePolicy } from "./kube.ts";
import { createPolicyAsAdmin, policyEditors } from "./testing.ts";

describe("applyAllowHost", () => {
  const editors = policyEditors("allow");
  const { namespace, owner, member, deps } = editors;

  it("adds the host as the owner and records an approve with the request id", async () => {
    await createPolicyAsAdmin(namespace, "web", { allowedHosts: ["example.com"] });
    const requestId = "6f1c1c1e-3f7a-4a57-9a0a-2f1e0b7e3c11";
    const change = await applyAllowHost(
      {
        principal: owner,
        namespace,
        kind: "SandboxPolicy",
        name: "web",
        host: "api.github.com",
        reason: "CI needs it",
        requestId,
        eventId: "event-1",
      },
      deps(owner),
    );
    assert.equal(change.action, "approve");
    assert.equal(change.requestId, requestId);
    assert.deepEqual(change.addedHosts, ["api.github.com"]);
    assert.deepEqual(change.removedHosts, []);
    assert.equal(change.userEmail, "owner@example.com");
    assert.equal(change.reason, "CI needs it");
    assert.match(change.diff, /\+\s+- api\.github\.com/);
    const now = await readPolicy(impersonatedApis(editors.dashboard, owner), namespace, "web");
    assert.deepEqual(now.spec.allowedHosts, ["example.com", "api.github.com"]);
    assert.equal(change.resourceVersion, now.metadata.resourceVersion);
    const rows = await editors.db.policyChange.findMany({ where: { namespace, name: "web" } });
    assert.equal(rows.length, 1);
  });

  it("a host a wildcard already covers is not written again; the approval is still recorded", async () => {
    await createPolicyAsAdmin(namespace, "wild", { allowedHosts: ["*.example.com"] });
    const apis = impersonatedApis(editors.dashboard, owner);
    const before = await readPolicy(apis, namespace, "wild");
    const change = await applyAllowHost(
      { principal: owner, namespace, kind: "SandboxPolicy", name: "wild", host: "a.example.com" },
      { apis, db: editors.db },
    );
    assert.equal(change.diff, "");
    assert.deepEqual(change.addedHosts, []);
    const after = await readPolicy(apis, namespace, "wild");
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion);
  });

  it("keeps a change saved in between (409, read again, retried)", async () => {
    await createPolicyAsAdmin(namespace, "busy", { allowedHosts: ["one.example"] });
    const apis = impersonatedApis(editors.dashboard, owner);
    // Another editor saves between applyAllowHost's read and its write.
    let interfered = false;
    const racing = new Proxy(apis, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property !== "customObjects") return value;
        return new Proxy(value, {
          get(objects, method, r) {
            const call = Reflect.get(objects, method, r);
            if (method !== "replaceNamespacedCustomObject" || interfered) return call.bind(objects);
            return async (args: unknown) => {
              interfered = true;
              const current = await readPolicy(apis, namespace, "busy");
              await replacePolicy(apis, {
                namespace,
                name: "busy",
                spec: { ...current.spec, deniedMethods: ["DELETE"] },
                resourceVersion: current.metadata.resourceVersion,
              });
              return call.call(objects, args);
            };
          },
        });
      },
    });
    const change = await applyAllowHost(
      { principal: owner, namespace, kind: "SandboxPolicy", name: "busy", host: "two.example" },
      { apis: racing, db: editors.db },
    );
    assert.ok(interfered);
    const now = await readPolicy(apis, namespace, "busy");
    assert.deepEqual(now.spec.allowedHosts, ["one.example", "two.example"]);
    assert.deepEqual(now.spec.deniedMethods, ["DELETE"], "the other editor's change was kept");
    assert.deepEqual(change.addedHosts, ["two.example"]);
  });

  it("a plain member is refused by Kubernetes (403) and nothing is recorded", async () => {
    await createPolicyAsAdmin(namespace, "guarded", { allowedHosts: ["example.com"] });
    await assert.rejects(
      applyAllowHost(
        {
          principal: member,
          namespace,
          kind: "SandboxPolicy",
          name: "guarded",
          host: "evil.example",
        },
        deps(member),
      ),
      (error: unknown) => error instanceof KubeApiError && error.status === 403,
    );
    assert.equal(await editors.db.policyChange.count({ where: { namespace, name: "guarded" } }), 0);
  });

  it("a bad host pattern is refused naming the field", async () => {
    await assert.rejects(
      applyAllowHost(
        { principal: owner, namespace, kind: "SandboxPolicy", name: "web", host: "http://x/" },
        deps(owner),
      ),
      /host: must be a host name/,
    );
  });
});
