/**
 * The simulated runtime (`--runtime simulated`) boots no QEMU. It exists only
 * for control-plane scale benchmarks: many agents, thousands of sandboxes,
 * on a machine that could not run that many VMs. Its "VMs" answer exec with
 * exit 0, keep a routing table, and serve every ingress request from one
 * shared loopback server; its checkpoints are small marker files. It has no
 * SSH: enabling it fails with `SshUnsupportedError`, which the agent reports
 * (the credentials endpoint answers 409 with its message). The agent
 * labels its SandboxNode `turgon.dev/runtime: simulated` and logs a warning
 * at start, so nobody mistakes it for a real node.
 */
import { access, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type ExecProcess,
  type ExecResult,
  type IngressAccess,
  type IngressRoute,
  type SshAccess,
  VmCheckpoint,
} from "@earendil-works/gondolin";
import type { SandboxRuntime, SandboxVm, VmSpec } from "./launcher.ts";

export const SIMULATED_RESPONSE = "simulated sandbox: no VM runs here\n";

/** The simulated runtime runs no guest, so there is no SSH server to reach. */
export class SshUnsupportedError extends Error {
  override readonly name = "SshUnsupportedError";
}

/** One loopback HTTP server shared by every simulated VM's ingress, open while any uses it. */
class SharedIngress {
  private server?: Promise<Server>;
  private users = 0;

  async open(): Promise<IngressAccess> {
    this.users++;
    this.server ??= new Promise((resolve, reject) => {
      const server = createServer((_req, res) => {
        res.writeHead(200, { "content-type": "text/plain" }).end(SIMULATED_RESPONSE);
      });
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve(server));
    });
    const { port } = (await this.server).address() as AddressInfo;
    let closed = false;
    return {
      host: "127.0.0.1",
      port,
      url: `http://127.0.0.1:${port}`,
      close: async () => {
        if (closed) return;
        closed = true;
        if (--this.users > 0 || !this.server) return;
        const server = await this.server;
        this.server = undefined;
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  }
}

/**
 * What `vm.exec` returns, reduced to what the agent uses: awaitable, with
 * stdin, resize and no output streams. Gondolin does not export a way to
 * build a real `ExecProcess`, hence the one cast.
 */
function finishedExec(): ExecProcess {
  const result = { exitCode: 0, stdout: "", stderr: "", ok: true } as unknown as ExecResult;
  const done = Promise.resolve(result);
  const process = Object.assign(done, {
    result: done,
    stdout: null,
    stderr: null,
    write() {},
    end() {},
    resize() {},
  });
  return process as unknown as ExecProcess;
}

class SimulatedVm implements SandboxVm {
  private routes: IngressRoute[] = [];
  private ingress?: IngressAccess;
  private readonly shared: SharedIngress;

  constructor(shared: SharedIngress) {
    this.shared = shared;
  }

  exec: SandboxVm["exec"] = () => finishedExec();

  async enableIngress(): Promise<IngressAccess> {
    this.ingress ??= await this.shared.open();
    return this.ingress;
  }

  async enableSsh(): Promise<SshAccess> {
    throw new SshUnsupportedError(
      "SSH is not available on the simulated runtime: no guest runs, so there is no SSH server",
    );
  }

  getIngressRoutes(): IngressRoute[] {
    return this.routes.map((route) => ({ ...route }));
  }

  setIngressRoutes(routes: IngressRoute[]): void {
    this.routes = routes.map((route) => ({ ...route, stripPrefix: route.stripPrefix ?? true }));
  }

  getHostPid(): number | null {
    return null;
  }

  async close(): Promise<void> {
    await this.ingress?.close();
    this.ingress = undefined;
  }

  async checkpoint(checkpointPath: string): Promise<VmCheckpoint> {
    await this.close();
    await writeFile(checkpointPath, "turgon simulated checkpoint: no disk\n");
    return new VmCheckpoint(checkpointPath, {
      version: 1,
      name: "simulated",
      createdAt: new Date().toISOString(),
      diskFile: checkpointPath,
      guestAssetBuildId: "00000000-0000-0000-0000-000000000000",
    });
  }
}

export class SimulatedRuntime implements SandboxRuntime {
  readonly name = "simulated";
  readonly chosenAccelerator = undefined;
  private readonly bootMs: number;
  private readonly ingress = new SharedIngress();

  constructor(options: { bootMs: number }) {
    this.bootMs = options.bootMs;
  }

  async launch(_spec: VmSpec): Promise<SandboxVm> {
    await sleep(this.bootMs);
    return new SimulatedVm(this.ingress);
  }

  async resume(checkpointPath: string, _spec: VmSpec): Promise<SandboxVm> {
    await access(checkpointPath);
    await sleep(this.bootMs);
    return new SimulatedVm(this.ingress);
  }

  canCheckpoint(): boolean {
    return true;
  }
}
