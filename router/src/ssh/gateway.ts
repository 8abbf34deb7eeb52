import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { AGENT_API_PREFIX, SshCredentials } from "@turgon/api/agent";
import type { ExecAuditEvent } from "@turgon/api/audit";
import type { Sandbox, SandboxNode } from "@turgon/api/crd";
import ssh2, {
  type AuthContext,
  type Client,
  type ClientChannel,
  type Connection,
  type ParsedKey,
  type PseudoTtyInfo,
  type Server,
  type ServerChannel,
  type Session,
} from "ssh2";

// ssh2 is CommonJS: Node exposes only its default export to ESM.
const { Client: SshClient, Server: SshServer, utils } = ssh2;

import {
  type AgentCredentials,
  agentApiHeaders,
  agentTlsOptions,
} from "@turgon/api/agent/credentials";
import type { SshUsersFile } from "@turgon/api/routing";
import { Agent, request } from "undici";
import { createWebSocketStream, WebSocket } from "ws";
import type { SandboxDirectory } from "../directory/directory.ts";
import type { Logger } from "../logger.ts";

interface RegisteredKey {
  user: SshUsersFile[number];
  key: ParsedKey;
}

export interface SshGatewayOptions {
  directory: SandboxDirectory;
  /** How the router proves itself to agents. */
  agentCredentials: AgentCredentials;
  hostKey: string;
  users: SshUsersFile;
  log: Logger;
  record: (event: ExecAuditEvent) => Promise<void>;
}

/** Lines of `users` that are not public keys ssh2 can read, as `<user>: <why>`. */
export function unreadableKeys(users: SshUsersFile): string[] {
  return users.flatMap((user) =>
    user.keys.flatMap((line) => {
      const parsed = utils.parseKey(line);
      return parsed instanceof Error ? [`${user.user}: ${parsed.message}`] : [];
    }),
  );
}

/** Each user's parsed keys; a key that does not parse is left out and logged, not fatal. */
function registeredKeys(users: SshUsersFile, log: Logger): RegisteredKey[] {
  return users.flatMap((user) =>
    user.keys.flatMap((line) => {
      const parsed = utils.parseKey(line);
      if (parsed instanceof Error) {
        log.warn({ user: user.user, err: parsed }, "SSH key left out");
        return [];
      }
      return [{ user, key: (Array.isArray(parsed) ? parsed[0] : parsed) as RegisteredKey["key"] }];
    }),
  );
}

/** `ssh <name>.<namespace>@host`: namespaces have no dots, names may. */
export function parseSshUser(username: string): { name: string; namespace: string } | undefined {
  const dot = username.lastIndexOf(".");
  if (dot <= 0 || dot === username.length - 1) return undefined;
  return { name: username.slice(0, dot), namespace: username.slice(dot + 1) };
}

/**
 * The SSH gateway: users connect as `<name>.<namespace>` with a registered
 * key; the gateway checks they may use that sandbox (its team, or admin),
 * then opens an SSH client to the guest through the owning agent's tunnel
 * (Gondolin's enableSsh) and relays every session: shell, exec (so legacy
 * scp), and the sftp subsystem (so sftp and modern scp), with pty, window
 * changes and exit codes. Each session is recorded like an exec session.
 */
export class SshGateway {
  private readonly options: SshGatewayOptions;
  private keys: RegisteredKey[];
  private readonly server: Server;
  private readonly agentDispatcher: Agent;

  constructor(options: SshGatewayOptions) {
    this.options = options;
    this.agentDispatcher = new Agent({ connect: agentTlsOptions(options.agentCredentials) });
    this.keys = registeredKeys(options.users, options.log);
    this.server = new SshServer({ hostKeys: [options.hostKey] }, (connection) =>
      this.accept(connection),
    );
  }

  /** Replaces who may come in; connections already open keep their session. */
  setUsers(users: SshUsersFile): void {
    this.keys = registeredKeys(users, this.options.log);
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.agentDispatcher.close();
  }

  private authenticate(
    ctx: AuthContext,
  ): { user: SshUsersFile[number]; sandbox: Sandbox; node: SandboxNode } | undefined {
    if (ctx.method !== "publickey") return undefined;
    const match = this.keys.find(
      ({ key }) => key.type === ctx.key.algo && key.getPublicSSH().equals(ctx.key.data),
    );
    if (!match) return undefined;
    if (
      ctx.signature &&
      ctx.blob &&
      match.key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true
    )
      return undefined;
    const target = parseSshUser(ctx.username);
    const found = target && this.options.directory.find(target.namespace, target.name);
    if (!found?.node || found.sandbox.status?.phase !== "Running") return undefined;
    const team = this.options.directory.teamOf(found.sandbox.metadata.namespace as string);
    if (!match.user.admin && !match.user.teams.includes(team)) return undefined;
    return { user: match.user, sandbox: found.sandbox, node: found.node };
  }

  private accept(connection: Connection): void {
    const { log } = this.options;
    let target: ReturnType<SshGateway["authenticate"]>;
    connection.on("authentication", (ctx) => {
      target = this.authenticate(ctx);
      // A key check without a signature is a query: say yes only for a key we would accept.
      if (target) ctx.accept();
      else ctx.reject(["publickey"]);
    });
    connection.on("error", (error) => log.debug({ err: error }, "SSH client connection error"));
    connection.on("ready", () => {
      const session = target as NonNullable<typeof target>;
      const upstream = this.connectUpstream(session.sandbox, session.node).catch((error: Error) => {
        log.warn({ err: error, sandbox: session.sandbox.metadata.name }, "SSH to the guest failed");
        connection.end();
        throw error;
      });
      upstream.catch(() => {});
      connection.on(
        "close",
        () =>
          void upstream.then(
            (client) => client.end(),
            () => {},
          ),
      );
      // The guest side going away (SSH turned off, VM stopped) ends the user's connection.
      void upstream.then(
        (client) => {
          const hangUp = () => connection.end();
          client.once("end", hangUp);
          client.once("close", hangUp);
        },
        () => {},
      );
      connection.on("session", (acceptSession) => this.relay(acceptSession(), upstream, session));
    });
  }

  /** An SSH client to the guest, through the agent's tunnel, with the credentials the agent holds. */
  private async connectUpstream(sandbox: Sandbox, node: SandboxNode): Promise<Client> {
    const uid = sandbox.metadata.uid as string;
    const base = `${node.spec.address}${AGENT_API_PREFIX}/sandboxes/${uid}/ssh`;
    const { agentCredentials } = this.options;
    const headers = agentApiHeaders(agentCredentials);
    const response = await request(`${base}/credentials`, {
      headers,
      dispatcher: this.agentDispatcher,
    });
    if (response.statusCode !== 200)
      throw new Error(
        `agent refused SSH credentials: HTTP ${response.statusCode} ${await response.body.text()}`,
      );
    const credentials = SshCredentials.parse(await response.body.json());
    const socket = new WebSocket(`${base.replace(/^http/, "ws")}/tunnel`, {
      headers,
      ...agentTlsOptions(agentCredentials),
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
    });
    const client = new SshClient();
    await new Promise<void>((resolve, reject) => {
      client.once("ready", () => resolve());
      client.once("error", reject);
      client.connect({
        sock: createWebSocketStream(socket) as never,
        username: credentials.user,
        privateKey: credentials.privateKey,
        readyTimeout: 30_000,
      });
    });
    // Over a WebSocket stream, ssh2 may report only `end` when the agent closes the tunnel.
    client.once("end", () => socket.close());
    client.once("close", () => socket.close());
    return client;
  }

  private relay(
    session: Session,
    upstream: Promise<Client>,
    target: NonNullable<ReturnType<SshGateway["authenticate"]>>,
  ): void {
    let pty: PseudoTtyInfo | undefined;
    let upstreamChannel: ClientChannel | undefined;
    session.on("pty", (accept, _reject, info) => {
      pty = info;
      accept?.();
    });
    session.on("window-change", (accept, _reject, info) => {
      upstreamChannel?.setWindow(info.rows, info.cols, info.height, info.width);
      accept?.();
    });
    session.on("env", (accept) => accept?.());
    const open = (
      kind: string,
      command: string | null,
      start: (
        client: Client,
        done: (err: Error | undefined, channel: ClientChannel) => void,
      ) => void,
      down: ServerChannel,
    ) => {
      const startedAt = new Date().toISOString();
      upstream.then(
        (client) =>
          start(client, (err, channel) => {
            if (err) {
              down.stderr.write(`turgon: ${err.message}\n`);
              down.exit(255);
              down.end();
              return;
            }
            upstreamChannel = channel;
            this.bridge(down, channel, (exitCode) =>
              this.recordSession(target, kind, command, pty !== undefined, startedAt, exitCode),
            );
          }),
        () => {
          down.exit(255);
          down.end();
        },
      );
    };
    const ptyOptions = () =>
      pty
        ? { term: pty.term, rows: pty.rows, cols: pty.cols, width: pty.width, height: pty.height }
        : false;
    session.on("shell", (accept) => {
      const down = accept();
      open("shell", null, (client, done) => client.shell(ptyOptions() as never, done), down);
    });
    session.on("exec", (accept, _reject, info) => {
      const down = accept();
      open(
        "exec",
        info.command,
        (client, done) => client.exec(info.command, { pty: ptyOptions() as never }, done),
        down,
      );
    });
    session.on("subsystem", (accept, reject, info) => {
      if (info.name !== "sftp") return reject();
      const down = accept();
      open("sftp", "sftp", (client, done) => client.subsys("sftp", done), down);
    });
  }

  private bridge(
    down: ServerChannel,
    up: ClientChannel,
    onEnd: (exitCode: number | null) => void,
  ): void {
    let exitCode: number | null = null;
    down.pipe(up);
    // The guest sends EOF before exit-status: keep our side open until the channel closes.
    up.pipe(down, { end: false });
    up.stderr.pipe(down.stderr, { end: false });
    up.on("exit", (code: number | null, signal?: string) => {
      exitCode = code;
      if (code !== null && code !== undefined) down.exit(code);
      else if (signal) down.exit(signal, false, "");
    });
    up.on("close", () => {
      down.end();
      onEnd(exitCode);
    });
    down.on("close", () => up.end());
  }

  private recordSession(
    target: NonNullable<ReturnType<SshGateway["authenticate"]>>,
    kind: string,
    command: string | null,
    tty: boolean,
    startedAt: string,
    exitCode: number | null,
  ): void {
    const event: ExecAuditEvent = {
      id: randomUUID(),
      user: target.user.user,
      sandbox: {
        uid: target.sandbox.metadata.uid as string,
        name: target.sandbox.metadata.name as string,
        namespace: target.sandbox.metadata.namespace as string,
      },
      node: target.node.metadata.name as string,
      command: command === null ? null : [command],
      tty,
      startedAt,
      endedAt: new Date().toISOString(),
      exitCode,
      reason: `ssh-${kind}`,
    };
    this.options.log.info({ ssh: { ...event } }, "SSH session ended");
    this.options
      .record(event)
      .catch((error) => this.options.log.error({ err: error }, "could not record the SSH session"));
  }
}
