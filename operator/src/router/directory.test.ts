import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import type { Sandbox } from "@turgon/api/crd";
import { SandboxDirectory } from "./directory.ts";

/** An informer's events and cache, for the directory's pure logic (router.test.ts runs the real one). */
class FakeInformer extends EventEmitter {
  readonly objects = new Map<string, Sandbox>();
  get(name: string, namespace?: string) {
    return this.objects.get(`${namespace}/${name}`);
  }
  put(sandbox: Sandbox) {
    const key = `${sandbox.metadata.namespace}/${sandbox.metadata.name}`;
    const event = this.objects.has(key) ? "update" : "add";
    this.objects.set(key, sandbox);
    this.emit(event, sandbox);
  }
  remove(sandbox: Sandbox) {
    this.objects.delete(`${sandbox.metadata.namespace}/${sandbox.metadata.name}`);
    this.emit("delete", sandbox);
  }
}

const sandbox = (name: string, namespace: string) =>
  ({
    apiVersion: "turgon.dev/v1alpha1",
    kind: "Sandbox",
    metadata: { name, namespace, uid: `${namespace}-${name}` },
    spec: { image: "i" },
  }) as unknown as Sandbox;

describe("sandbox directory", () => {
  it("refuses a host label two sandboxes claim, and serves the other again when one goes", () => {
    const sandboxes = new FakeInformer();
    const directory = new SandboxDirectory(sandboxes as never, new FakeInformer() as never);
    const one = sandbox("web--acme", "ml");
    const two = sandbox("web", "acme--ml");
    sandboxes.put(one);
    assert.equal(directory.route("web--acme--ml").kind, "refuse");
    assert.notEqual(
      (directory.route("web--acme--ml") as { reason: string }).reason,
      "HostConflict",
    );
    sandboxes.put(two);
    sandboxes.put(one); // an update does not make it the winner
    const conflict = directory.route("web--acme--ml");
    assert.equal(conflict.kind === "refuse" && conflict.status, 409);
    assert.equal(conflict.kind === "refuse" && conflict.reason, "HostConflict");
    assert.match(
      conflict.kind === "refuse" ? conflict.message : "",
      /acme--ml\/web, ml\/web--acme/,
    );
    sandboxes.remove(one);
    const back = directory.route("web--acme--ml");
    assert.equal(
      back.kind === "refuse" && back.reason,
      "IngressDisabled",
      "routed to acme--ml/web",
    );
    assert.match(back.kind === "refuse" ? back.message : "", /acme--ml\/web/);
  });
});
