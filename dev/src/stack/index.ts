/**
 * The stack launcher that `npm run up` and the tests share: one node agent,
 * the router and the operator, each with its flags built in one place.
 */

export {
  type RunningProcess,
  startChildProcess,
  startProcess,
} from "./child-processes.ts";
export {
  applyEdgeConfig,
  type Cluster,
  kubeConfigAs,
  kubectlOn,
  removeEdgeConfig,
  setSshUsers,
} from "./cluster.ts";
export { COMPONENTS, type ComponentName, STOP_ORDER } from "./components.ts";
export {
  type AgentPlaneAccess,
  agentClientFlags,
  agentFlags,
  type Flags,
  operatorFlags,
  routerFlags,
  toArgs,
} from "./flags.ts";
export {
  type ComponentLaunch,
  type KubeconfigSource,
  type LaunchedStack,
  launchStack,
  type StackDescription,
  type StackPorts,
  type StartComponent,
  type Started,
} from "./launch.ts";
export { ensureSshKeyPair } from "./ssh-keys.ts";
