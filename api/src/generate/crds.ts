import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { CUSTOM_RESOURCES, type CustomResource, crdName, GROUP, VERSION } from "../crd/index.ts";
import { structuralSchema } from "./openapi.ts";

/** Where the generated CRD manifests are committed. */
export const CRD_DIR = fileURLToPath(new URL("../../crds", import.meta.url));

/** Where the Helm chart's CRD templates are committed (generated from the same schemas). */
export const CHART_CRD_DIR = fileURLToPath(
  new URL("../../../charts/turgon/templates/crds", import.meta.url),
);

export function crdManifest(resource: CustomResource): Record<string, unknown> {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: crdName(resource) },
    spec: {
      group: GROUP,
      scope: resource.scope,
      names: {
        kind: resource.kind,
        listKind: `${resource.kind}List`,
        plural: resource.plural,
        singular: resource.singular,
        shortNames: resource.shortNames,
        categories: ["turgon"],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: structuralSchema(resource.schema) },
          subresources: { status: {} },
          additionalPrinterColumns: resource.printerColumns,
        },
      ],
    },
  };
}

/** The YAML file for each CRD, keyed by file name. */
export function renderCrds(): Map<string, string> {
  const files = new Map<string, string>();
  for (const resource of CUSTOM_RESOURCES) {
    const header = "# Generated from api/src/crd by `npm run generate:crds`. Do not edit.\n";
    files.set(
      `${crdName(resource)}.yaml`,
      header + stringify(crdManifest(resource), { lineWidth: 0 }),
    );
  }
  return files;
}

/**
 * The chart's template of each CRD, keyed by file name: the same manifest,
 * rendered only with `crds.enabled` and kept on `helm uninstall` with
 * `crds.keep` (cert-manager's practice: CRDs in templates/, so `helm
 * upgrade` updates them, which Helm's crds/ folder never does).
 */
export function renderChartCrds(): Map<string, string> {
  const files = new Map<string, string>();
  for (const resource of CUSTOM_RESOURCES) {
    const manifest = crdManifest(resource);
    const body = stringify(manifest, { lineWidth: 0 }).replace(
      `metadata:\n  name: ${crdName(resource)}\n`,
      `metadata:\n  name: ${crdName(resource)}\n` +
        "  labels:\n" +
        "    app.kubernetes.io/part-of: turgon\n" +
        "  {{- if .Values.crds.keep }}\n" +
        "  annotations:\n" +
        "    helm.sh/resource-policy: keep\n" +
        "  {{- end }}\n",
    );
    const header = `{{- /* Generated from api/src/crd by \`npm run generate:crds\`. Do not edit. */ -}}\n`;
    files.set(
      `${crdName(resource)}.yaml`,
      `${header}{{- if .Values.crds.enabled }}\n${body}{{- end }}\n`,
    );
  }
  return files;
}

/** Files (api/crds/x or charts/.../x) whose committed content differs from what the schemas generate. */
export async function driftedCrds(): Promise<string[]> {
  const drifted: string[] = [];
  const outputs: [string, string, Map<string, string>][] = [
    ["api/crds", CRD_DIR, renderCrds()],
    ["charts/turgon/templates/crds", CHART_CRD_DIR, renderChartCrds()],
  ];
  for (const [label, dir, files] of outputs) {
    for (const [file, content] of files) {
      const committed = await readFile(join(dir, file), "utf8").catch(() => "");
      if (committed !== content) drifted.push(`${label}/${file}`);
    }
  }
  return drifted;
}

if (import.meta.main) {
  for (const [file, content] of renderCrds()) {
    await writeFile(join(CRD_DIR, file), content);
    console.log(`wrote api/crds/${file}`);
  }
  await mkdir(CHART_CRD_DIR, { recursive: true });
  for (const [file, content] of renderChartCrds()) {
    await writeFile(join(CHART_CRD_DIR, file), content);
    console.log(`wrote charts/turgon/templates/crds/${file}`);
  }
}
