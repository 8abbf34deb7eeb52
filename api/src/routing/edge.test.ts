import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DEFAULT_EDGE,
  EdgeConfigError,
  edgeConfigData,
  overrideEdge,
  parseEdgeFacts,
  sandboxSshCommand,
  sandboxUrl,
} from "./edge.ts";

describe("edge facts", () => {
  it("a missing ConfigMap or key is the router's defaults: plain HTTP on 18080, SSH on 2222", () => {
    assert.deepEqual(parseEdgeFacts(undefined, "ns/edge"), DEFAULT_EDGE);
    assert.equal(sandboxUrl(DEFAULT_EDGE, "web", "team-a"), "http://web--team-a.localhost:18080/");
    assert.equal(
      sandboxSshCommand(DEFAULT_EDGE, "web", "team-a"),
      "ssh -p 2222 web.team-a@localhost",
    );
    assert.deepEqual(parseEdgeFacts({ domain: "sbx.example.com" }, "ns/edge"), {
      ...DEFAULT_EDGE,
      domain: "sbx.example.com",
    });
  });

  it("round-trips through ConfigMap data, and renders default ports away", () => {
    const facts = {
      domain: "sbx.example.com",
      scheme: "https",
      port: 443,
      sshHost: "ssh.example.com",
      sshPort: 22,
    } as const;
    assert.deepEqual(parseEdgeFacts(edgeConfigData(facts), "ns/edge"), facts);
    assert.equal(sandboxUrl(facts, "web", "a"), "https://web--a.sbx.example.com/");
    assert.equal(sandboxUrl({ ...facts, port: 0 }, "web", "a"), "https://web--a.sbx.example.com/");
    assert.equal(
      sandboxUrl({ ...facts, port: 8443 }, "web", "a"),
      "https://web--a.sbx.example.com:8443/",
    );
    assert.equal(sandboxSshCommand(facts, "web", "a"), "ssh web.a@ssh.example.com");
  });

  it("overrides only what is set", () => {
    assert.deepEqual(overrideEdge(DEFAULT_EDGE, { scheme: "https", port: undefined }), {
      ...DEFAULT_EDGE,
      scheme: "https",
    });
  });

  it("refuses bad data naming the ConfigMap and each key", () => {
    assert.throws(
      () =>
        parseEdgeFacts(
          { domain: "Not A Domain", port: "http", scheme: "ftp", sshPort: "0", color: "red" },
          "ns/edge",
        ),
      (error: unknown) => {
        assert.ok(error instanceof EdgeConfigError);
        assert.match(error.message, /^ConfigMap ns\/edge: /);
        assert.match(error.message, /domain: must be a DNS domain/);
        assert.match(error.message, /port: must be a number/);
        assert.match(error.message, /scheme: must be http or https/);
        assert.match(error.message, /sshPort: must be 1 to 65535/);
        assert.match(error.message, /unknown keys color/);
        return true;
      },
    );
  });
});
