import { upStateDir } from "@turgon/dev/paths";
import {
  ensureLocalRegistry,
  REGISTRY_PORT_VARIABLE,
  registryPortFromEnv,
} from "@turgon/dev/registry";
import { readCommandLine, UsageError } from "@turgon/toolkit/command-line";
import { reportFailure } from "@turgon/toolkit/errors";
import { formatDuration } from "@turgon/toolkit/progress";
import {
  buildOciImage,
  COMPONENTS,
  type Component,
  publishedLayoutDir,
  repository,
} from "../build/index.ts";
import { pushImage } from "../publish/push.ts";
import { layoutSize } from "../publish/size.ts";

/**
 * `npm run images:oci [component ...]`: builds the OCI image of each
 * process (default: all five) and pushes it to the local registry, which
 * it starts when absent (the one `npm run up` keeps; `npm run down` stops it).
 */
async function main(): Promise<void> {
  const args = readCommandLine({
    command: "npm run images:oci --",
    summary:
      "Builds the OCI images of Turgon's processes offline (debootstrap, umoci; no container daemon), each cached on its inputs, and pushes them with skopeo to the local registry on loopback, started when absent. The chart's default image references then resolve there.",
    positionals: {
      usage: "[component ...]",
      description: `components to build (default: all): ${COMPONENTS.join(", ")}`,
    },
    options: {
      "no-push": { type: "boolean", description: "build the layouts only; start and push nothing" },
    },
    environment: {
      [REGISTRY_PORT_VARIABLE]: "loopback port of the local registry (default 5000)",
      TURGON_STATE_DIR: "the local platform's state, where the registry's pid and log live",
      TURGON_CACHE_DIR:
        "Turgon's cache: Debian bases, images, the registry's blobs (default: ~/.cache/turgon)",
    },
  });
  if (!args) return;
  const unknown = args.positionals.filter((name) => !COMPONENTS.includes(name as Component));
  if (unknown.length > 0)
    throw new UsageError(
      `unknown component ${unknown.map((n) => `"${n}"`).join(", ")}; the components are ${COMPONENTS.join(", ")}`,
      "npm run images:oci --",
    );
  const components = (args.positionals.length > 0 ? args.positionals : COMPONENTS) as Component[];
  const started = Date.now();
  const registry = args.values["no-push"]
    ? undefined
    : await ensureLocalRegistry(upStateDir(), registryPortFromEnv());
  if (registry) console.log(`registry ${registry.host} (${registry.state})`);
  for (const component of components) {
    const image = await buildOciImage(component, publishedLayoutDir(component));
    const size = await layoutSize(image.layout);
    const where = registry
      ? await pushImage(image.layout, image.tag, registry.host, repository(component))
      : `oci:${image.layout}:${image.tag}`;
    console.log(
      `${where}  ${image.built ? "built" : "unchanged"}  ${(size / 2 ** 20).toFixed(0)} MiB compressed  revision ${image.revision}`,
    );
  }
  console.log(`done in ${formatDuration(Date.now() - started)}`);
}

main().catch((error) => {
  process.exitCode = reportFailure(error);
});
