/**
 * Wake on request next to a plain resume (issue 16 item 2), on one real VM
 * under TCG, alternating so both see the same machine:
 *
 *   - plain resume: with wakeOnRequest off, set `spec.operatingMode:
 *     Running` (the API, as an owner would), then GET through the router
 *     every 100 ms (503 Starting meanwhile) until the app's 200;
 *   - wake: with wakeOnRequest on, one GET through the router while it is
 *     suspended, which the router holds until the app answers.
 *
 * Both from the moment the sandbox is Suspended (status and the router's
 * cache), to the first 200. Bounded: `samples` of each, 120 s per resume.
 */
import { request as httpRequest } from "node:http";
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { GROUP, type Sandbox, VERSION } from "@turgon/api/crd";
import { kubectl, testKubeConfig } from "@turgon/dev/testing";
import { eventually, type Stack, startStack } from "@turgon/operator/testing";

const NAME = "wake";
const NAMESPACE = "bench-wake";
const RESUME_BOUND_MS = 120_000;
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** One GET through the router: its status and body. */
function get(stack: Stack): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port: stack.routerPort,
        path: "/",
        headers: { host: `${NAME}--${NAMESPACE}.localhost:${stack.routerPort}` },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.setTimeout(RESUME_BOUND_MS, () => req.destroy(new Error("no answer within the bound")));
    req.end();
  });
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
};

/**
 * Runs the case and prints per-sample times, medians and the ratio wake /
 * resume from this run. False when a sample failed.
 */
export async function wakeBench(samples: number): Promise<boolean> {
  const stack = await startStack();
  const api = testKubeConfig().makeApiClient(CustomObjectsApi);
  const patch = (spec: Record<string, unknown>) =>
    api.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        plural: "sandboxes",
        namespace: NAMESPACE,
        name: NAME,
        body: { spec },
      },
      mergePatch,
    );
  const read = async () =>
    (await api.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: "sandboxes",
      namespace: NAMESPACE,
      name: NAME,
    })) as Sandbox;
  /**
   * Suspends by hand with wakeOnRequest as given. The router's cache gets
   * the status event as the API does (milliseconds); without wakeOnRequest
   * a GET cannot wake it, so that case waits for the router's own 503.
   */
  const suspend = async (wakeOnRequest: boolean) => {
    await patch({ operatingMode: "Suspended", lifecycle: { wakeOnRequest } });
    await eventually(
      "suspended",
      read,
      (s) => s.spec.operatingMode === "Suspended" && s.status?.phase === "Suspended",
      RESUME_BOUND_MS,
    );
    // Without wakeOnRequest the router says Suspended (a GET that cannot wake it): wait for that.
    if (!wakeOnRequest)
      await eventually(
        "the router sees it suspended",
        () => get(stack),
        (a) => a.status === 503,
        10_000,
      );
  };
  try {
    await kubectl(["create", "namespace", NAMESPACE]);
    await api.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: "sandboxes",
      namespace: NAMESPACE,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "Sandbox",
        metadata: { name: NAME, namespace: NAMESPACE, labels: stack.labels },
        spec: {
          image: "debian-python:latest",
          command: [
            "/bin/sh",
            "-c",
            "mkdir -p /srv/site && echo ok > /srv/site/index.html && exec python3 -m http.server 8000 --bind 127.0.0.1 --directory /srv/site",
          ],
          ingress: { enabled: true, access: "public", routes: [{ prefix: "/", port: 8000 }] },
          lifecycle: { wakeOnRequest: false },
        },
      },
    });
    await eventually(
      "the app serving",
      () => get(stack),
      (a) => a.status === 200,
      180_000,
      250,
    );
    console.log(
      `\nWake on request vs plain resume (python http.server in a TCG guest, ${samples} samples each, alternating):`,
    );
    const resumes: number[] = [];
    const wakes: number[] = [];
    for (let i = 0; i < samples; i++) {
      await suspend(false);
      let started = performance.now();
      await patch({ operatingMode: "Running" });
      await eventually(
        "resumed",
        () => get(stack),
        (a) => a.status === 200,
        RESUME_BOUND_MS,
        100,
      );
      resumes.push(performance.now() - started);

      await suspend(true);
      started = performance.now();
      const answer = await get(stack);
      if (answer.status !== 200) throw new Error(`wake answered ${answer.status}: ${answer.body}`);
      wakes.push(performance.now() - started);
      console.log(
        `  sample ${i + 1}: plain resume ${Math.round(resumes[i] as number)} ms, wake on request ${Math.round(wakes[i] as number)} ms`,
      );
    }
    const resumeP50 = quantile(resumes, 0.5);
    const wakeP50 = quantile(wakes, 0.5);
    console.log(
      `  plain resume (set Running, poll GET every 100 ms)  p50 ${Math.round(resumeP50)} ms   max ${Math.round(Math.max(...resumes))} ms`,
    );
    console.log(
      `  wake on request (one GET, held by the router)    p50 ${Math.round(wakeP50)} ms   max ${Math.round(Math.max(...wakes))} ms`,
    );
    console.log(`  wake / resume p50: ${(wakeP50 / resumeP50).toFixed(2)}×`);
    return true;
  } catch (error) {
    console.log(`  wake case failed: ${(error as Error).message}`);
    return false;
  } finally {
    await stack.stop();
  }
}
