/**
 * One real Gondolin VM (debian-python image, QEMU under whatever accelerator
 * the host really offers) shared by every check in this file: boot and exec,
 * the ingress quick start and routing rules, WebSockets, and egress policy.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { createHttpHooks, type IngressAccess, type VM } from "@earendil-works/gondolin";
import { type ExternalHost, startExternalHost, testEnvironment } from "@turgon/dev/testing";
import WebSocket from "ws";
import { VmLauncher } from "./launcher.ts";

const SECRET = "turgon-test-secret-value-0f3a";
const fixture = (name: string) => readFile(new URL(`./fixtures/${name}`, import.meta.url), "utf8");

/** What fixtures/echo_server.py answers. */
interface Echo {
  port: number;
  path: string;
  headers: Record<string, string>;
}

async function waitForStatus(url: string, status: number, timeoutMs = 60_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.status === status) return response;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}

describe("a Gondolin VM from the debian-python image", () => {
  let vm: VM;
  let ingress: IngressAccess;
  /** The egress upstream: an external host in a network namespace of the test's own. */
  let upstream: ExternalHost;

  /** Runs a shell command in the guest and insists it succeeds. */
  const sh = async (command: string) => {
    const result = await vm.exec(command);
    assert.equal(result.exitCode, 0, `guest: ${command}\n${result.stderr}`);
    return result.stdout;
  };

  /** Starts a guest service detached, so exec stays free (as Gondolin requires). */
  const startDetached = (command: string) =>
    sh(`setsid sh -c '${command}' >/dev/null 2>&1 < /dev/null &`);

  /**
   * Starts a guest service once, for whichever test needs it first, so
   * every test stands alone (`--test-name-pattern` on any one passes).
   */
  const started = new Map<string, Promise<unknown>>();
  const service = (name: string, command: string) => {
    if (!started.has(name)) started.set(name, startDetached(command));
    return started.get(name);
  };
  const webRoot = () =>
    service(
      "http.server :8000",
      "mkdir -p /srv/www && echo about page > /srv/www/about && cd /srv/www && exec python3 -m http.server 8000 --bind 127.0.0.1",
    );
  const echoServer = () => service("echo :9000", "exec python3 /opt/echo_server.py 9000");

  /** Points the guest's routing table at `lines` and waits until the host has reloaded it. */
  const writeListeners = async (lines: string[]) => {
    await vm.fs.writeFile(
      "/etc/gondolin/listeners",
      `# written by the test\n${lines.join("\n")}\n`,
    );
    const want = lines.map((l) => l.split(" ")[0]).sort();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (
        JSON.stringify(
          vm
            .getIngressRoutes()
            .map((r) => r.prefix)
            .sort(),
        ) === JSON.stringify(want)
      )
        return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`ingress routes did not reload: ${JSON.stringify(vm.getIngressRoutes())}`);
  };

  before(async () => {
    upstream = await startExternalHost();
    const { httpHooks, env } = createHttpHooks({
      allowedHosts: [upstream.address],
      secrets: { API_TOKEN: { hosts: [upstream.address], value: SECRET } },
    });
    const launcher = new VmLauncher({ accelerator: "auto" });
    vm = await launcher.launch({
      image: testEnvironment().guestImage,
      cpus: 1,
      memoryMiB: 512,
      env: { ...env, GREETING: "hello from the host" },
      httpHooks,
    });
    await vm.fs.writeFile("/opt/echo_server.py", await fixture("echo_server.py"));
    await vm.fs.writeFile("/opt/ws_echo_server.py", await fixture("ws_echo_server.py"));
    // TCG guests are slow to answer: give the gateway a generous header timeout.
    ingress = await vm.enableIngress({
      listenHost: "127.0.0.1",
      listenPort: 0,
      upstreamHeaderTimeoutMs: 30_000,
    });
  });

  after(async () => {
    await vm?.close();
    await upstream?.stop();
  });

  it("boots and runs a command", async () => {
    const result = await vm.exec("echo hi");
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout, "hi\n");
    assert.equal(await sh('printf %s "$GREETING"'), "hello from the host");
    assert.match(await sh("python3 --version"), /^Python 3\./);
  });

  it("gives memory the guest freed back to the host (free page reporting)", async () => {
    assert.match(await sh("ls /sys/bus/virtio/drivers/virtio_balloon/"), /virtio\d/);
    assert.equal(
      (await sh("cat /sys/module/page_reporting/parameters/page_reporting_order")).trim(),
      "0",
    );
    /** Host memory (RSS, MiB) behind the guest's RAM: QEMU's memfd mapping. */
    const guestRamMiB = async () => {
      const smaps = await readFile(`/proc/${vm.getHostPid()}/smaps`, "utf8");
      const at = smaps.indexOf("/memfd:memory-backend-memfd");
      assert.ok(at >= 0, "guest RAM is not in a memfd");
      return Number(/^Rss:\s+(\d+) kB/m.exec(smaps.slice(at))?.[1]) / 1024;
    };
    const before = await guestRamMiB();
    // 96 MiB written (not just allocated), then freed as the process exits.
    await sh(`python3 -c "b = bytearray(b'x') * (96 << 20); print(len(b))"`);
    const deadline = Date.now() + 30_000;
    let now = await guestRamMiB();
    while (now > before + 32 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      now = await guestRamMiB();
    }
    assert.ok(now <= before + 32, `guest RAM on the host: ${before} MiB before, ${now} MiB after`);
  });

  it("serves the ingress quick start: python3 -m http.server behind / :8000", async () => {
    await writeListeners(["/ :8000"]);
    await webRoot();
    const response = await waitForStatus(`${ingress.url}/`, 200);
    const listing = await response.text();
    assert.match(listing, /Directory listing for \//);
    assert.match(listing, /href="about"/);
  });

  it("routes by longest prefix and strips the prefix unless told not to", async () => {
    await webRoot();
    await echoServer();
    await writeListeners(["/ :8000", "/api :9000", "/keep :9000 strip_prefix=false"]);
    const api = (await (await waitForStatus(`${ingress.url}/api/users`, 200)).json()) as Echo;
    assert.deepEqual([api.port, api.path], [9000, "/users"]);
    const about = await waitForStatus(`${ingress.url}/about`, 200);
    assert.equal(about.status, 200);
    assert.equal(await about.text(), "about page\n");
    const kept = (await (await fetch(`${ingress.url}/keep/x?y=1`)).json()) as Echo;
    assert.deepEqual([kept.port, kept.path], [9000, "/keep/x?y=1"]);
    assert.deepEqual(
      vm.getIngressRoutes().find((r) => r.prefix === "/keep"),
      { prefix: "/keep", port: 9000, stripPrefix: false },
    );
  });

  it("answers 404 when no route matches and 502 when the backend is down", async () => {
    await echoServer();
    await writeListeners(["/api :9000", "/down :9999"]);
    await waitForStatus(`${ingress.url}/api/still-ok`, 200);
    assert.equal((await fetch(`${ingress.url}/nothing-here`)).status, 404);
    assert.equal((await fetch(`${ingress.url}/down/x`)).status, 502);
  });

  it("carries a WebSocket echo through ingress", async () => {
    await service("ws echo :9100", "exec python3 /opt/ws_echo_server.py 9100");
    vm.setIngressRoutes([{ prefix: "/ws", port: 9100, stripPrefix: true }]);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const echoed = await new Promise<string>((resolve, reject) => {
          const socket = new WebSocket(`${ingress.url.replace("http", "ws")}/ws`);
          socket.once("open", () => socket.send("ping through gondolin"));
          socket.once("message", (data) => {
            resolve(data.toString());
            socket.close();
          });
          socket.once("error", reject);
        });
        assert.equal(echoed, "ping through gondolin");
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  });

  describe("egress", () => {
    const curl = (url: string) =>
      // The guest's DNS is synthetic: ask Gondolin's proxy for the host by name.
      vm.exec(
        `curl -sS -m 30 -x http://192.0.2.1:80 -H "Authorization: Bearer $API_TOKEN" -w '\\n%{http_code}' ${url}`,
      );

    it("reaches an allowlisted host, with the real secret substituted on the way out", async () => {
      const result = await curl(`${upstream.url}/allowed`);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.match(result.stdout, /^ok\n\n200$/);
      const seen = upstream.received.find((r) => r.url === "/allowed");
      assert.equal(seen?.headers.authorization, `Bearer ${SECRET}`);
    });

    it("shows the guest only a placeholder for the secret", async () => {
      const placeholder = await sh('printf %s "$API_TOKEN"');
      assert.ok(placeholder.length > 0);
      assert.notEqual(placeholder, SECRET);
      assert.doesNotMatch(
        await sh("env; cat /proc/1/environ | tr '\\0' '\\n'"),
        new RegExp(SECRET),
      );
    });

    it("refuses hosts that are not on the allowlist", async () => {
      const refused = ["/by-ip", "/node-side", "/elsewhere"];
      for (const url of [
        `http://127.0.0.1:${upstream.port}/by-ip`,
        `http://${upstream.address.replace(/\d+$/, (d) => String(Number(d) - 1))}:${upstream.port}/node-side`,
        "http://example.invalid/elsewhere",
      ]) {
        const result = await curl(url);
        const status = Number(result.stdout.trim().split("\n").at(-1));
        assert.ok(status >= 400, `${url} answered ${status}`);
      }
      assert.deepEqual(
        upstream.received.filter((r) => refused.includes(r.url)),
        [],
        "no refused request reached the upstream",
      );
      // The same guest still reaches the allowlisted host: the refusals were the policy's.
      assert.match((await curl(`${upstream.url}/still-allowed`)).stdout, /\n200$/);
    });
  });
});
