import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { crossSiteRefusal, ownOrigin, pathOf, requestUrl, siteUrl } from "./site.ts";

describe("a sandbox's own site", () => {
  const origin = "http://web--a.localhost:18080";

  it("has an origin built from the label, the domain and the addressed port only", () => {
    assert.equal(ownOrigin("http", "web--a", "localhost", "WEB--A.localhost:18080"), origin);
    assert.equal(
      ownOrigin("https", "web--a", "sbx.example.com", "web--a.sbx.example.com:443"),
      "https://web--a.sbx.example.com",
    );
    assert.equal(
      ownOrigin("https", "web--a", "sbx.example.com", "web--a.sbx.example.com"),
      "https://web--a.sbx.example.com",
    );
    assert.equal(ownOrigin("http", "web--a", "localhost", "web--a.localhost:99999"), undefined);
    assert.equal(ownOrigin("http", "web--a", "localhost", "web--a.localhost:0"), undefined);
  });

  it("reads the request target as a path on that origin, never as another authority", () => {
    assert.equal(requestUrl("/api/x?y=1", origin)?.href, `${origin}/api/x?y=1`);
    const doubled = requestUrl("//evil.example/?turgon_token=t", origin);
    assert.equal(doubled?.host, "web--a.localhost:18080");
    assert.equal(doubled?.pathname, "//evil.example/");
    assert.equal(requestUrl("/\\evil.example/", origin)?.host, "web--a.localhost:18080");
    assert.equal(requestUrl(`${origin}/x?y`, origin)?.href, `${origin}/x?y`, "absolute-form, ours");
    assert.equal(requestUrl("http://evil.example/x", origin), undefined, "absolute-form, foreign");
    assert.equal(requestUrl("http://user@web--a.localhost:18080/x", origin), undefined);
    assert.equal(requestUrl("*", origin), undefined);
    assert.equal(requestUrl("evil.example:443", origin), undefined);
  });

  it("builds redirects from the origin and a path that is only a path", () => {
    const url = requestUrl("//evil.example/a?b=1", origin) as URL;
    assert.equal(siteUrl(origin, url), `${origin}/evil.example/a?b=1`);
    assert.equal(new URL(siteUrl(origin, url)).host, "web--a.localhost:18080");
    assert.equal(siteUrl(origin, requestUrl("/x", origin) as URL), `${origin}/x`);
    assert.equal(pathOf(requestUrl("///a//b?c", origin) as URL), "/a//b?c");
  });
});

describe("cross-site requests", () => {
  const origin = "http://web--a.localhost:18080";
  const check = (method: string, headers: Record<string, string>, upgrade = false) =>
    crossSiteRefusal(method, headers, origin, upgrade);

  it("refuses unsafe methods and upgrades from another origin or site", () => {
    const other = { origin: "http://app--b.localhost:18080" };
    for (const method of ["POST", "PUT", "PATCH", "DELETE", "PROPFIND"])
      assert.equal(check(method, other)?.reason, "CrossOriginRequest", method);
    assert.equal(check("GET", other, true)?.status, 403, "a WebSocket from another sandbox");
    assert.equal(check("POST", { origin: "null" })?.reason, "CrossOriginRequest");
    assert.equal(
      check("POST", { origin: "https://web--a.localhost:18080" })?.status,
      403,
      "scheme",
    );
    assert.equal(check("POST", { origin: "http://web--a.localhost:18081" })?.status, 403, "port");
    assert.equal(check("POST", { "sec-fetch-site": "same-site" })?.reason, "CrossSiteRequest");
    assert.equal(
      check("GET", { "sec-fetch-site": "cross-site" }, true)?.reason,
      "CrossSiteRequest",
    );
    assert.equal(
      check("POST", { origin, "sec-fetch-site": "cross-site" })?.reason,
      "CrossSiteRequest",
      "a cross-site redirect chain",
    );
    assert.match(check("POST", other)?.message ?? "", /app--b\.localhost:18080.*web--a\.localhost/);
  });

  it("lets same-origin requests, requests without Origin and safe methods pass", () => {
    assert.equal(check("POST", { origin }), undefined);
    assert.equal(check("POST", { origin: "HTTP://WEB--A.localhost:18080" }), undefined);
    assert.equal(check("POST", { origin, "sec-fetch-site": "same-origin" }), undefined);
    assert.equal(check("GET", { origin }, true), undefined);
    assert.equal(check("POST", {}), undefined, "curl");
    assert.equal(check("GET", {}, true), undefined, "a WebSocket client that is not a browser");
    assert.equal(check("GET", { origin: "http://app--b.localhost:18080" }), undefined);
    assert.equal(check("HEAD", { "sec-fetch-site": "cross-site" }), undefined);
  });
});
