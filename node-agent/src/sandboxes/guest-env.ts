import type { SandboxVm } from "../vm/launcher.ts";

type ExecEnv = NonNullable<Parameters<SandboxVm["exec"]>[1]>["env"];

/** An exec's env as a record; Gondolin also takes `NAME=value` strings. */
function asRecord(env: ExecEnv): Record<string, string> {
  if (!env) return {};
  if (!Array.isArray(env)) return env;
  return Object.fromEntries(
    env.map((entry) => {
      const at = entry.indexOf("=");
      return at === -1 ? [entry, ""] : [entry.slice(0, at), entry.slice(at + 1)];
    }),
  );
}

/**
 * The VM as a sandbox hands it out: every exec starts with the sandbox's env
 * as it is now (`env()`), the exec's own env on top.
 *
 * Gondolin gives each exec the env the VM was created with, fixed at boot.
 * Secret placeholders change while the VM runs (a secret name added or
 * removed live), so the VM boots with spec.env only and the placeholders come
 * from here, per exec. Processes already running keep the env they started with.
 */
export function withLiveEnv(vm: SandboxVm, env: () => Record<string, string>): SandboxVm {
  return {
    exec: (command, options) =>
      vm.exec(command, { ...options, env: { ...env(), ...asRecord(options?.env) } }),
    enableIngress: vm.enableIngress.bind(vm),
    getIngressRoutes: vm.getIngressRoutes.bind(vm),
    setIngressRoutes: vm.setIngressRoutes.bind(vm),
    close: vm.close.bind(vm),
    getHostPid: vm.getHostPid.bind(vm),
    checkpoint: vm.checkpoint.bind(vm),
    enableSsh: vm.enableSsh.bind(vm),
  };
}
