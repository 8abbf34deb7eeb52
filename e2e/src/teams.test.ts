/**
 * Teams, members and SSH keys in the browser, on a dashboard that runs as
 * its own Kubernetes identity against the test platform's API server: the
 * admin makes a team, binds a namespace (made here with kubectl) and adds
 * a new member, whose password is shown once; the member signs in in a
 * second browser, is refused the admin pages and procedures, and registers
 * an SSH key, which reaches the SSH users Secret the router follows.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { kubectl, uniqueName } from "@turgon/dev/testing";
import { startTestDashboard, type TestDashboard } from "@turgon/dev/testing/dashboard";
import { type BrowserSession, openBrowser } from "./browser/chromium.ts";
import { eventually, must, sshUsers } from "./cluster.ts";
import { type Session, trpc } from "./dashboard-api.ts";

const run = promisify(execFile);

describe("teams, members and SSH keys", () => {
  let dashboard: TestDashboard;
  let admin: BrowserSession;
  let member: BrowserSession;
  let keyDir: string;
  const team = { name: "Machine Learning", slug: uniqueName("ml") };
  const other = { name: "Web", slug: uniqueName("web") };
  const namespace = uniqueName("ml-dev");
  const memberEmail = `${uniqueName("ada")}@example.com`;
  let memberPassword = "";

  before(async () => {
    admin = await openBrowser("teams");
    member = await openBrowser("teams-member");
    dashboard = await startTestDashboard({ logFile: join(admin.artifacts, "dashboard.log") });
    await must(["create", "namespace", namespace]);
    keyDir = await mkdtemp(join(tmpdir(), "turgon-e2e-keys-"));
  });
  after(async () => {
    await member?.close();
    await admin?.close();
    await dashboard?.stop();
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    if (keyDir) await rm(keyDir, { recursive: true, force: true });
  });

  const url = (path: string) => `${dashboard.url}${path}`;
  const fieldError = (browser: BrowserSession, id: string) =>
    browser.page.locator(`[data-field-error="${id}"]`);

  it("signs the admin in; the Teams page starts empty", async () => {
    const { page } = admin;
    await admin.visit(url("/signin"), "signin");
    await page.getByLabel("Email address").fill(dashboard.admin.email);
    await page.getByLabel("Password").fill(dashboard.admin.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(url("/sandboxes"));
    await admin.visit(url("/teams"), "teams-empty");
    await page.getByRole("heading", { name: "No teams yet" }).waitFor();
  });

  it("creates a team, refusing a slug that is not a DNS label next to the field", async () => {
    const { page } = admin;
    await page.getByRole("button", { name: "New team" }).click();
    await page.getByLabel("Name", { exact: true }).fill(team.name);
    // The slug follows the name until it is edited.
    assert.equal(await page.getByLabel("Slug", { exact: true }).inputValue(), "machine-learning");
    await page.getByLabel("Slug", { exact: true }).fill("Not A Label");
    await page.getByRole("button", { name: "Create team" }).click();
    await fieldError(admin, "team-slug").waitFor();
    assert.match(
      (await fieldError(admin, "team-slug").textContent()) ?? "",
      /^Slug must be a DNS-1123 label/,
    );
    await admin.snap("team-slug-refused");
    await page.getByLabel("Slug", { exact: true }).fill(team.slug);
    await page.getByRole("button", { name: "Create team" }).click();
    await page.getByTestId(`team-${team.slug}`).waitFor();
    // The creating admin is its first owner.
    const owner = page.getByTestId(`member-${dashboard.admin.email}`);
    assert.match((await owner.textContent()) ?? "", /owner/);
    await admin.snap("team-created");
  });

  it("binds a namespace made with kubectl; a missing one, and one another team holds, are refused next to the field", async () => {
    const { page } = admin;
    const bind = async (which: { name: string; slug: string }, name: string) => {
      await page.locator(`#bind-namespace-${which.slug}`).fill(name);
      await page
        .getByRole("form", { name: `Bind a namespace to ${which.name}` })
        .getByRole("button", { name: "Bind" })
        .click();
    };
    await bind(team, "no-such-namespace-here");
    await fieldError(admin, `bind-namespace-${team.slug}`).waitFor();
    assert.equal(
      await fieldError(admin, `bind-namespace-${team.slug}`).textContent(),
      "Namespace no-such-namespace-here does not exist",
    );
    await bind(team, namespace);
    await page.getByTestId(`namespace-${namespace}`).waitFor();
    await admin.snap("namespace-bound");

    // In Kubernetes, as the admin made it through impersonation: the label, and the team's RoleBinding.
    const label = await must([
      "get",
      "namespace",
      namespace,
      "-o",
      "jsonpath={.metadata.labels.turgon\\.dev/team}",
    ]);
    assert.equal(label, team.slug);
    const binding = JSON.parse(
      await must(["get", "rolebinding", `turgon-team-${team.slug}`, "-n", namespace, "-o", "json"]),
    ) as { roleRef: { name: string }; subjects: { name: string }[] };
    assert.equal(binding.roleRef.name, "turgon-team-member");
    assert.deepEqual(
      binding.subjects.map((s) => s.name),
      [`turgon:team:${team.slug}`],
    );

    // Another team may not take it.
    await page.getByRole("button", { name: "New team" }).click();
    await page.getByLabel("Name", { exact: true }).fill(other.name);
    await page.getByLabel("Slug", { exact: true }).fill(other.slug);
    await page.getByRole("button", { name: "Create team" }).click();
    await page.getByTestId(`team-${other.slug}`).waitFor();
    await bind(other, namespace);
    await fieldError(admin, `bind-namespace-${other.slug}`).waitFor();
    assert.equal(
      await fieldError(admin, `bind-namespace-${other.slug}`).textContent(),
      `Namespace ${namespace} is bound to team ${team.slug}; unbind it from ${team.slug} first`,
    );
    await admin.snap("namespace-held-by-another-team");
    assert.equal(
      await must([
        "get",
        "namespace",
        namespace,
        "-o",
        "jsonpath={.metadata.labels.turgon\\.dev/team}",
      ]),
      team.slug,
    );
  });

  it("a team's slug cannot be renamed, not even by its owner through better-auth's own API", async () => {
    const cookie = (await admin.context.cookies(dashboard.url))
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
    const session: Session = { email: dashboard.admin.email, cookie };
    const teams = await trpc<{ teams: { id: string; slug: string }[] }>(
      dashboard.url,
      session,
      "teams.list",
    );
    const id = teams.data?.teams.find((t) => t.slug === team.slug)?.id;
    assert.ok(id);
    const renamed = await fetch(`${dashboard.url}/api/auth/organization/update`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: dashboard.url, cookie },
      body: JSON.stringify({ organizationId: id, data: { slug: uniqueName("taken") } }),
    });
    assert.equal(renamed.status, 400);
    assert.match(await renamed.text(), /cannot be changed/);
    const after = await trpc<{ teams: { slug: string }[] }>(dashboard.url, session, "teams.list");
    assert.ok(after.data?.teams.some((t) => t.slug === team.slug));
  });

  it("adds a new member: their account is made with a password shown once", async () => {
    const { page } = admin;
    await page.locator(`#member-email-${team.slug}`).fill(memberEmail);
    await page
      .getByRole("form", { name: `Add a member to ${team.name}` })
      .getByRole("button", { name: "Add" })
      .click();
    const shown = page.getByTestId("new-password");
    await shown.waitFor();
    memberPassword = (await shown.textContent()) ?? "";
    assert.match(memberPassword, /^[A-Za-z0-9_-]{24}$/);
    await page.getByTestId(`member-${memberEmail}`).waitFor();
    await admin.snap("member-added-password-shown");

    // Once: after a reload the password is nowhere on the page, nor in the dashboard's log.
    await admin.visit(url("/teams"), "teams-after-reload");
    assert.equal(await page.getByTestId("new-password").count(), 0);
    assert.ok(!(await page.content()).includes(memberPassword));
    assert.ok(!(await readFile(dashboard.logFile, "utf8")).includes(memberPassword));

    // Adding them again is refused next to the email.
    await page.locator(`#member-email-${team.slug}`).fill(memberEmail);
    await page
      .getByRole("form", { name: `Add a member to ${team.name}` })
      .getByRole("button", { name: "Add" })
      .click();
    await fieldError(admin, `member-email-${team.slug}`).waitFor();
    assert.match(
      (await fieldError(admin, `member-email-${team.slug}`).textContent()) ?? "",
      /is already a member of Machine Learning/,
    );
  });

  it("the member signs in in a second browser and sees their team on their profile", async () => {
    const { page } = member;
    await member.visit(url("/signin?return=%2Fprofile"), "member-signin");
    await page.getByLabel("Email address").fill(memberEmail);
    await page.getByLabel("Password").fill(memberPassword);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(url("/profile"));
    const row = page.getByTestId(`profile-team-${team.slug}`);
    await row.waitFor();
    assert.match((await row.textContent()) ?? "", /Machine Learning/);
    assert.match((await row.textContent()) ?? "", /member/);
    // Not an admin: no Teams link.
    assert.equal(await page.getByRole("link", { name: "Teams" }).count(), 0);
    await member.snap("member-profile");
  });

  it("a non-admin gets 403 on /teams and from the teams and users procedures", async () => {
    const response = await member.page.goto(url("/teams"), { waitUntil: "networkidle" });
    assert.equal(response?.status(), 403);
    await member.page.getByRole("heading", { name: "Not for your account" }).waitFor();
    await member.snap("member-teams-403");

    const cookies = await member.context.cookies(dashboard.url);
    const session: Session = {
      email: memberEmail,
      cookie: cookies.map((c) => `${c.name}=${c.value}`).join("; "),
    };
    const calls: [string, { input?: unknown; mutation?: boolean }][] = [
      ["teams.list", {}],
      ["users.list", {}],
      ["teams.create", { mutation: true, input: { name: "Mine", slug: uniqueName("mine") } }],
      ["teams.addMember", { mutation: true, input: { team: other.slug, email: memberEmail } }],
      ["teams.bindNamespace", { mutation: true, input: { team: other.slug, namespace } }],
      ["teams.unbindNamespace", { mutation: true, input: { team: team.slug, namespace } }],
      ["users.setAdmin", { mutation: true, input: { userId: "x", admin: true } }],
    ];
    for (const [path, options] of calls) {
      const result = await trpc(dashboard.url, session, path, options);
      assert.equal(result.status, 403, `${path} as a member: ${JSON.stringify(result)}`);
      assert.equal(result.error?.code, "FORBIDDEN", path);
      // Without a session at all: 401.
      assert.equal((await trpc(dashboard.url, undefined, path, options)).status, 401, path);
    }
    // Nothing changed: the namespace is still the team's.
    assert.equal(
      await must([
        "get",
        "namespace",
        namespace,
        "-o",
        "jsonpath={.metadata.labels.turgon\\.dev/team}",
      ]),
      team.slug,
    );
  });

  it("the member registers an SSH key: the SSH users Secret lists it with their team; an admin role and a lost membership follow; deleting it removes them", async () => {
    const keyFile = join(keyDir, "id_ed25519");
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "ada@laptop", "-f", keyFile]);
    const line = (await readFile(`${keyFile}.pub`, "utf8")).trim();
    const fingerprint = (await run("ssh-keygen", ["-l", "-f", `${keyFile}.pub`])).stdout.split(
      " ",
    )[1];

    const { page } = member;
    await member.visit(url("/profile"), "member-profile-no-keys");
    // A private key is refused, next to the field.
    await page.getByLabel("Name", { exact: true }).fill("laptop");
    await page.getByLabel("Public key").fill(await readFile(keyFile, "utf8"));
    await page.getByRole("button", { name: "Add key" }).click();
    await fieldError(member, "ssh-key-public").waitFor();
    assert.match((await fieldError(member, "ssh-key-public").textContent()) ?? "", /private key/);
    await member.snap("ssh-key-private-refused");

    await page.getByLabel("Public key").fill(line);
    await page.getByRole("button", { name: "Add key" }).click();
    const row = page.getByTestId("ssh-key-laptop");
    await row.waitFor();
    assert.equal(await row.getByTestId("ssh-key-fingerprint").textContent(), fingerprint);
    assert.match((await row.textContent()) ?? "", /ED25519 · 256/);
    await member.snap("ssh-key-added");

    const mine = (users: Awaited<ReturnType<typeof sshUsers>>) =>
      users?.find((u) => u.user === memberEmail);
    const listed = await eventually(
      "the member's key in the SSH users Secret",
      () => sshUsers(dashboard.sshUsersKey),
      (users) => mine(users) !== undefined,
    );
    assert.deepEqual(mine(listed), {
      user: memberEmail,
      admin: false,
      teams: [team.slug],
      keys: [line],
    });

    // The same key again is refused.
    await page.getByLabel("Name", { exact: true }).fill("again");
    await page.getByLabel("Public key").fill(line);
    await page.getByRole("button", { name: "Add key" }).click();
    await fieldError(member, "ssh-key-public").waitFor();
    assert.match(
      (await fieldError(member, "ssh-key-public").textContent()) ?? "",
      /You registered this key already, as "laptop"/,
    );

    // The admin makes them a platform admin: the gateway list says so.
    await admin.visit(url("/teams"), "teams-with-member");
    await admin.page.getByRole("button", { name: `Make ${memberEmail} a platform admin` }).click();
    await admin.page.getByTestId(`user-${memberEmail}`).getByText("Platform admin").waitFor();
    await admin.snap("member-made-admin");
    await eventually(
      "the member as an admin in the SSH users Secret",
      () => sshUsers(dashboard.sshUsersKey),
      (users) => mine(users)?.admin === true,
    );

    // Removed from the team: their teams follow.
    const memberRow = admin.page.getByTestId(`member-${memberEmail}`);
    await memberRow
      .getByRole("button", { name: `Remove ${memberEmail} from ${team.name}` })
      .click();
    await memberRow.getByRole("button", { name: "Remove", exact: true }).click();
    await memberRow.waitFor({ state: "detached" });
    await admin.snap("member-removed");
    await eventually(
      "the member without teams in the SSH users Secret",
      () => sshUsers(dashboard.sshUsersKey),
      (users) => JSON.stringify(mine(users)?.teams) === "[]",
    );

    // The member deletes the key: they leave the list.
    await member.visit(url("/profile"), "member-profile-one-key");
    await row.getByRole("button", { name: "Delete the key laptop" }).click();
    await row.getByRole("button", { name: "Delete key" }).click();
    await row.waitFor({ state: "detached" });
    await page.getByRole("heading", { name: "No SSH keys yet" }).waitFor();
    await member.snap("ssh-key-deleted");
    await eventually(
      "the member gone from the SSH users Secret",
      () => sshUsers(dashboard.sshUsersKey),
      (users) => users !== undefined && mine(users) === undefined,
    );
  });
});
