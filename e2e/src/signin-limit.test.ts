/**
 * The sign-in rate limit holds against a client that forges its address:
 * better-auth keys the limit on X-Forwarded-For, and the dashboard's server
 * replaces a header that no trusted proxy sent with the peer's own address
 * (web/src/server/http/forwarded-for.ts), so a new forged address per
 * attempt gains nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestDashboard, type TestDashboard } from "@turgon/dev/testing/dashboard";

const LIMIT = 3;

describe("the sign-in rate limit", () => {
  let dashboard: TestDashboard;

  before(async () => {
    dashboard = await startTestDashboard({ signInLimit: LIMIT });
  });
  after(async () => {
    await dashboard?.stop();
  });

  const attempt = async (forwardedFor: string) => {
    const response = await fetch(`${dashboard.url}/api/auth/sign-in/email`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        origin: dashboard.url,
        "x-forwarded-for": forwardedFor,
      },
      body: JSON.stringify({ email: dashboard.admin.email, password: "not-the-password" }),
    });
    await response.arrayBuffer();
    return response.status;
  };

  it("refuses attempts past the limit even when each forges a new X-Forwarded-For", async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= LIMIT + 2; i++) statuses.push(await attempt(`203.0.113.${i}`));
    assert.deepEqual(
      statuses,
      [...Array(LIMIT).fill(401), 429, 429],
      "wrong passwords are refused, then the client is limited",
    );
  });
});
