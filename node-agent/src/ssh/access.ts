import { readFile } from "node:fs/promises";
import type { SshAccess } from "@earendil-works/gondolin";
import type { SshCredentials } from "@turgon/api/agent";
import type { Logger } from "../logger.ts";
import type { SandboxVm } from "../vm/launcher.ts";
import { installSessionEnv } from "./session-env.ts";

/** Gondolin's default SSH user, named so the session env goes to the same user's shells. */
const SSH_USER = "root";

/** Where a sandbox's SSH stands, as the credentials and tunnel endpoints see it. */
export type SshState =
  | { state: "off" }
  | { state: "starting" }
  | { state: "failed"; message: string }
  | { state: "ready"; access: SshAccess };

/**
 * One sandbox's SSH: Gondolin's `vm.enableSsh` and the tunnels opened to it.
 *
 * Gondolin starts `sshd` in the guest, bound to the guest's loopback, with a
 * fresh ed25519 key pair made on the host (`ssh-keygen`): the public half goes
 * into the user's `authorized_keys` in the guest, the private half stays in a
 * temporary file on the host. The host reaches the guest's port 22 over the
 * virtio TCP forwarder (`sandboxssh`), exposed as a loopback listener here.
 * Closing removes that listener and the key file; the agent also ends every
 * tunnel still open, so turning SSH off cuts live sessions too. Sessions get
 * the sandbox's env as exec does (see `installSessionEnv`), rewritten when it
 * changes while SSH is on (`refreshEnv`).
 */
export class SandboxSsh {
  private access?: SshAccess;
  private failure?: string;
  private enabling = false;
  /** Bumped by close(), so an enableSsh that finishes after it is closed again. */
  private generation = 0;
  private readonly tunnels = new Set<() => void>();
  private readonly log: Logger;
  /** The env sessions get: the latest one given, written by one write at a time. */
  private env: Record<string, string> = {};
  private writing: Promise<void> = Promise.resolve();

  /** Told when the state changes (ready, failed, closed): a supervisor reports it to the agent. */
  private readonly onChange: () => void;

  constructor(log: Logger, onChange: () => void = () => {}) {
    this.log = log;
    this.onChange = onChange;
  }

  /**
   * Enables SSH in `vm` with `env` (the VM's env: spec.env and secret
   * placeholders) in every session; once; a failure is kept and reported,
   * not thrown.
   */
  async open(vm: SandboxVm, env: Record<string, string>): Promise<void> {
    if (this.access || this.enabling) return;
    const generation = this.generation;
    this.enabling = true;
    this.failure = undefined;
    this.env = env;
    const started = performance.now();
    try {
      // Before sshd is reachable, so no session starts without the env.
      await this.writeEnv(vm);
      const access = await vm.enableSsh({
        user: SSH_USER,
        listenHost: "127.0.0.1",
        listenPort: 0,
      });
      if (generation !== this.generation) {
        await access.close().catch(() => {});
        return;
      }
      this.access = access;
      this.enabling = false;
      this.onChange();
      this.log.info(
        { user: access.user, port: access.port, ms: Math.round(performance.now() - started) },
        "SSH enabled in the guest",
      );
    } catch (error) {
      if (generation !== this.generation) return;
      this.failure = (error as Error).message;
      this.enabling = false;
      this.onChange();
      this.log.warn({ err: this.failure }, "SSH could not be enabled in the guest");
    } finally {
      if (generation === this.generation) this.enabling = false;
    }
  }

  /** Writes the latest env after any write in progress, so the last one given wins. */
  private writeEnv(vm: SandboxVm): Promise<void> {
    const write = this.writing.then(() => installSessionEnv(vm, SSH_USER, this.env));
    this.writing = write.catch(() => {});
    return write;
  }

  /**
   * Gives SSH sessions started from now on `env` (a secret name added or
   * removed live). While SSH is off there is nothing to write: `open` writes
   * the env it is given. A failure is logged; sessions then keep the old env.
   */
  async refreshEnv(vm: SandboxVm, env: Record<string, string>): Promise<void> {
    this.env = env;
    if (!this.access && !this.enabling) return;
    await this.writeEnv(vm).catch((error: Error) => {
      this.log.warn({ err: error.message }, "could not rewrite the SSH sessions' env");
    });
  }

  /** Ends every open tunnel, then closes the forwarder and removes the key file. */
  async close(): Promise<void> {
    this.generation++;
    this.enabling = false;
    for (const end of [...this.tunnels]) end();
    this.tunnels.clear();
    this.failure = undefined;
    const access = this.access;
    this.access = undefined;
    if (!access) return this.onChange();
    // A connection still open (an agent's tunnel) would hold the forwarder's
    // close; the VM's next step must not wait on it.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      access.close().catch((error: Error) => {
        this.log.warn({ err: error.message }, "closing SSH access failed");
      }),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.log.warn("SSH access still closing after 5 s (a tunnel open); going on");
          resolve();
        }, 5_000);
      }),
    ]);
    clearTimeout(timer);
    this.log.info("SSH closed");
    this.onChange();
  }

  state(): SshState {
    if (this.access) return { state: "ready", access: this.access };
    if (this.enabling) return { state: "starting" };
    if (this.failure !== undefined) return { state: "failed", message: this.failure };
    return { state: "off" };
  }

  /** The user and private key the guest's sshd accepts; read from Gondolin's key file. */
  async credentials(access: SshAccess): Promise<SshCredentials> {
    return { user: access.user, privateKey: await readFile(access.identityFile, "utf8") };
  }

  /** Registers a tunnel's `end`, called when SSH closes; returns its deregistration. */
  track(end: () => void): () => void {
    this.tunnels.add(end);
    return () => this.tunnels.delete(end);
  }
}
