import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_RETURN_PATH, safeReturnPath } from "./return-path.ts";

describe("safeReturnPath", () => {
  it("keeps paths on this dashboard, with their query and fragment", () => {
    assert.equal(safeReturnPath("/sandboxes"), "/sandboxes");
    assert.equal(safeReturnPath("/nodes?sort=name#top"), "/nodes?sort=name#top");
    assert.equal(safeReturnPath("/teams/ml/../infra"), "/teams/infra");
    assert.equal(safeReturnPath(["/profile", "/nodes"]), "/profile");
  });

  it("falls back to the default when there is nothing to return to", () => {
    for (const value of [undefined, null, "", []])
      assert.equal(safeReturnPath(value), "/sandboxes");
    assert.equal(DEFAULT_RETURN_PATH, "/sandboxes");
  });

  it("refuses other origins, however they are spelled", () => {
    for (const value of [
      "https://evil.example/",
      "http://localhost:3000/sandboxes",
      "//evil.example/path",
      "/\\evil.example",
      "\\\\evil.example",
      "/\t/evil.example",
      "/\n/evil.example",
      "javascript:alert(1)",
      "data:text/html,hi",
      "sandboxes",
      " /sandboxes",
      `/${"a".repeat(3000)}`,
    ]) {
      assert.equal(safeReturnPath(value), DEFAULT_RETURN_PATH, JSON.stringify(value));
    }
  });

  it("keeps encoded slashes as a path, which browsers do not read as another host", () => {
    assert.equal(safeReturnPath("/%2F%2Fevil.example"), "/%2F%2Fevil.example");
  });

  it("does not send a signed-in user back to the sign-in page", () => {
    assert.equal(safeReturnPath("/signin"), DEFAULT_RETURN_PATH);
    assert.equal(safeReturnPath("/signin?return=/nodes"), DEFAULT_RETURN_PATH);
  });
});
