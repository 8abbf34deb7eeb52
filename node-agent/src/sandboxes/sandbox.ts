import {
  createHttpHooks,
  type IngressAccess,
  type SecretManager,
  type VM,
} from "@earendil-works/gondolin";
import type { AgentSandboxPhase, DesiredSandbox, ObservedSandbox } from "@turgon/api/agent";
import type { EgressAuditEvent } from "@turgon/api/audit";
import { EgressAuditor } from "../egress/auditor.ts";
import { EgressGuard } from "../egress/guard.ts";
import { ingressHooks } from "../ingress/hooks.ts";
import type { Logger } from "../logger.ts";
import type { VmRecords } from "../state/vm-records.ts";
import type { VmLauncher } from "../vm/launcher.ts";

/** Where the detached `command` writes its output inside the guest. */
const COMMAND_LOG = "/var/log/turgon-command.log";

/** The desired-state fields that only a new VM can change. */
export function bootIdentity(desired: DesiredSandbox): string {
  return JSON.stringify([
    desired.image,
    desired.resources,
    desired.env,
    desired.command,
    desired.rootfsMode,
    desired.ingress.websockets,
    desired.policy.secrets.map((s) => s.name).sort(),
  ]);
}

export interface SandboxContext {
  launcher: VmLauncher;
  log: Logger;
  onChange: (sandbox: ManagedSandbox) => void;
  ingressHeaderTimeoutMs: number;
  nodeName: string;
  audit: (event: EgressAuditEvent) => void;
  onBooted: (seconds: number) => void;
  records: VmRecords;
}

/** One sandbox on this node: its desired state and the VM that realises it. */
export class ManagedSandbox {
  desired: DesiredSandbox;
  phase: AgentSandboxPhase = "Booting";
  reason?: string;
  message?: string;
  startedAt?: string;
  vm?: VM;
  ingress?: IngressAccess;
  private guard: EgressGuard;
  private secrets?: SecretManager;
  private secretNames: string[] = [];
  private supervisor?: NodeJS.Timeout;
  private stopping = false;

  private readonly launcher: VmLauncher;
  private readonly log: Logger;
  private readonly onChange: (sandbox: ManagedSandbox) => void;
  private readonly ingressHeaderTimeoutMs: number;
  private readonly nodeName: string;
  private readonly audit: (event: EgressAuditEvent) => void;
  private readonly onBooted: (seconds: number) => void;
  private readonly records: VmRecords;
  private auditor?: EgressAuditor;

  constructor(desired: DesiredSandbox, context: SandboxContext) {
    this.desired = desired;
    this.guard = new EgressGuard(desired.policy);
    this.launcher = context.launcher;
    this.log = context.log;
    this.onChange = context.onChange;
    this.ingressHeaderTimeoutMs = context.ingressHeaderTimeoutMs;
    this.nodeName = context.nodeName;
    this.audit = context.audit;
    this.onBooted = context.onBooted;
    this.records = context.records;
  }

  observe(): ObservedSandbox {
    return {
      uid: this.desired.uid,
      name: this.desired.name,
      namespace: this.desired.namespace,
      generation: this.desired.generation,
      phase: this.phase,
      ...(this.reason ? { reason: this.reason } : {}),
      ...(this.message ? { message: this.message } : {}),
      ...(this.startedAt ? { startedAt: this.startedAt } : {}),
      // Read from the guest's routing table, so edits made inside the guest show.
      routes: this.vm && this.phase === "Running" ? this.vm.getIngressRoutes() : [],
      secretNames: this.secretNames,
    };
  }

  private setPhase(phase: AgentSandboxPhase, reason?: string, message?: string): void {
    this.phase = phase;
    this.reason = reason;
    this.message = message;
    this.onChange(this);
  }

  /** Boots the VM, enables ingress, applies routes and starts the command. */
  async boot(): Promise<void> {
    const { desired } = this;
    const secrets = Object.fromEntries(
      desired.policy.secrets.map((s) => [s.name, { hosts: s.hosts, value: s.value }]),
    );
    let placeholders = new Map<string, { name: string; hosts: string[] }>();
    this.auditor = new EgressAuditor(this.guard, {
      node: this.nodeName,
      sandbox: { uid: desired.uid, name: desired.name, namespace: desired.namespace },
      placeholders: () => placeholders,
      emit: this.audit,
    });
    const { httpHooks, env, secretManager } = createHttpHooks({
      // Turgon's guard decides, live; Gondolin's own allowlist and range block stay open.
      allowedHosts: ["*"],
      blockInternalRanges: false,
      secrets,
      ...this.auditor.hooks(),
    });
    placeholders = new Map(
      desired.policy.secrets.map((s) => [env[s.name] as string, { name: s.name, hosts: s.hosts }]),
    );
    this.secrets = secretManager;
    this.secretNames = Object.keys(secrets).sort();
    const started = performance.now();
    try {
      this.vm = await this.launcher.launch({
        image: desired.image,
        cpus: desired.resources.cpus,
        memoryMiB: desired.resources.memoryMiB,
        env: { ...desired.env, ...env },
        httpHooks,
        ...(desired.rootfsMode ? { rootfsMode: desired.rootfsMode } : {}),
      });
      const pid = this.vm.getHostPid();
      if (pid) await this.records.save(desired.uid, pid);
      if (this.stopping) return;
      this.ingress = await this.vm.enableIngress({
        listenHost: "127.0.0.1",
        listenPort: 0,
        allowWebSockets: desired.ingress.websockets,
        upstreamHeaderTimeoutMs: this.ingressHeaderTimeoutMs,
        hooks: ingressHooks(() => this.desired),
      });
      if (desired.ingress.routes) this.vm.setIngressRoutes(desired.ingress.routes);
      if (desired.command) await this.startCommand(desired.command);
      this.startedAt = new Date().toISOString();
      this.watchForExit();
      this.onBooted((performance.now() - started) / 1000);
      this.log.info(
        { uid: desired.uid, bootMs: Math.round(performance.now() - started) },
        "sandbox running",
      );
      this.setPhase("Running");
    } catch (error) {
      this.log.error({ uid: desired.uid, err: error }, "sandbox failed to boot");
      await this.vm?.close().catch(() => {});
      this.vm = undefined;
      this.setPhase("Failed", "BootFailed", (error as Error).message);
    }
  }

  /** Starts the service detached, so the guest's exec channel stays free. */
  private async startCommand(argv: string[]): Promise<void> {
    const vm = this.vm as VM;
    const result = await vm.exec([
      "/bin/sh",
      "-c",
      `setsid "$@" >${COMMAND_LOG} 2>&1 </dev/null &`,
      "turgon-command",
      ...argv,
    ]);
    if (result.exitCode !== 0) throw new Error(`command did not start: ${result.stderr.trim()}`);
  }

  /** A VM whose QEMU process disappears without being asked to is reported Failed. */
  private watchForExit(): void {
    const pid = this.vm?.getHostPid();
    if (!pid) return;
    this.supervisor = setInterval(() => {
      try {
        process.kill(pid, 0);
      } catch {
        clearInterval(this.supervisor);
        if (this.stopping) return;
        this.log.warn({ uid: this.desired.uid, pid }, "VM exited unexpectedly");
        // Release what Gondolin still holds for it (gateway, sockets, overlay disk).
        const dead = this.vm;
        this.vm = undefined;
        void this.ingress?.close().catch(() => {});
        void dead?.close().catch(() => {});
        this.setPhase("Failed", "VMExited", `the QEMU process (pid ${pid}) exited unexpectedly`);
      }
    }, 1000);
    this.supervisor.unref();
  }

  /** Applies what can change live: routes and the egress policy (secret values and hosts included). */
  applyLive(desired: DesiredSandbox): void {
    this.desired = desired;
    this.guard.update(desired.policy);
    for (const secret of desired.policy.secrets)
      this.secrets?.updateSecret(secret.name, { value: secret.value, hosts: secret.hosts });
    if (this.vm && this.phase === "Running" && desired.ingress.routes)
      this.vm.setIngressRoutes(desired.ingress.routes);
    this.onChange(this);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.supervisor);
    if (this.phase !== "Failed") this.setPhase("Stopping");
    await this.ingress?.close().catch(() => {});
    await this.vm?.close();
    this.vm = undefined;
    this.auditor?.close();
    await this.records.remove(this.desired.uid);
  }

  hostPid(): number | undefined {
    return this.vm?.getHostPid() ?? undefined;
  }
}
