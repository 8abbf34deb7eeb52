import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { API_VERSION, type Sandbox } from "@turgon/api/crd";
import { hostConflict } from "./host-conflict.ts";

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
      hostConflict(web, [web, clash, other]) ?? "",
      /web--acme--ml is claimed by ml\/web--acme too/,
    );
    assert.match(hostConflict(clash, [web, clash, other]) ?? "", /claimed by acme--ml\/web too/);
  });

  it("is silent when the host is the sandbox's alone", () => {
    assert.equal(hostConflict(other, [web, clash, other]), undefined);
    assert.equal(hostConflict(web, [web, other]), undefined);
  });
});
