import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { API_VERSION, type SandboxSpec, type SandboxTemplate } from "@turgon/api/crd";
import { applyTemplate, TemplateNotFoundError } from "./template.ts";

const template: SandboxTemplate = {
  apiVersion: API_VERSION,
  kind: "SandboxTemplate",
  metadata: { name: "python-web" },
  spec: {
    image: "debian-python:latest",
    resources: { cpus: 2, memory: "1Gi" },
    env: [
      { name: "A", value: "template" },
      { name: "B", value: "template" },
    ],
    command: ["python3", "-m", "http.server"],
    ingress: {
      enabled: true,
      access: "private",
      websockets: true,
      routes: [{ prefix: "/", port: 8000, stripPrefix: true }],
    },
    lifecycle: { ttl: "8h" },
  },
};
const base: SandboxSpec = {
  templateRef: { name: "python-web" },
  operatingMode: "Running",
  restartPolicy: "Never",
};

describe("applyTemplate", () => {
  it("fills what the sandbox leaves unset from the template", () => {
    const spec = applyTemplate(base, template);
    assert.equal(spec.image, "debian-python:latest");
    assert.deepEqual(spec.resources, { cpus: 2, memory: "1Gi" });
    assert.deepEqual(spec.command, ["python3", "-m", "http.server"]);
    assert.equal(spec.ingress?.routes?.[0]?.port, 8000);
    assert.equal(spec.lifecycle?.ttl, "8h");
  });

  it("lets the sandbox's own fields win, field by field and env by name", () => {
    const spec = applyTemplate(
      {
        ...base,
        image: "debian-node:latest",
        env: [{ name: "B", value: "sandbox" }],
        lifecycle: { idleTimeout: "15m" },
        resources: { cpus: 1, memory: "512Mi" },
      },
      template,
    );
    assert.equal(spec.image, "debian-node:latest");
    assert.deepEqual(spec.resources, { cpus: 1, memory: "512Mi" });
    assert.deepEqual(spec.env, [
      { name: "A", value: "template" },
      { name: "B", value: "sandbox" },
    ]);
    assert.deepEqual(spec.lifecycle, { ttl: "8h", idleTimeout: "15m" });
  });

  it("keeps the template's ingress when the sandbox sets only its access", () => {
    const spec = applyTemplate(
      { ...base, ingress: { access: "public" }, resources: { cpus: 4 } },
      template,
    );
    assert.equal(spec.ingress?.enabled, true);
    assert.equal(spec.ingress?.access, "public");
    assert.equal(spec.ingress?.routes?.[0]?.port, 8000);
    assert.deepEqual(spec.resources, { cpus: 4, memory: "1Gi" });
  });

  it("names spec.templateRef.name when the template is missing", () => {
    assert.throws(
      () => applyTemplate(base, undefined),
      (error: unknown) => {
        assert.ok(error instanceof TemplateNotFoundError);
        assert.match(
          error.message,
          /^spec\.templateRef\.name: SandboxTemplate "python-web" does not exist/,
        );
        return true;
      },
    );
  });
});
