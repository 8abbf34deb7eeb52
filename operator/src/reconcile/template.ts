import type { Sandbox, SandboxSpec, SandboxTemplate } from "@turgon/api/crd";
import type { Caches } from "../controller/caches.ts";

/** The spec a sandbox runs with once its template's values fill what it leaves unset. */
export type EffectiveSpec = Omit<SandboxSpec, "image" | "templateRef"> & { image: string };

/** A referenced template does not exist; `field` is the spec path at fault. */
export class TemplateNotFoundError extends Error {
  readonly field = "spec.templateRef.name";
}

type Section = "resources" | "ingress" | "network" | "lifecycle";

function mergeSection<T extends object>(base: T | undefined, own: T | undefined): T | undefined {
  if (!base) return own;
  if (!own) return base;
  return { ...base, ...own };
}

/**
 * Fills a sandbox's unset fields from its template. The sandbox wins: whole
 * scalar and list fields, and within the resources, ingress, network and
 * lifecycle objects field by field; env merges by name. Defaults the API
 * server filled into an object the sandbox set count as the sandbox's own.
 */
export function applyTemplate(
  spec: SandboxSpec,
  template: SandboxTemplate | undefined,
): EffectiveSpec {
  const { templateRef, image, ...own } = spec;
  if (templateRef && !template)
    throw new TemplateNotFoundError(
      `spec.templateRef.name: SandboxTemplate "${templateRef.name}" does not exist`,
    );
  if (!template) return { ...own, image: image as string };
  const base = template.spec;
  const env = new Map([...(base.env ?? []), ...(own.env ?? [])].map((e) => [e.name, e]));
  const merged: EffectiveSpec = {
    ...own,
    image: image ?? base.image,
    ...(env.size ? { env: [...env.values()] } : {}),
  };
  const command = own.command ?? base.command;
  if (command) merged.command = command;
  const rootfsMode = own.rootfsMode ?? base.rootfsMode;
  if (rootfsMode) merged.rootfsMode = rootfsMode;
  for (const section of ["resources", "ingress", "network", "lifecycle"] as Section[]) {
    const value = mergeSection<object>(base[section], own[section]);
    if (value) (merged as Record<Section, object>)[section] = value;
  }
  return merged;
}

/** The SandboxTemplate a sandbox references, from the cache; undefined when none or missing. */
export function templateOf(
  caches: Pick<Caches, "templates">,
  sandbox: Sandbox,
): SandboxTemplate | undefined {
  const ref = sandbox.spec.templateRef;
  if (!ref) return undefined;
  return caches.templates.get(ref.name, sandbox.metadata.namespace);
}
