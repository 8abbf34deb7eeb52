/**
 * Routed host label → sandbox, and the team that holds it, as the router
 * resolves them (`sandboxHostLabel`, `namespaceTeam`).
 *
 * Read with the dashboard's own identity (its list access to Sandboxes and
 * Namespaces in web/deploy/rbac.yaml), not the user's: whether a user may
 * open a sandbox is the router's rule (its `access` and its namespace's
 * team), not Kubernetes RBAC. An `authenticated` sandbox is open to users
 * who may not read it in Kubernetes, and a namespace's team may be its
 * name without any RoleBinding. Only the decision leaves this module,
 * never the objects.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { GROUP, type Sandbox, VERSION } from "@turgon/api/crd";
import { namespaceTeam, sandboxHostLabel } from "@turgon/api/routing";
import { accessOf, type IngressAccess } from "./access.ts";

export interface RoutedSandbox {
  name: string;
  namespace: string;
  access: IngressAccess;
  /** The team holding its namespace: the namespace's turgon.dev/team label, else its name. */
  team: string;
}

export type SandboxLookup =
  | { kind: "found"; sandbox: RoutedSandbox }
  | { kind: "missing" }
  /** Two sandboxes claim the label (the router serves neither). */
  | { kind: "ambiguous"; count: number };

export interface SandboxDirectory {
  find(label: string): Promise<SandboxLookup>;
}

const SANDBOXES = { group: GROUP, version: VERSION, plural: "sandboxes" };
type SandboxObject = Pick<Sandbox, "spec" | "status"> & {
  metadata: { name: string; namespace: string };
};

/**
 * Full labels (`<name>--<namespace>`; names may not contain `--`) name the
 * sandbox: one list narrowed to it. Short hashed labels (for names too
 * long for one DNS label) are found among all sandboxes, by computing each
 * one's label.
 */
export class ApiSandboxDirectory implements SandboxDirectory {
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;

  constructor(kc: KubeConfig) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  async find(label: string): Promise<SandboxLookup> {
    const split = label.indexOf("--");
    let candidates: SandboxObject[];
    if (split > 0) {
      const name = label.slice(0, split);
      const namespace = label.slice(split + 2);
      if (sandboxHostLabel(name, namespace) !== label) return { kind: "missing" };
      const list = (await this.custom.listNamespacedCustomObject({
        ...SANDBOXES,
        namespace,
        fieldSelector: `metadata.name=${name}`,
      })) as { items: SandboxObject[] };
      candidates = list.items;
    } else {
      const list = (await this.custom.listClusterCustomObject(SANDBOXES)) as {
        items: SandboxObject[];
      };
      candidates = list.items.filter(
        (s) => sandboxHostLabel(s.metadata.name, s.metadata.namespace) === label,
      );
    }
    if (candidates.length > 1) return { kind: "ambiguous", count: candidates.length };
    const sandbox = candidates[0];
    if (!sandbox) return { kind: "missing" };
    const { name, namespace } = sandbox.metadata;
    return {
      kind: "found",
      sandbox: { name, namespace, access: accessOf(sandbox), team: await this.teamOf(namespace) },
    };
  }

  private async teamOf(namespace: string): Promise<string> {
    const list = await this.core.listNamespace({ fieldSelector: `metadata.name=${namespace}` });
    return namespaceTeam(namespace, list.items[0]);
  }
}
