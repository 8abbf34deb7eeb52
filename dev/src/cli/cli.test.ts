import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { mintIngressToken, SSH_USERS_SECRET, SshUsersFile } from "@turgon/api/routing";
import { commandExists, run } from "@turgon/toolkit/run";
import { defaultPostgresDataDir } from "../environment/index.ts";
import { repoRoot } from "../paths.ts";
import { freePort } from "../process/ports.ts";
import { waitFor } from "../process/wait.ts";
import { registryDataDir } from "../services/registry.ts";
import { ensureSshKeyPair } from "../stack/ssh-keys.ts";
import { testEnvironment } from "../testing/index.ts";
import { pathWithout } from "../testing/path-without.ts";

/** Runs one of the `npm run` entry points the way npm does, with Node 24. */
function cli(name: "up" | "down" | "status", env: NodeJS.ProcessEnv) {
  return run(process.execPath, [join(repoRoot, "dev/src/cli", `${name}.ts`)], {
    env,
    cwd: repoRoot,
  });
}

/**
 * The environment of an `up` of a test's own: its state directory, and
 * free ports for everything, so it meets neither the test run's platform
 * nor a developer's.
 */
async function isolatedUp(stateDir: string) {
  return {
    ...process.env,
    TURGON_STATE_DIR: stateDir,
    TURGON_APISERVER_PORT: String(await freePort()),
    TURGON_CONTROLLER_MANAGER_PORT: String(await freePort()),
    TURGON_ETCD_PORT: String(await freePort()),
    TURGON_ETCD_PEER_PORT: String(await freePort()),
    TURGON_POSTGRES_PORT: String(await freePort()),
    TURGON_REDIS_PORT: String(await freePort()),
    TURGON_AGENT_API_PORT: String(await freePort()),
    TURGON_AGENT_INGRESS_PORT: String(await freePort()),
    TURGON_OPERATOR_METRICS_PORT: String(await freePort()),
    TURGON_ROUTER_PORT: String(await freePort()),
    TURGON_ROUTER_METRICS_PORT: String(await freePort()),
    TURGON_ROUTER_SSH_PORT: String(await freePort()),
    TURGON_WEB_PORT: String(await freePort()),
    TURGON_AUDIT_WORKER_PORT: String(await freePort()),
    TURGON_REGISTRY_PORT: String(await freePort()),
  };
}

describe("npm run up / status / down", async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "turgon-up-"));
  const env = {
    ...(await isolatedUp(stateDir)),
    // The local admin's SSH key, in place of ~/.ssh's (a machine may have none).
    TURGON_SSH_PUBLIC_KEYS: join(stateDir, "ssh", "id_ed25519.pub"),
  };
  await mkdir(join(stateDir, "ssh"));
  for (const name of ["id_ed25519", "stranger"])
    await ensureSshKeyPair(join(stateDir, "ssh", name), name);
  /** A data key of the SSH users Secret the router follows, parsed as the gateway parses it. */
  const sshUsers = async (key: string) => {
    const got = await kubectlUp([
      "get",
      "secret",
      SSH_USERS_SECRET,
      "-n",
      "turgon-system",
      "-o",
      "json",
    ]);
    if (got.exitCode !== 0) return undefined;
    const value = (JSON.parse(got.stdout) as { data?: Record<string, string> }).data?.[key];
    return value === undefined
      ? undefined
      : SshUsersFile.parse(JSON.parse(Buffer.from(value, "base64").toString("utf8")));
  };
  const kubectlUp = (args: string[]) =>
    run(join(stateDir, "bin", "kubectl"), args, {
      env: { ...process.env, KUBECONFIG: join(stateDir, "kubeconfig") },
    });
  /**
   * The first `up`, for whichever test needs the platform first, so every
   * test stands alone (`--test-name-pattern` on any one passes).
   */
  let firstUp: ReturnType<typeof cli> | undefined;
  const upOnce = async () => {
    firstUp ??= cli("up", env);
    const result = await firstUp;
    assert.equal(result.exitCode, 0, result.tail);
    return result;
  };
  after(async () => {
    await cli("down", env);
    await rm(stateDir, { recursive: true, force: true });
    await rm(defaultPostgresDataDir(stateDir), { recursive: true, force: true });
    await rm(registryDataDir(stateDir), { recursive: true, force: true });
  });

  it("starts the platform and prints the kubeconfig and a kubectl line", async () => {
    const first = await upOnce();
    assert.match(
      first.stdout,
      /etcd started, kube-apiserver started, kube-controller-manager started, postgres started, redis started, node-agent started, operator started, router started, dashboard started, audit-worker started, registry started/,
    );
    assert.match(first.stdout, new RegExp(`export KUBECONFIG=${stateDir}/kubeconfig`));
    assert.match(first.stdout, /kubectl apply -f examples\//);

    // The dashboard: its first admin's password is shown this once and kept in a 0600 file.
    const dashboard = `http://localhost:${env.TURGON_WEB_PORT}`;
    const passwordFile = join(stateDir, "dashboard", "admin-password");
    const password = (await readFile(passwordFile, "utf8")).trim();
    assert.match(
      first.stdout,
      new RegExp(`First admin created: admin@turgon\\.local\n  password  ${password}\n`),
    );
    assert.equal((await stat(passwordFile)).mode & 0o777, 0o600);
    assert.match(
      first.stdout,
      new RegExp(
        `Sign in at ${dashboard}/signin as admin@turgon\\.local; the password is in ${passwordFile}`,
      ),
    );
    const health = await fetch(`http://127.0.0.1:${env.TURGON_WEB_PORT}/api/healthz`);
    assert.equal(health.status, 200);
    const signIn = await fetch(`http://127.0.0.1:${env.TURGON_WEB_PORT}/api/auth/sign-in/email`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: dashboard },
      body: JSON.stringify({ email: "admin@turgon.local", password }),
    });
    assert.equal(signIn.status, 200, await signIn.clone().text());

    const kubectl = await kubectlUp(["get", "namespace", "default", "-o", "name"]);
    assert.equal(kubectl.stdout.trim(), "namespace/default", kubectl.tail);

    // SSH users: up's own key of the Secret the router follows, with the local key as an admin;
    // the dashboard (as turgon-web) writes its users.json beside it at start-up.
    const localKey = (await readFile(env.TURGON_SSH_PUBLIC_KEYS, "utf8")).trim();
    assert.deepEqual(await sshUsers("local.json"), [
      { user: userInfo().username, admin: true, teams: [], keys: [localKey] },
    ]);
    await waitFor(
      "the dashboard's users.json",
      async () => ((await sshUsers("users.json")) ? true : undefined),
      {
        timeoutMs: 20_000,
        intervalMs: 200,
      },
    );
    assert.deepEqual(await sshUsers("users.json"), []);

    // kube-controller-manager runs: a deleted namespace goes away instead of staying Terminating.
    const namespace = `up-${process.pid}`;
    assert.equal((await kubectlUp(["create", "namespace", namespace])).exitCode, 0);
    const deleted = await kubectlUp(["delete", "namespace", namespace, "--timeout=60s"]);
    assert.equal(deleted.exitCode, 0, deleted.tail);

    // The node agent serves TLS and asks for a control-plane certificate: curl without one is refused.
    const address = await kubectlUp([
      "get",
      "sandboxnode",
      "local",
      "-o",
      "jsonpath={.spec.address}",
    ]);
    assert.match(address.stdout, /^https:\/\/127\.0\.0\.1:\d+$/);
    const anonymous = await run("curl", [
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "--cacert",
      join(stateDir, "pki", "agent", "ca.crt"),
      `${address.stdout}/v1/sandboxes`,
    ]);
    assert.equal(anonymous.stdout, "401");
  });

  it("runs the node agent, operator and router: kubectl apply -f examples/ is served at its URL", async () => {
    await upOnce();
    const applied = await kubectlUp(["apply", "-f", join(repoRoot, "examples")]);
    assert.equal(applied.exitCode, 0, applied.tail);
    const waited = await kubectlUp([
      "wait",
      "sandbox/hello",
      "--for=condition=Ready",
      "--timeout=180s",
    ]);
    assert.equal(waited.exitCode, 0, waited.tail);
    const url = `http://hello--default.localhost:${env.TURGON_ROUTER_PORT}/`;
    const table = await kubectlUp(["get", "sandboxes"]);
    assert.match(table.stdout, new RegExp(`hello\\s+Running\\s+local\\s+${url}`));

    // Through the router: the example is private, so a sign-in redirect first, then with a token the page.
    const anonymous = await run("curl", [
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code} %{redirect_url}",
      url,
    ]);
    assert.match(
      anonymous.stdout,
      new RegExp(`^302 http://localhost:${env.TURGON_WEB_PORT}/signin\\?return=`),
    );
    const secret = await kubectlUp([
      "get",
      "secret",
      "turgon-ingress-keys",
      "-n",
      "turgon-system",
      "-o",
      "jsonpath={.data.current}",
    ]);
    const key = new Uint8Array(Buffer.from(secret.stdout, "base64"));
    const token = await mintIngressToken(key, { sub: "admin", aud: "hello--default", admin: true });
    await waitFor(
      "the example's page through the router",
      async () => {
        const page = await run("curl", [
          "-s",
          "-m",
          "20",
          "--cookie",
          `turgon_ingress=${token}`,
          url,
        ]);
        return page.stdout.includes("hello from a Turgon sandbox") ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );

    // The SSH gateway admits the local key from the Secret (the example has no SSH, so the
    // session ends after authentication), and refuses a key that is not listed.
    const sshAs = async (key: string) => {
      const lines: string[] = [];
      await run(
        "ssh",
        [
          "-v",
          "-p",
          env.TURGON_ROUTER_SSH_PORT,
          "-i",
          join(stateDir, "ssh", key),
          "-o",
          "BatchMode=yes",
          "-o",
          "IdentitiesOnly=yes",
          "-o",
          "StrictHostKeyChecking=no",
          "-o",
          "UserKnownHostsFile=/dev/null",
          "-o",
          "ConnectTimeout=20",
          "hello.default@localhost",
          "true",
        ],
        { onLine: (line) => lines.push(line) },
      );
      return lines.join("\n");
    };
    const admitted = await sshAs("id_ed25519");
    assert.match(admitted, /Authenticated to localhost/, admitted);
    const refused = await sshAs("stranger");
    assert.doesNotMatch(refused, /Authenticated to/);
    assert.match(refused, /Permission denied \(publickey\)/, refused);
  });

  it("is idempotent: a second up leaves the running services alone", async () => {
    await upOnce();
    const second = await cli("up", env);
    assert.equal(second.exitCode, 0, second.tail);
    assert.match(
      second.stdout,
      /etcd already running, kube-apiserver already running, kube-controller-manager already running, postgres already running, redis already running, node-agent already running, operator already running, router already running, dashboard already running, audit-worker already running, registry already running/,
    );
    // The password is never printed again; where it is, is.
    assert.doesNotMatch(second.stdout, /First admin created|password {2}/);
    assert.match(second.stdout, /the password is in .*dashboard\/admin-password/);
  });

  it("reports running services", async () => {
    await upOnce();
    const status = await cli("status", env);
    assert.match(status.stdout, /kube-apiserver\s+running \(pid \d+/);
    assert.match(status.stdout, /kube-controller-manager\s+running \(pid \d+/);
    assert.match(status.stdout, /dashboard\s+running \(pid \d+/);
    assert.match(status.stdout, /audit-worker\s+running \(pid \d+/);
  });

  it("down stops what up started, and only that", async () => {
    await upOnce();
    const down = await cli("down", env);
    assert.equal(down.exitCode, 0, down.tail);
    for (const service of [
      "audit-worker",
      "dashboard",
      "router",
      "operator",
      "node-agent",
      "etcd",
      "kube-apiserver",
      "kube-controller-manager",
      "postgres",
      "redis",
      "registry",
    ]) {
      assert.match(down.stdout, new RegExp(`${service}\\s+stopped`));
    }
    const status = await cli("status", env);
    assert.doesNotMatch(status.stdout, /running/);
    // The test run's own platform is untouched.
    const shared = testEnvironment();
    const ping = await run(join(shared.stateDir, "bin", "kubectl"), ["get", "--raw", "/readyz"], {
      env: { ...process.env, KUBECONFIG: shared.kubeconfig },
    });
    assert.equal(ping.stdout.trim(), "ok");
  });

  it("fails with a clear message when a port is taken", async () => {
    const port = Number(env.TURGON_REDIS_PORT);
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen({ host: "127.0.0.1", port }, resolve));
    try {
      const up = await cli("up", env);
      assert.equal(up.exitCode, 1);
      assert.match(
        up.tail,
        new RegExp(
          `error: redis cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`,
        ),
      );
      assert.match(up.tail, /what to do: Stop whatever listens there .*TURGON_REDIS_PORT=<port>/);
    } finally {
      squatter.close();
    }
  });
});

describe("npm run up without Go", async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "turgon-up-no-go-"));
  // An empty cache: etcd and kube-apiserver are not built yet, so up needs Go.
  const cacheDir = await mkdtemp(join(tmpdir(), "turgon-cache-no-go-"));
  const noGo = await pathWithout(["go"]);
  const env = { ...(await isolatedUp(stateDir)), PATH: noGo, TURGON_CACHE_DIR: cacheDir };
  after(async () => {
    for (const dir of [stateDir, cacheDir, noGo]) await rm(dir, { recursive: true, force: true });
    await rm(defaultPostgresDataDir(stateDir), { recursive: true, force: true });
  });

  it("says Go is missing and what to do, exits non-zero, and starts nothing", async () => {
    assert.equal(await commandExists("go", env), false, "no Go on the test's PATH");
    assert.equal(await commandExists("ssh-keygen", env), true, "but the machine's other tools");
    const up = await cli("up", env);
    assert.equal(up.exitCode, 1, up.tail);
    assert.match(up.tail, /error: go was not found on PATH/);
    assert.match(up.tail, /what to do: Go 1\.24 or newer must be on PATH/);
    // Nothing runs: no service or component, no pid file, no listener on up's ports.
    const status = await cli("status", env);
    assert.equal(status.exitCode, 0, status.tail);
    assert.match(status.stdout, /etcd\s+stopped/);
    assert.match(status.stdout, /node-agent\s+stopped/);
    assert.doesNotMatch(status.stdout, /running/);
    const files = await readdir(stateDir, { recursive: true });
    assert.deepEqual(
      files.filter((file) => file.endsWith(".pid")),
      [],
    );
    for (const variable of [
      "TURGON_ETCD_PORT",
      "TURGON_APISERVER_PORT",
      "TURGON_REDIS_PORT",
    ] as const)
      assert.equal(await listening(Number(env[variable])), false, `nothing on ${variable}`);
  });
});

/** Whether something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
