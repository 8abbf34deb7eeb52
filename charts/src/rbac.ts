/**
 * RBAC has one source: the chart's templates/rbac/<component>.yaml. The
 * local platform and the tests apply <component>/deploy/rbac.yaml, which is
 * those templates rendered for the release `turgon` in `turgon-system`
 * (`npm run generate:rbac`); a test fails when a committed file differs.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderChart, withoutSourceComments } from "./helm.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Components whose RBAC the chart holds, by their folder. */
export const RBAC_COMPONENTS = ["node-agent", "operator", "router", "web"] as const;
export type RbacComponent = (typeof RBAC_COMPONENTS)[number];

/** The chart does not create its namespace (`helm install --create-namespace` does); the local platform's files do. */
const NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: turgon-system\n";
/** Files that create turgon-system first, as they did before the chart. */
const WITH_NAMESPACE: ReadonlySet<RbacComponent> = new Set(["operator", "web"]);

/** Path of a component's deploy/rbac.yaml, relative to the checkout. */
export function rbacFile(component: RbacComponent): string {
  return `${component}/deploy/rbac.yaml`;
}

/** What <component>/deploy/rbac.yaml must hold: the chart's RBAC template, rendered with default values. */
export async function renderRbacFile(component: RbacComponent): Promise<string> {
  const rendered = withoutSourceComments(
    await renderChart({ showOnly: [`templates/rbac/${component}.yaml`] }),
  );
  const header =
    `# Generated from charts/turgon/templates/rbac/${component}.yaml by \`npm run generate:rbac\`\n` +
    "# (release turgon in turgon-system). Do not edit: change the template.\n";
  return `${header}${WITH_NAMESPACE.has(component) ? `${NAMESPACE}---\n` : ""}${rendered}`;
}

/** Components whose committed deploy/rbac.yaml differs from the chart's rendering. */
export async function driftedRbac(): Promise<RbacComponent[]> {
  const drifted: RbacComponent[] = [];
  for (const component of RBAC_COMPONENTS) {
    const committed = await readFile(join(REPO_ROOT, rbacFile(component)), "utf8").catch(() => "");
    if (committed !== (await renderRbacFile(component))) drifted.push(component);
  }
  return drifted;
}

/** Writes every component's deploy/rbac.yaml from the chart. */
export async function writeRbacFiles(): Promise<string[]> {
  const written: string[] = [];
  for (const component of RBAC_COMPONENTS) {
    await writeFile(join(REPO_ROOT, rbacFile(component)), await renderRbacFile(component));
    written.push(rbacFile(component));
  }
  return written;
}
