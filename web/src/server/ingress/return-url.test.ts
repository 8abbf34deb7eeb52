import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_RETURN_PATH } from "../../lib/return-path.ts";
import { type IngressSite, ingressOrigin, parseReturn } from "./return-url.ts";

const local: IngressSite = { domain: "localhost", scheme: "http", port: 18080 };
const prod: IngressSite = { domain: "sandboxes.example.com", scheme: "https", port: 0 };

const ignored = { kind: "path", path: DEFAULT_RETURN_PATH };

describe("the sign-in return parameter", () => {
  it("keeps paths on the dashboard as before", () => {
    assert.deepEqual(parseReturn("/nodes?x=1", local), { kind: "path", path: "/nodes?x=1" });
    assert.deepEqual(parseReturn(undefined, local), ignored);
    assert.deepEqual(parseReturn(["/profile", "http://evil"], local), {
      kind: "path",
      path: "/profile",
    });
  });

  it("accepts a routed sandbox URL on the router's scheme, domain and port", () => {
    assert.deepEqual(parseReturn("http://hello--default.localhost:18080/x?a=1&b=2", local), {
      kind: "sandbox",
      label: "hello--default",
      url: "http://hello--default.localhost:18080/x?a=1&b=2",
    });
    // Host names are case-insensitive; the URL is rebuilt in lower case.
    assert.deepEqual(parseReturn("HTTP://Hello--Default.LOCALHOST:18080", local), {
      kind: "sandbox",
      label: "hello--default",
      url: "http://hello--default.localhost:18080/",
    });
    // A short (hashed) label for a long name is one DNS label too.
    const hashed = "a-very-long-sandbox-name-that-goes-on-3f1c2a9b8d7e6f5a4b3c";
    assert.equal(
      parseReturn(`https://${hashed}.sandboxes.example.com/`, prod).kind,
      "sandbox",
      "default port, given by omission",
    );
    assert.equal(
      parseReturn(`https://${hashed}.sandboxes.example.com:443/`, prod).kind,
      "sandbox",
      "default port, given explicitly",
    );
  });

  it("keeps a path that looks like an authority on the sandbox's own host", () => {
    const target = parseReturn("http://a--b.localhost:18080//evil.example/x", local);
    assert.equal(target.kind, "sandbox");
    assert.equal(target.kind === "sandbox" && new URL(target.url).host, "a--b.localhost:18080");
  });

  it("ignores every other URL, however it is spelled", () => {
    for (const value of [
      "//evil.example/",
      "///evil.example/",
      "https://evil.example/",
      // The ingress domain as a prefix of another domain.
      "http://x.localhost.evil.com:18080/",
      "https://x.localhost.evil.com/",
      "http://x.localhostevil.com:18080/",
      "http://xlocalhost:18080/",
      // Userinfo: browsers go to the host after the @.
      "http://a@evil:18080/",
      "http://a@evil.example/",
      "http://a--b.localhost:18080@evil.example/",
      "http://user:pass@a--b.localhost:18080/",
      // Backslashes, which browsers read as slashes.
      "http:\\\\a--b.localhost:18080/",
      "http://a--b.localhost:18080\\@evil.example/",
      "http://evil.example\\.a--b.localhost:18080/",
      // Percent-encoded dots and other escapes in the host.
      "http://evil%2eexample.localhost:18080/",
      "http://a--b%2elocalhost:18080/",
      "http://a--b.localhost%2eevil.com:18080/",
      "http://a--b%00.localhost:18080/",
      // Two labels, none, an empty one, a bad one, the domain itself, a trailing dot.
      "http://a.b.localhost:18080/",
      "http://localhost:18080/",
      "http://.localhost:18080/",
      "http://-a.localhost:18080/",
      `http://${"a".repeat(64)}.localhost:18080/`,
      "http://a--b.localhost.:18080/",
      // Another port, none (which is 80), another scheme.
      "http://a--b.localhost:18081/",
      "http://a--b.localhost/",
      "http://a--b.localhost:018080/",
      "http://a--b.localhost:99999/",
      "https://a--b.localhost:18080/",
      "javascript://a--b.localhost:18080/%0aalert(1)",
      "ftp://a--b.localhost:18080/",
      // IPv6, IDN, whitespace and control characters.
      "http://[::1]:18080/",
      "http://ä--b.localhost:18080/",
      "http://a--b.localhost:18080/ x",
      "http://a--b.localhost:18080/\nx",
      " http://a--b.localhost:18080/",
      "http:/a--b.localhost:18080/",
      "http:a--b.localhost:18080/",
      `http://a--b.localhost:18080/${"x".repeat(5000)}`,
    ]) {
      assert.deepEqual(parseReturn(value, local), ignored, JSON.stringify(value));
    }
    // The default port is not "any port".
    assert.deepEqual(parseReturn("https://a.sandboxes.example.com:8443/", prod), ignored);
    assert.deepEqual(parseReturn("http://a.sandboxes.example.com/", prod), ignored);
  });

  it("takes no routed URL while the edge is unknown (its ConfigMap unreadable), but keeps paths", () => {
    assert.deepEqual(parseReturn("http://hello--default.localhost:18080/x", undefined), ignored);
    assert.deepEqual(parseReturn("/nodes", undefined), { kind: "path", path: "/nodes" });
  });

  it("builds origins as browsers do", () => {
    assert.equal(ingressOrigin(local, "a--b"), "http://a--b.localhost:18080");
    assert.equal(ingressOrigin(prod, "a--b"), "https://a--b.sandboxes.example.com");
    assert.equal(ingressOrigin({ ...prod, port: 443 }, "x"), "https://x.sandboxes.example.com");
  });
});
