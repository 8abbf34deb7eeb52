import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildSshUsers, describeSshUsers } from "./users-file.ts";

const ED =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICVT7cGyk1Zu7LSBPNNY1mBcUPMBD4E8BI2OYYw1AIYF ada@laptop";
const ED2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFf4y0qfMdhp0A7b6HkTTtvYFn6N3lY0ZrFyyzhRZEAv";
const RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQC7";

describe("the dashboard's SSH users list", () => {
  it("lists users with keys by email: admin flag, sorted teams, their keys", () => {
    const users = buildSshUsers([
      {
        email: "zed@example.com",
        role: "user",
        banned: false,
        teams: ["web", "ml", "web"],
        keys: [ED2],
      },
      {
        email: "ada@example.com",
        role: "user,admin",
        banned: null,
        teams: [],
        keys: [ED, RSA, ED],
      },
      { email: "nokeys@example.com", role: "admin", banned: false, teams: ["ml"], keys: [] },
    ]);
    assert.deepEqual(users, [
      { user: "ada@example.com", admin: true, teams: [], keys: [ED, RSA] },
      { user: "zed@example.com", admin: false, teams: ["ml", "web"], keys: [ED2] },
    ]);
    assert.deepEqual(describeSshUsers(users), { users: 2, keys: 3 });
  });

  it("leaves banned users out, and is empty without keys", () => {
    assert.deepEqual(
      buildSshUsers([
        { email: "b@example.com", role: "admin", banned: true, teams: [], keys: [ED] },
      ]),
      [],
    );
    assert.deepEqual(buildSshUsers([]), []);
  });

  it("an admin is one whose roles include admin, not one whose role merely contains it", () => {
    const [user] = buildSshUsers([
      { email: "a@example.com", role: "superadmin", banned: false, teams: [], keys: [ED] },
    ]);
    assert.equal(user?.admin, false);
  });

  it("refuses a line the router would not parse", () => {
    assert.throws(() =>
      buildSshUsers([
        { email: "a@example.com", role: null, banned: false, teams: [], keys: ["ssh-dss AAAA"] },
      ]),
    );
  });
});
