/**
 * The set-up the policy editing browser tests share: a test dashboard, two
 * teams each bound to a namespace of its own, people of those teams with a
 * role, a Chromium per person whose every body the leak check reads, and
 * signing in through the sign-in page.
 */

import { join } from "node:path";
import { kubectl } from "@turgon/dev/testing";
import { startTestDashboard, type TestDashboard } from "@turgon/dev/testing/dashboard";
import { type BrowserSession, openBrowser } from "./browser/chromium.ts";
import type { SeenByBrowsers } from "./browser/seen-by-browsers.ts";
import { addTeamUser, bindNamespace, must } from "./sandboxes-support.ts";

/** Every test user's password. */
export const TEST_PASSWORD = "correct-horse-battery-staple-9";

/** Signs in through the sign-in page, as a person would, and waits for the landing page. */
export async function signInInBrowser(
  b: BrowserSession,
  dashboardUrl: string,
  email: string,
  password = TEST_PASSWORD,
): Promise<void> {
  await b.page.goto(`${dashboardUrl}/signin`);
  await b.page.getByLabel("Email address").fill(email);
  await b.page.getByLabel("Password").fill(password);
  await b.page.getByRole("button", { name: "Sign in" }).click();
  await b.page.waitForURL(`${dashboardUrl}/sandboxes`);
}

export interface Person {
  email: string;
  name: string;
  /** Team "a" or team "b" (each has its own namespace). */
  team: "a" | "b";
  role: "member" | "owner";
}

export interface TwoTeams<K extends string> {
  dashboard: TestDashboard;
  /** A browser per person; the first person's is named after the test, the others `<test>-<key>`. */
  browsers: Record<K, BrowserSession>;
  signIn(who: K): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the dashboard, binds `namespaces.a` to `teams.a` (and b to b),
 * makes the people, and opens a browser per person that `seen` watches.
 * `stop` closes them all and deletes the namespaces.
 */
export async function startTwoTeams<K extends string>(options: {
  test: string;
  teams: { a: string; b: string };
  namespaces: { a: string; b: string };
  people: Record<K, Person>;
  seen: SeenByBrowsers;
}): Promise<TwoTeams<K>> {
  const keys = Object.keys(options.people) as K[];
  const browsers = {} as Record<K, BrowserSession>;
  let dashboard: TestDashboard | undefined;
  const stop = async () => {
    for (const key of [...keys].reverse()) await browsers[key]?.close();
    await dashboard?.stop();
    await kubectl([
      "delete",
      "namespace",
      options.namespaces.a,
      options.namespaces.b,
      "--wait=false",
    ]);
  };
  try {
    for (const [index, key] of keys.entries()) {
      browsers[key] = await openBrowser(index === 0 ? options.test : `${options.test}-${key}`);
      await options.seen.watch(browsers[key].page);
    }
    const first = browsers[keys[0] as K];
    dashboard = await startTestDashboard({ logFile: join(first.artifacts, "dashboard.log") });
    for (const side of ["a", "b"] as const) {
      await must(["create", "namespace", options.namespaces[side]]);
      await bindNamespace(options.namespaces[side], options.teams[side]);
    }
    for (const key of keys) {
      const person = options.people[key];
      await addTeamUser(dashboard, {
        email: person.email,
        password: TEST_PASSWORD,
        name: person.name,
        team: options.teams[person.team],
        role: person.role,
      });
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const started = dashboard;
  return {
    dashboard: started,
    browsers,
    signIn: (who) => signInInBrowser(browsers[who], started.url, options.people[who].email),
    stop,
  };
}
