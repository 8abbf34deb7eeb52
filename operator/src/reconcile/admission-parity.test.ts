/**
 * What the API server accepts, the agent runs: a property-based fuzz test.
 * SandboxPolicies, SandboxTemplates and Sandboxes are generated from the
 * CRDs' own schemas, valid and slightly broken, and sent to the real API
 * server (server-side dry run). For every Sandbox it accepts, the operator's
 * pipeline (template, policy, desired state) must either refuse it naming a
 * spec field, or produce a desired state that the agent's PUT validation
 * accepts; and every refusal by the API server must name a field. Bounded in
 * count and time; prints its seed; TURGON_FUZZ_SEED reproduces a run.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { specArbitrary } from "@turgon/api/arbitrary";
import {
  API_VERSION,
  GROUP,
  INJECTABLE_LABEL,
  type Sandbox,
  type SandboxPolicy,
  type SandboxTemplate,
  VERSION,
} from "@turgon/api/crd";
import { installCrds, testKubeConfig, uniqueName } from "@turgon/dev/testing";
import { validateDesired } from "@turgon/node-agent/testing";
import fc from "fast-check";
import { desiredSandbox } from "./desired.ts";
import { PolicyResolutionError, resolveEffectivePolicy } from "./policy.ts";
import { applyTemplate, TemplateNotFoundError } from "./template.ts";

const RUNS = Number(process.env.TURGON_FUZZ_RUNS ?? 500);
const TIME_LIMIT_MS = 240_000;

type Verdict =
  | { accepted: true; object: Record<string, unknown> }
  | { accepted: false; message: string };

describe("admission parity: what the API server accepts, the agent runs", () => {
  const kc = testKubeConfig();
  const objects = kc.makeApiClient(CustomObjectsApi);
  const namespace = uniqueName("fuzz");
  const tally = { sandboxes: 0, accepted: 0, refusedByApi: 0, refusedByOperator: 0, ran: 0 };

  /** A server-side dry run of creating `body`: what the API server would store, or why not. */
  const dryRun = async (plural: string, body: object): Promise<Verdict> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const object = await objects.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural,
          body,
          dryRun: "All",
        });
        return { accepted: true, object };
      } catch (error) {
        const { code, body: text } = error as { code?: number; body?: string };
        if (code === 429 && attempt < 50) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          continue;
        }
        if (code !== 422 && code !== 400) throw error;
        return {
          accepted: false,
          message: (JSON.parse(String(text)) as { message: string }).message,
        };
      }
    }
  };
  const namesAField = (message: string) => /(spec|metadata)\.[A-Za-z]|spec: /.test(message);

  before(async () => {
    await installCrds();
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(() =>
    kc
      .makeApiClient(CoreV1Api)
      .deleteNamespace({ name: namespace })
      .then(() => {}),
  );

  it(`holds for ${RUNS} generated specs`, async (t) => {
    const seed = Number(process.env.TURGON_FUZZ_SEED ?? Date.now() % 2 ** 31);
    t.diagnostic(`fuzz seed ${seed} (TURGON_FUZZ_SEED=${seed} reproduces it)`);
    const name = fc.oneof(
      { weight: 8, arbitrary: fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/) },
      { weight: 1, arbitrary: fc.constantFrom("web--acme", "a--b", "x-", "UPPER") },
    );
    const case_ = fc.record({
      name,
      policy: specArbitrary("SandboxPolicy"),
      template: specArbitrary("SandboxTemplate"),
      sandbox: specArbitrary("Sandbox"),
      usePolicy: fc.boolean(),
      useTemplate: fc.boolean(),
    });
    const property = fc.asyncProperty(case_, async (c) => {
      const id = randomUUID().slice(0, 8);
      const [policyName, templateName] = [`p-${id}`, `t-${id}`];
      const policyVerdict = await dryRun("sandboxpolicies", {
        apiVersion: API_VERSION,
        kind: "SandboxPolicy",
        metadata: { name: policyName },
        spec: c.policy,
      });
      const templateVerdict = await dryRun("sandboxtemplates", {
        apiVersion: API_VERSION,
        kind: "SandboxTemplate",
        metadata: { name: templateName },
        spec: c.template,
      });
      // A sandbox references this case's policy and template when they exist, else none.
      const sandboxSpec = structuredClone(c.sandbox) as Record<string, unknown>;
      delete sandboxSpec.templateRef;
      if (c.useTemplate && templateVerdict.accepted)
        sandboxSpec.templateRef = { name: templateName };
      const { policyRef: _ref, ...network } = (sandboxSpec.network ?? {}) as Record<
        string,
        unknown
      >;
      if (sandboxSpec.network !== undefined) sandboxSpec.network = network;
      if (c.usePolicy && policyVerdict.accepted)
        sandboxSpec.network = { ...network, policyRef: { name: policyName } };
      const verdicts = {
        policy: policyVerdict,
        template: templateVerdict,
        sandbox: await dryRun("sandboxes", {
          apiVersion: API_VERSION,
          kind: "Sandbox",
          metadata: { name: c.name },
          spec: sandboxSpec,
        }),
      };
      for (const [kind, verdict] of Object.entries(verdicts))
        if (!verdict.accepted)
          assert.ok(
            namesAField(verdict.message),
            `the API server refused a ${kind} without naming a field: ${verdict.message}`,
          );
      tally.sandboxes++;
      if (!verdicts.sandbox.accepted) {
        tally.refusedByApi++;
        if (process.env.TURGON_FUZZ_VERBOSE) console.log(verdicts.sandbox.message.slice(0, 300));
        return;
      }
      tally.accepted++;
      const sandbox = verdicts.sandbox.object as unknown as Sandbox;
      sandbox.metadata.uid = randomUUID();
      const template = verdicts.template.accepted
        ? (verdicts.template.object as unknown as SandboxTemplate)
        : undefined;
      const policy = verdicts.policy.accepted
        ? (verdicts.policy.object as unknown as SandboxPolicy)
        : undefined;
      // What the operator does with it: refusing is fine, if it names a spec field.
      let desired: unknown;
      try {
        const spec = applyTemplate(sandbox.spec, sandboxSpec.templateRef ? template : undefined);
        const effective = await resolveEffectivePolicy(spec.network, {
          policy: async (name) => (name === policyName ? policy : undefined),
          // Every referenced Secret exists, labelled injectable, with the key asked for.
          secret: async () => ({
            labels: { [INJECTABLE_LABEL]: "true" },
            data: new Proxy({}, { get: () => "a-secret-value" }) as Record<string, string>,
          }),
        });
        desired = desiredSandbox(sandbox, spec, effective);
      } catch (error) {
        if (error instanceof TemplateNotFoundError || error instanceof PolicyResolutionError) {
          assert.match(
            error instanceof PolicyResolutionError ? error.field : error.field,
            /^spec\./,
          );
          tally.refusedByOperator++;
          if (process.env.TURGON_FUZZ_VERBOSE) console.log(`operator: ${error.message}`);
          return;
        }
        throw new Error(
          `the operator threw on a spec the API server accepted: ${(error as Error).message}\n${JSON.stringify(sandbox.spec)}`,
        );
      }
      const checked = validateDesired(desired);
      assert.ok(
        checked.ok,
        `the API server accepted a sandbox the agent refuses: ${checked.ok ? "" : checked.message}\nspec: ${JSON.stringify(sandbox.spec)}\ntemplate: ${JSON.stringify(template?.spec)}\npolicy: ${JSON.stringify(policy?.spec)}`,
      );
      tally.ran++;
    });
    await fc.assert(property, {
      seed,
      numRuns: RUNS,
      interruptAfterTimeLimit: TIME_LIMIT_MS,
      endOnFailure: true,
    });
    t.diagnostic(JSON.stringify(tally));
    // The generator must reach both sides, or the test proves nothing.
    assert.ok(
      tally.ran > RUNS / 20,
      `too few specs got through to the agent: ${JSON.stringify(tally)}`,
    );
    assert.ok(
      tally.refusedByApi > RUNS / 20,
      `too few specs were refused: ${JSON.stringify(tally)}`,
    );
  });
});
