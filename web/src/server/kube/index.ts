/**
 * The dashboard's Kubernetes layer (server-only): its own KubeConfig, API
 * clients that impersonate the signed-in user, binding namespaces to
 * teams, and the informer-backed cache and change log behind live lists.
 */

export {
  type CachedObject,
  filterFor,
  KubeCache,
  type KubeCacheOptions,
  type KubeChange,
  type Snapshot,
  type StreamEvent,
} from "./cache.ts";
export {
  type Change,
  ChangeLog,
  type ChangeScope,
  type ChangeType,
  type Filter,
  type Resync,
  type ResyncReason,
} from "./changes.ts";
export { type KubeConfigSources, loadKubeConfig } from "./config.ts";
export {
  KubeApiError,
  KubeConfigError,
  kubeCall,
  PrincipalError,
  statusOf,
  TeamBindingError,
  type TeamBindingReason,
} from "./errors.ts";
export { type ImpersonatedApis, impersonatedApis } from "./impersonation.ts";
export {
  ADMINS_GROUP,
  impersonationOf,
  type Principal,
  TEAM_GROUP_PREFIX,
  TEAM_OWNER_GROUP_PREFIX,
  teamGroup,
  teamOwnerGroup,
} from "./principal.ts";
export {
  bindNamespace,
  type NamespaceBinding,
  TEAM_MEMBER_ROLE,
  TEAM_OWNER_ROLE,
  teamOwnerRoleBindingName,
  teamRoleBindingName,
  unbindNamespace,
} from "./teams.ts";
