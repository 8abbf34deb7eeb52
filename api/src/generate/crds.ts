import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { CUSTOM_RESOURCES, type CustomResource, crdName, GROUP, VERSION } from "../crd/index.ts";
import { structuralSchema } from "./openapi.ts";

/** Where the generated CRD manifests are committed. */
export const CRD_DIR = fileURLToPath(new URL("../../crds", import.meta.url));

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

/** Files whose committed content differs from what the schemas generate. */
export async function driftedCrds(): Promise<string[]> {
  const drifted: string[] = [];
  for (const [file, content] of renderCrds()) {
    const committed = await readFile(join(CRD_DIR, file), "utf8").catch(() => "");
    if (committed !== content) drifted.push(file);
  }
  return drifted;
}

if (import.meta.main) {
  for (const [file, content] of renderCrds()) {
    await writeFile(join(CRD_DIR, file), content);
    console.log(`wrote api/crds/${file}`);
  }
}
