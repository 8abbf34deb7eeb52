/**
 * Binding a namespace to a team: the namespace's `turgon.dev/team` label
 * (which the router, the SSH gateway and the dashboard's lists read) and a
 * RoleBinding there that gives the team's group the ClusterRole
 * turgon-team-member, and one that gives its owners' group the ClusterRole
 * turgon-team-owner (which Kubernetes enforces). All are written as the
 * signed-in admin, through impersonation: ClusterRole turgon-admin lets
 * admins patch namespaces, manage RoleBindings and `bind` both roles
 * (RBAC refuses a RoleBinding granting more than its creator may grant).
 */
import {
  PatchStrategy,
  setHeaderOptions,
  type V1Namespace,
  type V1RoleBinding,
} from "@kubernetes/client-node";
import { dnsLabel } from "@turgon/api/crd";
import { TEAM_LABEL } from "@turgon/api/routing";
import { statusOf, TeamBindingError } from "./errors.ts";
import type { ImpersonatedApis } from "./impersonation.ts";
import { kubeLogger, type Logger } from "./log.ts";
import { teamGroup, teamOwnerGroup } from "./principal.ts";

/** The ClusterRole a team holds in each of its namespaces (web/deploy/rbac.yaml). */
export const TEAM_MEMBER_ROLE = "turgon-team-member";
/** The ClusterRole a team's owners hold beside it: applying policy changes (web/deploy/rbac.yaml). */
export const TEAM_OWNER_ROLE = "turgon-team-owner";
const RBAC_GROUP = "rbac.authorization.k8s.io";
const MANAGED_BY = { "app.kubernetes.io/managed-by": "turgon-web" };
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
/** Attempts at the label write when another writer changes the namespace meanwhile. */
const ATTEMPTS = 3;

/** The RoleBinding that gives `team` its role in a namespace. */
export function teamRoleBindingName(team: string): string {
  return `turgon-team-${team}`;
}

/** The RoleBinding that gives `team`'s owners their extra role in a namespace. */
export function teamOwnerRoleBindingName(team: string): string {
  return `turgon-team-owner-${team}`;
}

/** The two grants a bound namespace carries: the team's, and its owners'. */
type Grant = "member" | "owner";
const GRANTS: Record<
  Grant,
  { name: (t: string) => string; role: string; group: (t: string) => string }
> = {
  member: { name: teamRoleBindingName, role: TEAM_MEMBER_ROLE, group: teamGroup },
  owner: { name: teamOwnerRoleBindingName, role: TEAM_OWNER_ROLE, group: teamOwnerGroup },
};

export interface NamespaceBinding {
  namespace: string;
  team: string;
  roleBinding: string;
  /** False when it was already so (both calls are idempotent). */
  changed: boolean;
}

interface Options {
  log?: Logger;
}

/**
 * Binds `namespace` to `team`: its RoleBinding first, then the label, the
 * commit point, written only if the namespace has not changed since it
 * was read. A namespace bound to another team is refused, not taken; if
 * the label cannot be written, a RoleBinding made by this call is deleted
 * again, so nothing is left half-applied.
 */
export async function bindNamespace(
  apis: ImpersonatedApis,
  team: string,
  namespace: string,
  options: Options = {},
): Promise<NamespaceBinding> {
  const log = (options.log ?? kubeLogger).child({ team, namespace, as: apis.as.user });
  checkNames(team, namespace);
  const result = { namespace, team, roleBinding: teamRoleBindingName(team) };
  let current = await readNamespace(apis, namespace);
  if (!current) throw notFound(namespace);
  refuseOtherTeam(current, team, namespace);
  const created = await ensureRoleBinding(apis, team, namespace, "member");
  let createdOwner = false;
  try {
    createdOwner = await ensureRoleBinding(apis, team, namespace, "owner");
    for (let attempt = 1; ; attempt++) {
      if (teamLabel(current) === team) {
        if (created || createdOwner)
          log.info("namespace bound to team (its label was already set)");
        return { ...result, changed: created || createdOwner };
      }
      try {
        await setTeamLabel(apis, current, team);
        log.info("namespace bound to team");
        return { ...result, changed: true };
      } catch (error) {
        if (statusOf(error) !== 409 || attempt >= ATTEMPTS) throw error;
      }
      // Changed meanwhile (perhaps bound by another admin): decide again on what is there now.
      current = await readNamespace(apis, namespace);
      if (!current) throw notFound(namespace);
      refuseOtherTeam(current, team, namespace);
    }
  } catch (error) {
    if (createdOwner)
      await rollBack(log, "delete the owners' RoleBinding made for it", () =>
        apis.rbac.deleteNamespacedRoleBinding({ name: teamOwnerRoleBindingName(team), namespace }),
      );
    if (created)
      await rollBack(log, "delete the RoleBinding made for it", () =>
        apis.rbac.deleteNamespacedRoleBinding({ name: result.roleBinding, namespace }),
      );
    throw error;
  }
}

/**
 * Unbinds `namespace` from `team`: the RoleBinding goes first (the team's
 * rights end before anything else), then the label. A namespace bound to
 * another team is refused; one already unbound (or gone) is left as it
 * is. If the label cannot be removed, the RoleBinding is put back.
 */
export async function unbindNamespace(
  apis: ImpersonatedApis,
  team: string,
  namespace: string,
  options: Options = {},
): Promise<NamespaceBinding> {
  const log = (options.log ?? kubeLogger).child({ team, namespace, as: apis.as.user });
  checkNames(team, namespace);
  const result = { namespace, team, roleBinding: teamRoleBindingName(team) };
  let current = await readNamespace(apis, namespace);
  if (!current) return { ...result, changed: false };
  refuseOtherTeam(current, team, namespace);
  // The owners' grant goes first: it is the larger one.
  const removedOwner = await removeRoleBinding(apis, team, namespace, "owner");
  let removed: V1RoleBinding | undefined;
  try {
    removed = await removeRoleBinding(apis, team, namespace, "member");
    for (let attempt = 1; ; attempt++) {
      if (teamLabel(current) !== team)
        return { ...result, changed: removed !== undefined || removedOwner !== undefined };
      try {
        await setTeamLabel(apis, current, null);
        log.info("namespace unbound from team");
        return { ...result, changed: true };
      } catch (error) {
        if (statusOf(error) !== 409 || attempt >= ATTEMPTS) throw error;
      }
      current = await readNamespace(apis, namespace);
      if (!current)
        return { ...result, changed: removed !== undefined || removedOwner !== undefined };
      refuseOtherTeam(current, team, namespace);
    }
  } catch (error) {
    if (removed)
      await rollBack(log, "restore its RoleBinding", () =>
        apis.rbac.createNamespacedRoleBinding({
          namespace,
          body: roleBinding(team, namespace, "member"),
        }),
      );
    if (removedOwner)
      await rollBack(log, "restore its owners' RoleBinding", () =>
        apis.rbac.createNamespacedRoleBinding({
          namespace,
          body: roleBinding(team, namespace, "owner"),
        }),
      );
    throw error;
  }
}

function checkNames(team: string, namespace: string): void {
  if (!dnsLabel.safeParse(team).success)
    throw new TeamBindingError(
      "team",
      "InvalidName",
      `${JSON.stringify(team)} is not a team slug (a DNS label)`,
    );
  if (!dnsLabel.safeParse(namespace).success)
    throw new TeamBindingError(
      "namespace",
      "InvalidName",
      `${JSON.stringify(namespace)} is not a namespace name (a DNS label)`,
    );
}

const teamLabel = (namespace: V1Namespace) => namespace.metadata?.labels?.[TEAM_LABEL] || undefined;

function refuseOtherTeam(current: V1Namespace, team: string, namespace: string): void {
  const holder = teamLabel(current);
  if (holder !== undefined && holder !== team)
    throw new TeamBindingError(
      "namespace",
      "BoundToAnotherTeam",
      `namespace ${namespace} is bound to team ${holder}; unbind it from ${holder} first`,
    );
}

const notFound = (namespace: string) =>
  new TeamBindingError("namespace", "NamespaceNotFound", `namespace ${namespace} does not exist`);

async function readNamespace(
  apis: ImpersonatedApis,
  name: string,
): Promise<V1Namespace | undefined> {
  try {
    return await apis.core.readNamespace({ name });
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

/** Sets (or with null removes) the team label, if the namespace is still as it was read. */
async function setTeamLabel(
  apis: ImpersonatedApis,
  current: V1Namespace,
  team: string | null,
): Promise<void> {
  await apis.core.patchNamespace(
    {
      name: current.metadata?.name as string,
      body: {
        metadata: {
          resourceVersion: current.metadata?.resourceVersion,
          labels: { [TEAM_LABEL]: team },
        },
      },
    },
    mergePatch,
  );
}

function roleBinding(team: string, namespace: string, grant: Grant): V1RoleBinding {
  const { name, role, group } = GRANTS[grant];
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: "RoleBinding",
    metadata: {
      name: name(team),
      namespace,
      labels: { ...MANAGED_BY, [TEAM_LABEL]: team },
    },
    roleRef: { apiGroup: RBAC_GROUP, kind: "ClusterRole", name: role },
    subjects: [{ apiGroup: RBAC_GROUP, kind: "Group", name: group(team) }],
  };
}

/** Whether an existing RoleBinding is the one we would make (it may carry more subjects). */
function grantsTeam(existing: V1RoleBinding, team: string, grant: Grant): boolean {
  const { role, group } = GRANTS[grant];
  return (
    existing.roleRef.kind === "ClusterRole" &&
    existing.roleRef.name === role &&
    (existing.subjects ?? []).some((s) => s.kind === "Group" && s.name === group(team))
  );
}

const conflict = (team: string, namespace: string, grant: Grant) =>
  new TeamBindingError(
    "namespace",
    "RoleBindingConflict",
    `namespace ${namespace} has a RoleBinding ${GRANTS[grant].name(team)} that does not grant ${GRANTS[grant].group(team)} the ClusterRole ${GRANTS[grant].role}; remove or rename it first`,
  );

/** Creates the team's RoleBinding; true if this call made it, false if it was there already. */
async function ensureRoleBinding(
  apis: ImpersonatedApis,
  team: string,
  namespace: string,
  grant: Grant,
): Promise<boolean> {
  try {
    await apis.rbac.createNamespacedRoleBinding({
      namespace,
      body: roleBinding(team, namespace, grant),
    });
    return true;
  } catch (error) {
    if (statusOf(error) !== 409) throw error;
  }
  const existing = await apis.rbac.readNamespacedRoleBinding({
    name: GRANTS[grant].name(team),
    namespace,
  });
  if (!grantsTeam(existing, team, grant)) throw conflict(team, namespace, grant);
  return false;
}

/** Deletes the team's RoleBinding if there is one; returns what was deleted. */
async function removeRoleBinding(
  apis: ImpersonatedApis,
  team: string,
  namespace: string,
  grant: Grant,
): Promise<V1RoleBinding | undefined> {
  const name = GRANTS[grant].name(team);
  let existing: V1RoleBinding;
  try {
    existing = await apis.rbac.readNamespacedRoleBinding({ name, namespace });
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
  if (!grantsTeam(existing, team, grant)) throw conflict(team, namespace, grant);
  try {
    await apis.rbac.deleteNamespacedRoleBinding({
      name,
      namespace,
      body: { preconditions: { uid: existing.metadata?.uid as string } },
    });
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
  return existing;
}

/** Undoes a step of a failed change; a failed undo is logged with what is left behind. */
async function rollBack(log: Logger, what: string, undo: () => Promise<unknown>): Promise<void> {
  try {
    await undo();
    log.warn(`binding change failed; rolled back: ${what}`);
  } catch (error) {
    log.error({ err: error }, `binding change failed, and could not ${what}; fix it by hand`);
  }
}
