/**
 * The auditor's attribution: an egress event names the sandbox that owned
 * the VM when the request began, as it was then. A warm VM's subject is
 * changed in place when a sandbox claims it (ManagedSandbox.claim), so a
 * request in flight across the claim, or an event still queued for the
 * spool, must not take the claimant's name.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EgressAuditEvent } from "@turgon/api/audit";
import { AddressRules } from "./addresses.ts";
import { EgressAuditor } from "./auditor.ts";
import { EgressGuard } from "./guard.ts";

describe("egress auditor attribution", () => {
  it("names the sandbox of the request's start, in a copy the claim does not change", () => {
    const subject = { uid: "warm-vm-id", name: "warm-web", namespace: "team-a" };
    const events: EgressAuditEvent[] = [];
    const guard = new EgressGuard(
      { allowedHosts: ["api.example.com"], secrets: [], mode: "enforce" },
      new AddressRules({ nodeAddresses: () => [] }),
    );
    const hooks = new EgressAuditor(guard, {
      node: "node-a",
      sandbox: subject,
      placeholders: () => new Map(),
      emit: (event) => events.push(event),
    }).hooks();

    const request = new Request("https://api.example.com/v1/things");
    hooks.onRequest(request);
    assert.equal(hooks.isRequestAllowed(request), true);
    // A sandbox claims the VM while the request waits for its answer.
    Object.assign(subject, { uid: "claimant-uid", name: "app", namespace: "team-a" });
    hooks.onResponse(new Response("ok", { status: 200 }), request);
    assert.equal(events.length, 1);
    assert.deepEqual(events[0]?.sandbox, {
      uid: "warm-vm-id",
      name: "warm-web",
      namespace: "team-a",
    });

    // A later request is the claimant's; its event keeps that name whatever follows.
    const later = new Request("https://api.example.com/v1/other");
    hooks.onRequest(later);
    hooks.isRequestAllowed(later);
    hooks.onResponse(new Response("ok", { status: 200 }), later);
    Object.assign(subject, { uid: "someone-else", name: "other" });
    assert.deepEqual(events[1]?.sandbox, {
      uid: "claimant-uid",
      name: "app",
      namespace: "team-a",
    });
  });
});
