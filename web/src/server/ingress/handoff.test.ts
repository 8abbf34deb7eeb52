/** The hand-off's decision and token, with the directory and key as plain values (pure logic). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { INGRESS_TOKEN_ALGORITHM, IngressTokenClaims } from "@turgon/api/routing";
import { jwtVerify } from "jose";
import { accessOf, decideAccess } from "./access.ts";
import { handOff } from "./handoff.ts";
import type { RoutedSandbox, SandboxLookup } from "./sandboxes.ts";

const key = new TextEncoder().encode("k".repeat(32));
const keys = { current: async () => key };
const directory = (lookup: SandboxLookup) => ({ find: async () => lookup });
const sandbox = (access: RoutedSandbox["access"]): RoutedSandbox => ({
  name: "app",
  namespace: "ml-dev",
  access,
  team: "ml",
});
const member = { id: "u1", teams: ["ml"], admin: false };
const outsider = { id: "u2", teams: ["web"], admin: false };
const admin = { id: "u3", teams: [], admin: true };
const target = {
  label: "app--ml-dev",
  url: "http://app--ml-dev.localhost:18080/x?y=1&turgon_token=old",
};

describe("who may open a routed sandbox", () => {
  it("private: the team holding its namespace and admins; authenticated: anyone signed in; public: anyone, without a token", () => {
    assert.deepEqual(decideAccess("private", "ml", member), { allowed: true, token: true });
    assert.deepEqual(decideAccess("private", "ml", admin), { allowed: true, token: true });
    assert.deepEqual(decideAccess("private", "ml", outsider), { allowed: false, team: "ml" });
    assert.deepEqual(decideAccess("authenticated", "ml", outsider), { allowed: true, token: true });
    assert.deepEqual(decideAccess("public", "ml", outsider), { allowed: true, token: false });
  });

  it("reads access as the router does: status, then spec, else private", () => {
    assert.equal(accessOf({}), "private");
    assert.equal(accessOf({ spec: { ingress: { access: "public" } } }), "public");
    assert.equal(
      accessOf({
        spec: { ingress: { access: "public" } },
        status: { ingress: { access: "authenticated" } },
      }),
      "authenticated",
    );
    assert.equal(accessOf({ spec: { ingress: { access: "everyone" } } }), "private");
  });
});

describe("the hand-off", () => {
  it("sends a member back with a fresh hand-off token for that host, replacing any other", async () => {
    const outcome = await handOff(target, member, {
      directory: directory({ kind: "found", sandbox: sandbox("private") }),
      keys,
    });
    assert.equal(outcome.kind, "redirect");
    const url = new URL(outcome.kind === "redirect" ? outcome.location : "");
    assert.equal(url.origin, "http://app--ml-dev.localhost:18080");
    assert.equal(url.pathname, "/x");
    assert.equal(url.searchParams.get("y"), "1");
    assert.equal(url.searchParams.getAll("turgon_token").length, 1);
    const token = url.searchParams.get("turgon_token") ?? "";
    const { payload } = await jwtVerify(token, key, {
      algorithms: [INGRESS_TOKEN_ALGORITHM],
      audience: "app--ml-dev",
    });
    const claims = IngressTokenClaims.parse(payload);
    assert.equal(claims.use, "handoff");
    assert.equal(claims.sub, "u1");
    assert.deepEqual(claims.teams, ["ml"]);
    assert.equal(claims.admin, false);
    assert.ok(claims.jti);
    assert.ok(claims.exp - Math.floor(Date.now() / 1000) <= 60);
  });

  it("refuses a private sandbox to another team, and needs no token for a public one", async () => {
    const refused = await handOff(target, outsider, {
      directory: directory({ kind: "found", sandbox: sandbox("private") }),
      keys,
    });
    assert.equal(refused.kind, "forbidden");
    assert.equal(refused.kind === "forbidden" && refused.sandbox.team, "ml");
    const open = await handOff(target, outsider, {
      directory: directory({ kind: "found", sandbox: sandbox("public") }),
      keys,
    });
    assert.equal(open.kind, "redirect");
    assert.equal(
      open.kind === "redirect" && new URL(open.location).searchParams.has("turgon_token"),
      false,
    );
  });

  it("says so when no sandbox, or more than one, has the label", async () => {
    assert.deepEqual(
      await handOff(target, admin, { directory: directory({ kind: "missing" }), keys }),
      {
        kind: "unknown",
        label: "app--ml-dev",
        reason: "missing",
      },
    );
    const ambiguous = await handOff(target, admin, {
      directory: directory({ kind: "ambiguous", count: 2 }),
      keys,
    });
    assert.equal(ambiguous.kind === "unknown" && ambiguous.reason, "ambiguous");
  });
});
