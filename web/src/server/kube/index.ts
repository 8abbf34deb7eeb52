/**
 * The dashboard's Kubernetes layer (server-only): its own KubeConfig, API
 * clients that impersonate the signed-in user, binding namespaces to
 * teams.
 */

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
  teamGroup,
} from "./principal.ts";
export {
  bindNamespace,
  type NamespaceBinding,
  TEAM_MEMBER_ROLE,
  teamRoleBindingName,
  unbindNamespace,
} from "./teams.ts";
