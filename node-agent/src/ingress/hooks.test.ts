/** The path normaliser behind `ingress.hooks.deniedPathPrefixes` (pure logic; the VM test is in agent.test.ts). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { canonicalPath, isPathDenied, pathForms } from "./hooks.ts";

describe("canonicalPath", () => {
  it("collapses slashes, resolves dot segments, lower-cases and keeps a trailing slash", () => {
    const cases: [string, string][] = [
      ["/", "/"],
      ["", "/"],
      ["//admin", "/admin"],
      ["///admin//users", "/admin/users"],
      ["/./admin", "/admin"],
      ["/x/../admin", "/admin"],
      ["/../../admin", "/admin"],
      ["/admin/x/..", "/admin/"],
      ["/admin/.", "/admin/"],
      ["/admin/..", "/"],
      ["/ADMIN/Users/", "/admin/users/"],
      ["\\admin\\x", "/admin/x"],
    ];
    for (const [path, expected] of cases) assert.equal(canonicalPath(path), expected, path);
  });
});

describe("pathForms", () => {
  it("gives the path as sent, decoded once and decoded twice, without the query", () => {
    assert.deepEqual(pathForms("/%61dmin?x=/admin"), ["/%61dmin", "/admin"]);
    assert.deepEqual(pathForms("/%2561dmin"), ["/%2561dmin", "/%61dmin", "/admin"]);
    assert.deepEqual(pathForms("/admin%2fx"), ["/admin%2fx", "/admin/x"]);
    assert.deepEqual(pathForms("/docs/100%25"), ["/docs/100%25", "/docs/100%"]);
    assert.deepEqual(pathForms("http://example.test/%41dmin"), ["/%41dmin", "/admin"]);
  });

  it("refuses what cannot be decoded", () => {
    for (const target of ["/admin%", "/%zzadmin", "/%c0%af", "/admin%00", "*"])
      assert.equal(pathForms(target), undefined, target);
  });
});

describe("isPathDenied", () => {
  const denied = ["/admin"];

  it("denies every spelling of a denied prefix", () => {
    for (const target of [
      "/admin",
      "/admin/",
      "/admin/users",
      "/%61dmin",
      "/%2561dmin/users",
      "/ADMIN",
      "/Admin/Users",
      "/admin%2fx",
      "/admin%2Fx",
      "/./admin",
      "//admin",
      "/x/../admin",
      "/x/%2e%2e/admin",
      "/x/..%2fadmin",
      "\\admin",
      "/%5cadmin",
      "/admin?ok=1",
      "http://example.test/admin",
    ])
      assert.equal(isPathDenied(target, denied), true, target);
  });

  it("matches whole segments and leaves other paths alone", () => {
    for (const target of ["/", "/administrator", "/adminx/users", "/public/admin", "/?p=/admin"])
      assert.equal(isPathDenied(target, denied), false, target);
  });

  it("refuses undecodable paths only when prefixes are set", () => {
    assert.equal(isPathDenied("/public%", denied), true);
    assert.equal(isPathDenied("/public%", []), false);
  });

  it("normalises the configured prefixes too; a trailing slash spares the directory itself", () => {
    assert.equal(isPathDenied("/admin/x", ["/Admin"]), true);
    assert.equal(isPathDenied("/admin/x", ["//admin/"]), true);
    assert.equal(isPathDenied("/admin", ["/admin/"]), false);
    assert.equal(isPathDenied("/anything", ["/"]), true);
  });
});
