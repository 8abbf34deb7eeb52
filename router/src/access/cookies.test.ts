import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  cookieValue,
  guestSetCookie,
  guestSetCookies,
  ingressCookie,
  withoutRouterCookies,
} from "./cookies.ts";

describe("cookies at the edge", () => {
  it("names the router's cookie __Host- and marks it Secure behind TLS only", () => {
    assert.equal(
      ingressCookie(true, "t", 60),
      "__Host-turgon_ingress=t; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure",
    );
    assert.equal(
      ingressCookie(false, "t", 60),
      "turgon_ingress=t; Path=/; HttpOnly; SameSite=Lax; Max-Age=60",
    );
  });

  it("reads one cookie and keeps both spellings of the router's away from the guest", () => {
    const header = "theme=dark; __Host-turgon_ingress=a.b=c; turgon_ingress=x; lang=en";
    assert.equal(cookieValue(header, "__Host-turgon_ingress"), "a.b=c");
    assert.equal(cookieValue(header, "missing"), undefined);
    assert.equal(withoutRouterCookies(header), "theme=dark; lang=en");
    assert.equal(withoutRouterCookies("turgon_ingress=x"), undefined);
  });

  it("drops Domain from guest cookies, whatever its case and spacing", () => {
    assert.equal(guestSetCookie("a=1; Domain=localhost; Path=/"), "a=1; Path=/");
    assert.equal(guestSetCookie("b=2;domain=.localhost;HttpOnly"), "b=2;HttpOnly");
    assert.equal(guestSetCookie("c=3; DOMAIN = localhost"), "c=3");
    assert.equal(
      guestSetCookie("d=4; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Secure"),
      "d=4; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Secure",
    );
    assert.equal(
      guestSetCookie("e=x; Path=/domain=y"),
      "e=x; Path=/domain=y",
      "a path, not Domain",
    );
  });

  it("refuses a guest cookie that would pass for the router's", () => {
    assert.equal(guestSetCookie("turgon_ingress=forged; Path=/"), undefined);
    assert.equal(guestSetCookie("__Host-turgon_ingress=forged; Path=/; Secure"), undefined);
    assert.equal(guestSetCookie("__HOST-turgon_ingress=forged; Path=/; Secure"), undefined);
    assert.equal(guestSetCookie("=turgon_ingress=forged"), undefined, "a nameless cookie");
  });

  it("handles every Set-Cookie of a response", () => {
    assert.deepEqual(
      guestSetCookies(["a=1; Domain=localhost", "turgon_ingress=x", "b=2; Path=/"]),
      ["a=1", "b=2; Path=/"],
    );
    assert.equal(guestSetCookies(["turgon_ingress=x"]), undefined);
    assert.equal(guestSetCookies(undefined), undefined);
  });
});
