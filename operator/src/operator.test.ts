/**
 * The operator end to end: two operator replicas and two node agents as
 * real processes, the real API server, real VMs under TCG. The Must-show
 * paths of the operator: kubectl apply → Ready with a URL, a policy edit
 * reaching the running VM live, a killed leader, kubectl delete, a killed agent.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { CoordinationV1Api } from "@kubernetes/client-node";
import type { ObservedSandbox } from "@turgon/api/agent";
import type { Sandbox, SandboxNode } from "@turgon/api/crd";
import { operatorFlags, toArgs } from "@turgon/dev/stack";
import {
  type ExternalHost,
  installCrds,
  kubeConfigAs,
  kubectl,
  type ScratchRedis,
  startExternalHost,
  startScratchRedis,
  testKubeConfig,
  uniqueName,
} from "@turgon/dev/testing";
import { insecureIngressHeaders, testAgentFlags } from "@turgon/node-agent/testing";
import { eventually, type RunningProcess, startProcess } from "./testing.ts";

const EXAMPLES = fileURLToPath(new URL("../../examples/", import.meta.url));
const RBAC = fileURLToPath(new URL("../deploy/rbac.yaml", import.meta.url));
const OPERATOR_USER = "system:serviceaccount:turgon-system:turgon-operator";

describe("operator with real agents and VMs", async () => {
  const dir = await mkdtemp(join(tmpdir(), "turgon-operator-"));
  const token = randomBytes(24).toString("hex");
  const run = uniqueName("run");
  const selector = `turgon.dev/test-run=${run}`;
  const namespace = uniqueName("ops");
  const nodeNames = [uniqueName("node-a"), uniqueName("node-b")];
  const agents = new Map<string, RunningProcess>();
  const operators = new Map<string, RunningProcess>();
  let redis: ScratchRedis;
  /** "The internet": an external host in a network namespace of the test's own. */
  let upstream: ExternalHost;
  const upstreamHits = () => upstream.received.length;
  const upstreamAuthorizations = () =>
    upstream.received.map((r) => r.headers.authorization).filter((a) => a !== undefined);

  const json = async <T>(args: string[]): Promise<T> => {
    const result = await kubectl([...args, "-o", "json"]);
    assert.equal(result.exitCode, 0, result.tail);
    return JSON.parse(result.stdout) as T;
  };
  /** kubectl patch --type merge, in this test's namespace. */
  const mergePatch = (kind: string, name: string, body: unknown) =>
    kubectl(["patch", kind, name, "-n", namespace, "--type", "merge", "-p", JSON.stringify(body)]);
  /** kubectl apply of one object, as users do. */
  const applyObject = async (object: { metadata: { name: string } }) => {
    const file = join(dir, `${object.metadata.name}.json`);
    await writeFile(file, JSON.stringify(object));
    const result = await kubectl(["apply", "-f", file]);
    assert.equal(result.exitCode, 0, result.tail);
  };
  const getSandbox = (name: string) => json<Sandbox>(["get", "sandbox", name, "-n", namespace]);
  const condition = (sandbox: Sandbox, type: string) =>
    sandbox.status?.conditions?.find((c) => c.type === type);
  const agentUrl = (node: string, field: "apiUrl" | "ingressUrl") =>
    (agents.get(node) as RunningProcess).ready[field] as string;
  const agentCall = async (node: string, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${agentUrl(node, "apiUrl")}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body ? { "content-type": "application/json" } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const vmsOn = async (node: string) =>
    ((await agentCall(node, "GET", "/v1/sandboxes")).body.items as ObservedSandbox[]).map(
      (s) => s.uid,
    );

  const startAgent = async (node: string) => {
    const agentDir = join(dir, node);
    await mkdir(agentDir, { recursive: true });
    await writeFile(join(agentDir, "token"), token);
    const flags = testAgentFlags(agentDir, node, redis.url, {
      "heartbeat-seconds": "1",
      cpus: "2",
      "memory-mib": "2048",
      "max-vms": "2",
    });
    agents.set(node, await startProcess("node-agent", flags, "node agent started"));
    const labelled = await kubectl(["label", "sandboxnode", node, selector, "--overwrite"]);
    assert.equal(labelled.exitCode, 0, labelled.tail);
  };
  const startOperator = async (identity: string) => {
    const args = toArgs(
      operatorFlags({
        kubeconfig: join(dir, "operator.kubeconfig"),
        access: { tokenFile: join(dir, "token") },
        metricsPort: 0,
        selector,
        extra: {
          identity,
          "lease-namespace": "turgon-system",
          "lease-name": run,
          "node-monitor-grace-seconds": "4",
          "node-lost-seconds": "6",
          "ingress-domain": "localhost",
          "ingress-scheme": "http",
          "ingress-port": "18080",
        },
      }),
    );
    operators.set(identity, await startProcess("operator", args, "operator started"));
  };
  const leaseHolder = async () =>
    (
      await testKubeConfig()
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ name: run, namespace: "turgon-system" })
    ).spec?.holderIdentity;

  /** A Sandbox of this test run (the operators watch only those). */
  const sandboxManifest = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: "turgon.dev/v1alpha1",
    kind: "Sandbox",
    metadata: { name, namespace, labels: { "turgon.dev/test-run": run } },
    spec,
  });
  const isReadySandbox = (s: Sandbox) => condition(s, "Ready")?.status === "True";
  const exists = async (name: string) =>
    (await kubectl(["get", "sandbox", name, "-n", namespace])).exitCode === 0;
  /**
   * The examples applied and hello Ready, as the first test leaves them. The
   * tests that use hello start here, so that each also runs alone; a hello
   * that exists is taken as it is (an earlier test may have changed it).
   */
  const readyHello = async (): Promise<Sandbox> => {
    if (!(await exists("hello"))) {
      const applied = await kubectl(["apply", "-n", namespace, "-f", EXAMPLES]);
      assert.equal(applied.exitCode, 0, applied.tail);
      const labelled = await kubectl(["label", "-n", namespace, "sandbox", "hello", selector]);
      assert.equal(labelled.exitCode, 0, labelled.tail);
    }
    return eventually("sandbox hello Ready", () => getSandbox("hello"), isReadySandbox, 180_000);
  };
  /** A sandbox applied unless it exists, and Ready. */
  const readySandbox = async (manifest: ReturnType<typeof sandboxManifest>): Promise<Sandbox> => {
    const { name } = manifest.metadata;
    if (!(await exists(name))) await applyObject(manifest);
    return eventually(`${name} Ready`, () => getSandbox(name), isReadySandbox, 120_000);
  };
  const handoverManifest = sandboxManifest("handover", { image: "debian-python:latest" });

  before(async () => {
    await installCrds();
    const applied = await kubectl(["apply", "-f", RBAC]);
    assert.equal(applied.exitCode, 0, applied.tail);
    // The operator runs as its ServiceAccount, so the RBAC manifest is what it gets.
    const kc = await kubeConfigAs(OPERATOR_USER, [
      "system:serviceaccounts",
      "system:serviceaccounts:turgon-system",
    ]);
    await writeFile(join(dir, "operator.kubeconfig"), kc.exportConfig());
    await writeFile(join(dir, "token"), token);
    assert.equal((await kubectl(["create", "namespace", namespace])).exitCode, 0);
    redis = await startScratchRedis();
    upstream = await startExternalHost();
    await Promise.all(nodeNames.map(startAgent));
    await startOperator("replica-a");
    await startOperator("replica-b");
  });

  after(async () => {
    await Promise.allSettled([...operators.values()].map((p) => p.stop()));
    // Agents close their VMs on SIGTERM.
    await Promise.allSettled([...agents.values()].map((p) => p.stop()));
    await redis?.remove();
    await upstream?.stop();
  });

  it("kubectl apply -f examples/ reaches Ready with a URL; kubectl get shows Phase, Node and URL", async () => {
    const applied = await kubectl(["apply", "-n", namespace, "-f", EXAMPLES]);
    assert.equal(applied.exitCode, 0, applied.tail);
    await kubectl(["label", "-n", namespace, "sandbox", "hello", selector]);
    const hello = await eventually(
      "sandbox hello Ready",
      () => getSandbox("hello"),
      (s) => condition(s, "Ready")?.status === "True",
      180_000,
    );
    const status = hello.status ?? {};
    assert.equal(status.phase, "Running");
    assert.ok(nodeNames.includes(status.nodeName as string), `placed on ${status.nodeName}`);
    assert.equal(status.ingress?.url, `http://hello--${namespace}.localhost:18080/`);
    // From the template: routes; the operator mirrors what the guest serves.
    assert.deepEqual(status.ingress?.routes, [{ prefix: "/", port: 8080, stripPrefix: true }]);
    assert.equal(status.observedGeneration, hello.metadata.generation);
    assert.ok(status.startedAt);
    for (const type of ["Scheduled", "Ready", "IngressReady", "PolicyApplied"])
      assert.equal(condition(hello, type)?.status, "True", type);
    assert.equal(condition(hello, "Suspended")?.status, "False");
    assert.ok(hello.metadata.finalizers?.includes("turgon.dev/vm-cleanup"));

    const table = await kubectl(["get", "sandboxes", "-n", namespace]);
    const [header, row] = table.stdout.trim().split("\n");
    assert.match(header as string, /^NAME\s+PHASE\s+NODE\s+URL\s+AGE/);
    assert.match(
      row as string,
      new RegExp(`^hello\\s+Running\\s+${status.nodeName}\\s+http://hello--`),
    );

    // The guest app answers through the agent that hosts it (once the command has bound its port).
    const page = await eventually(
      "the guest app answers",
      async () => {
        const response = await fetch(agentUrl(status.nodeName as string, "ingressUrl"), {
          headers: insecureIngressHeaders(token, hello.metadata.uid as string),
        });
        return { status: response.status, text: await response.text() };
      },
      (r) => r.status === 200,
      30_000,
    );
    assert.match(page.text, /hello from a Turgon sandbox/);

    const events = await json<{ items: { reason: string }[] }>([
      "get",
      "events",
      "-n",
      namespace,
      "--field-selector",
      "involvedObject.name=hello",
    ]);
    const reasons = events.items.map((e) => e.reason);
    assert.ok(reasons.includes("Scheduled") && reasons.includes("Ready"), reasons.join(","));
  });

  it("a sandbox no node fits stays Pending and says why; its ttl ends it on time", async () => {
    const manifest = {
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name: "unplaceable", namespace, labels: { "turgon.dev/test-run": run } },
      spec: {
        image: "debian-python:latest",
        nodeSelector: { gpu: "h100" },
        lifecycle: { ttl: "6s" },
      },
    };
    await applyObject(manifest);
    const pending = await eventually(
      "unplaceable Pending with a reason",
      () => getSandbox("unplaceable"),
      (s) => condition(s, "Scheduled")?.status === "False",
    );
    assert.equal(pending.status?.phase, "Pending");
    assert.equal(condition(pending, "Scheduled")?.reason, "NodeSelectorMismatch");
    assert.match(condition(pending, "Scheduled")?.message ?? "", /nodeSelector/);
    await eventually(
      "unplaceable deleted at its ttl",
      () => kubectl(["get", "sandbox", "unplaceable", "-n", namespace]),
      (r) => r.exitCode !== 0 && /NotFound/.test(r.tail),
      30_000,
    );
    const events = await json<{ items: { reason: string }[] }>([
      "get",
      "events",
      "-n",
      namespace,
      "--field-selector",
      "involvedObject.name=unplaceable",
    ]);
    const reasons = events.items.map((e) => e.reason);
    assert.ok(
      reasons.includes("FailedScheduling") && reasons.includes("TTLExpired"),
      reasons.join(","),
    );
  });

  it("a SandboxPolicy edit reaches the running VM live, without a reboot", async () => {
    const hello = await readyHello();
    const node = hello.status?.nodeName as string;
    const guestCurl = async () => {
      const { status, body } = await agentCall(
        node,
        "POST",
        `/v1/sandboxes/${hello.metadata.uid}/exec`,
        {
          command: [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-m",
            "20",
            "-x",
            "http://192.0.2.1:80",
            "-w",
            "%{http_code}",
            `${upstream.url}/`,
          ],
        },
      );
      assert.equal(status, 200, JSON.stringify(body));
      return Number(String(body.stdout).trim());
    };
    assert.equal(await guestCurl(), 403, "the example policy allows only the package index");
    assert.equal(upstreamHits(), 0);

    const patched = await mergePatch("sandboxpolicy", "python-packages", {
      spec: { allowedHosts: ["pypi.org", upstream.address] },
    });
    assert.equal(patched.exitCode, 0, patched.tail);
    await eventually(
      "the guest reaches the newly allowed host",
      guestCurl,
      (code) => code === 200,
      30_000,
    );
    assert.ok(upstreamHits() >= 1);
    const after = await getSandbox("hello");
    assert.equal(after.status?.startedAt, hello.status?.startedAt, "the VM was not restarted");
  });

  it("a Secret rotation reaches the running VM live; the guest only ever holds a placeholder", async () => {
    const secretValue = (value: string) =>
      JSON.stringify({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "api-token", namespace, labels: { "turgon.dev/injectable": "true" } },
        stringData: { token: value },
      });
    await writeFile(join(dir, "secret.json"), secretValue("first-secret-value-1"));
    assert.equal((await kubectl(["apply", "-f", join(dir, "secret.json")])).exitCode, 0);
    const before = await readyHello();
    // A new secret name is injected live too: no reboot.
    // The upstream is allowed as the policy-edit test leaves it (unchanged when it ran first).
    const patched = await mergePatch("sandboxpolicy", "python-packages", {
      spec: {
        allowedHosts: ["pypi.org", upstream.address],
        secrets: [
          {
            name: "API_TOKEN",
            hosts: [upstream.address],
            secretKeyRef: { name: "api-token", key: "token" },
          },
        ],
      },
    });
    assert.equal(patched.exitCode, 0, patched.tail);
    const live = await eventually(
      "hello has the secret, live",
      () => getSandbox("hello"),
      (s) =>
        condition(s, "PolicyApplied")?.message?.includes("1 secret(s)") === true &&
        condition(s, "Ready")?.status === "True",
      30_000,
    );
    assert.equal(live.status?.startedAt, before.status?.startedAt, "no reboot for a new name");
    const node = live.status?.nodeName as string;
    const guest = async (script: string) => {
      const { status, body } = await agentCall(
        node,
        "POST",
        `/v1/sandboxes/${live.metadata.uid}/exec`,
        {
          command: ["/bin/sh", "-c", script],
        },
      );
      assert.equal(status, 200, JSON.stringify(body));
      return String(body.stdout).trim();
    };
    const placeholder = await guest("echo $API_TOKEN");
    assert.ok(
      placeholder.length > 0 && !placeholder.includes("first-secret-value"),
      "the guest sees a placeholder",
    );
    const curl = `curl -s -o /dev/null -m 20 -x http://192.0.2.1:80 -H "Authorization: Bearer $API_TOKEN" -w '%{http_code}' ${upstream.url}/`;
    assert.equal(await guest(curl), "200");
    assert.equal(upstreamAuthorizations().at(-1), "Bearer first-secret-value-1");

    await writeFile(join(dir, "secret.json"), secretValue("second-secret-value-2"));
    assert.equal((await kubectl(["apply", "-f", join(dir, "secret.json")])).exitCode, 0);
    await eventually(
      "the rotated value is injected",
      async () => {
        await guest(curl);
        return upstreamAuthorizations().at(-1);
      },
      (auth) => auth === "Bearer second-secret-value-2",
      30_000,
    );
    assert.equal(
      (await getSandbox("hello")).status?.startedAt,
      live.status?.startedAt,
      "no reboot for a new value",
    );
    const events = await json<{ items: { reason: string }[] }>([
      "get",
      "events",
      "-n",
      namespace,
      "--field-selector",
      "involvedObject.name=hello",
    ]);
    assert.ok(!events.items.some((e) => e.reason === "Rebooting"));
    for (const [name, process] of [...operators, ...agents]) {
      const leaked = process.lines.filter((line) => /(first|second)-secret-value/.test(line));
      assert.deepEqual(leaked, [], `${name} logged a secret value`);
    }
  });

  it("operatingMode: Suspended checkpoints the VM; Running resumes it with its disk", async () => {
    const hello = await readyHello();
    const node = hello.status?.nodeName as string;
    const uid = hello.metadata.uid as string;
    const exec = async (command: string[]) => {
      const { status, body } = await agentCall(node, "POST", `/v1/sandboxes/${uid}/exec`, {
        command,
      });
      assert.equal(status, 200, JSON.stringify(body));
      return body as { exitCode: number; stdout: string };
    };
    assert.equal((await exec(["/bin/sh", "-c", "echo kept > /srv/marker"])).exitCode, 0);
    const mode = (operatingMode: string) =>
      mergePatch("sandbox", "hello", { spec: { operatingMode } });
    assert.equal((await mode("Suspended")).exitCode, 0);
    const suspended = await eventually(
      "hello Suspended",
      () => getSandbox("hello"),
      (s) => s.status?.phase === "Suspended",
      60_000,
    );
    assert.equal(condition(suspended, "Suspended")?.status, "True");
    assert.equal(condition(suspended, "Ready")?.status, "False");
    assert.deepEqual(await vmsOn(node), [uid], "the sandbox keeps its place on the node");

    assert.equal((await mode("Running")).exitCode, 0);
    const resumed = await eventually(
      "hello Running again",
      () => getSandbox("hello"),
      (s) => condition(s, "Ready")?.status === "True" && s.status?.phase === "Running",
      120_000,
    );
    assert.equal(condition(resumed, "Suspended")?.status, "False");
    assert.equal(resumed.status?.nodeName, node);
    assert.equal((await exec(["cat", "/srv/marker"])).stdout.trim(), "kept");
  });

  it("a leader killed mid-reconcile: the other replica finishes, with no duplicate VM", async () => {
    const hello = await readyHello();
    await applyObject(handoverManifest);
    // Placed (the placement is persisted) while the VM still boots: mid-reconcile.
    const placed = await eventually(
      "handover placed",
      () => getSandbox("handover"),
      (s) => s.status?.nodeName !== undefined,
    );
    assert.equal(placed.status?.phase, "Starting");
    assert.notEqual(placed.status?.nodeName, hello.status?.nodeName, "equal room spreads");

    const leader = (await leaseHolder()) as string;
    assert.ok(operators.has(leader), `lease held by ${leader}`);
    await (operators.get(leader) as RunningProcess).kill();
    operators.delete(leader);
    const survivor = [...operators.keys()][0] as string;

    const ready = await eventually(
      "handover Ready under the new leader",
      () => getSandbox("handover"),
      (s) => condition(s, "Ready")?.status === "True",
      120_000,
    );
    assert.equal(await leaseHolder(), survivor);
    assert.equal(ready.status?.nodeName, placed.status?.nodeName, "the placement was kept");
    const uid = ready.metadata.uid as string;
    const copies = (await Promise.all(nodeNames.map(vmsOn))).flat().filter((u) => u === uid);
    assert.equal(copies.length, 1, "exactly one VM for the sandbox across all nodes");
    // Two replicas again, so the tests after this one find what a test run alone finds.
    await startOperator(leader);
  });

  it("kubectl delete destroys the VM before the object goes", async () => {
    const sandbox = await readySandbox(handoverManifest);
    const node = sandbox.status?.nodeName as string;
    assert.ok((await vmsOn(node)).includes(sandbox.metadata.uid as string));
    const deleted = await kubectl([
      "delete",
      "sandbox",
      "handover",
      "-n",
      namespace,
      "--timeout=60s",
    ]);
    assert.equal(deleted.exitCode, 0, deleted.tail);
    assert.ok(!(await vmsOn(node)).includes(sandbox.metadata.uid as string));
  });

  it("idleTimeout ends a sandbox once exec and ingress activity stop", async () => {
    const manifest = {
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name: "idler", namespace, labels: { "turgon.dev/test-run": run } },
      spec: { image: "debian-python:latest", lifecycle: { idleTimeout: "6s" } },
    };
    await applyObject(manifest);
    const ready = await eventually(
      "idler Ready",
      () => getSandbox("idler"),
      (s) => condition(s, "Ready")?.status === "True",
      120_000,
    );
    const node = ready.status?.nodeName as string;
    // Activity for longer than the timeout keeps it alive.
    const activeUntil = Date.now() + 10_000;
    while (Date.now() < activeUntil) {
      const { status } = await agentCall(node, "POST", `/v1/sandboxes/${ready.metadata.uid}/exec`, {
        command: ["true"],
      });
      assert.equal(status, 200);
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
    assert.equal((await kubectl(["get", "sandbox", "idler", "-n", namespace])).exitCode, 0);
    await eventually(
      "idler deleted once idle",
      () => kubectl(["get", "sandbox", "idler", "-n", namespace]),
      (r) => r.exitCode !== 0 && /NotFound/.test(r.tail),
      40_000,
    );
    assert.ok(!(await vmsOn(node)).includes(ready.metadata.uid as string), "its VM is gone");
  });

  it("a killed agent: its node goes NotReady and its sandboxes fail with NodeLost", async () => {
    const hello = await readyHello();
    const node = hello.status?.nodeName as string;
    const other = nodeNames.find((n) => n !== node) as string;
    // A sandbox that opts into rescheduling, on the same node: keep the other one out of reach meanwhile.
    const cordon = (unschedulable: boolean) =>
      kubectl([
        "patch",
        "sandboxnode",
        other,
        "--type",
        "merge",
        "-p",
        JSON.stringify({ spec: { unschedulable } }),
      ]);
    assert.equal((await cordon(true)).exitCode, 0);
    const manifest = {
      apiVersion: "turgon.dev/v1alpha1",
      kind: "Sandbox",
      metadata: { name: "phoenix", namespace, labels: { "turgon.dev/test-run": run } },
      spec: { image: "debian-python:latest", restartPolicy: "OnNodeFailure" },
    };
    await applyObject(manifest);
    const phoenix = await eventually(
      "phoenix Ready",
      () => getSandbox("phoenix"),
      (s) => condition(s, "Ready")?.status === "True",
      120_000,
    );
    assert.equal(phoenix.status?.nodeName, node);
    assert.equal((await cordon(false)).exitCode, 0);

    await (agents.get(node) as RunningProcess).kill();

    const notReady = await eventually(
      "SandboxNode NotReady",
      () => json<SandboxNode>(["get", "sandboxnode", node]),
      (n) => n.status?.conditions?.find((c) => c.type === "Ready")?.status === "Unknown",
      30_000,
    );
    const ready = notReady.status?.conditions?.find((c) => c.type === "Ready");
    assert.equal(ready?.reason, "NodeStatusUnknown");
    assert.match(ready?.message ?? "", /stopped posting heartbeats/);

    const failed = await eventually(
      "sandbox hello Failed",
      () => getSandbox("hello"),
      (s) => s.status?.phase === "Failed",
      30_000,
    );
    assert.equal(condition(failed, "Ready")?.reason, "NodeLost");
    assert.match(failed.status?.message ?? "", new RegExp(`SandboxNode ${node} was lost`));

    // restartPolicy OnNodeFailure: placed again on the node that is left, and Ready there.
    const moved = await eventually(
      "phoenix rescheduled",
      () => getSandbox("phoenix"),
      (s) => s.status?.nodeName === other && condition(s, "Ready")?.status === "True",
      120_000,
    );
    assert.ok((await vmsOn(other)).includes(moved.metadata.uid as string));

    // The agent comes back on the same state directory (its VMs outlived it, in their
    // supervisors); the node is Ready again, the sandbox, restartPolicy Never, stays Failed,
    // and the operator ends its VM.
    await startAgent(node);
    await eventually(
      "SandboxNode Ready again",
      () => json<SandboxNode>(["get", "sandboxnode", node]),
      (n) => n.status?.conditions?.find((c) => c.type === "Ready")?.status === "True",
      30_000,
    );
    // Read only once the operator has looked at hello with its node back: an edit made now is
    // in status.observedGeneration only after a reconcile that saw it.
    const edited = await mergePatch("sandbox", "hello", { spec: { lifecycle: { ttl: "9h" } } });
    assert.equal(edited.exitCode, 0, edited.tail);
    const generation = (await getSandbox("hello")).metadata.generation;
    const settled = await eventually(
      "hello's edit seen by the operator",
      () => getSandbox("hello"),
      (s) => s.status?.observedGeneration === generation,
      30_000,
    );
    assert.equal(settled.status?.phase, "Failed");
    assert.ok(!(await vmsOn(node)).includes(hello.metadata.uid as string), "no VM for it again");
  });
});
