import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { API_VERSION, type Sandbox } from "../crd/index.ts";
import { HostLabelIndex, hostConflict } from "./host-conflict.ts";

/** The index the operator keeps, holding `sandboxes`. */
function indexOf(sandboxes: Sandbox[]): HostLabelIndex {
  const index = new HostLabelIndex();
  for (const s of sandboxes) index.add(s.metadata.name as string, s.metadata.namespace as string);
  return index;
}

const sandbox = (name: string, namespace: string, uid: string): Sandbox => ({
  apiVersion: API_VERSION,
  kind: "Sandbox",
  metadata: { name, namespace, uid },
  spec: {
    image: "x",
    operatingMode: "Running",
    restartPolicy: "Never",
    ingress: { enabled: true },
  },
});

describe("hostConflict", () => {
  const web = sandbox("web", "acme--ml", "1");
  const clash = sandbox("web--acme", "ml", "2");
  const other = sandbox("api", "ml", "3");

  it("names the other sandbox, on both sides, when two claim one host", () => {
    assert.match(
      hostConflict(web, indexOf([web, clash, other])) ?? "",
      /web--acme--ml is claimed by ml\/web--acme too/,
    );
    assert.match(
      hostConflict(clash, indexOf([web, clash, other])) ?? "",
      /claimed by acme--ml\/web too/,
    );
  });

  it("is silent when the host is the sandbox's alone", () => {
    assert.equal(hostConflict(other, indexOf([web, clash, other])), undefined);
    assert.equal(hostConflict(web, indexOf([web, other])), undefined);
  });
});
