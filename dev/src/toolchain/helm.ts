import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { cacheRoot } from "@turgon/toolkit/cache";
import { cachedGoBinaries, type GoBinary } from "./go.ts";

/** The Helm release that renders, lints and installs charts/turgon. */
export const HELM_VERSION = "v4.3.1";

/**
 * `helm version` reads its version from this variable; without the stamp a
 * `go build` of the module reports a development version.
 */
const BINARIES: GoBinary[] = [
  {
    pkg: "helm.sh/helm/v4/cmd/helm",
    name: "helm",
    linkerVariables: { "helm.sh/helm/v4/internal/version.version": HELM_VERSION },
  },
];

/** Returns the helm binary, building it once per version (and recipe) into the user cache. */
export async function ensureHelmBinary(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const bin = await cachedGoBinaries(
    {
      name: `helm-${HELM_VERSION}`,
      title: `building helm ${HELM_VERSION} from the Go module proxy (once; cached)`,
      spec: {
        module: "turgon.dev/build/helm",
        goVersion: "1.25",
        requires: [`helm.sh/helm/v4/cmd/helm@${HELM_VERSION}`],
        replaces: [],
      },
      binaries: BINARIES,
    },
    env,
  );
  return join(bin, "helm");
}

/**
 * The environment helm runs with: its cache, config and data homes (plugins,
 * repositories, registry logins) under the Turgon cache instead of `$HOME`,
 * so a developer's own Helm setup neither leaks in nor gets written to.
 */
export async function helmEnvironment(
  env: NodeJS.ProcessEnv = process.env,
): Promise<NodeJS.ProcessEnv> {
  const home = join(cacheRoot(env), `helm-${HELM_VERSION}-home`);
  const homes = {
    HELM_CACHE_HOME: join(home, "cache"),
    HELM_CONFIG_HOME: join(home, "config"),
    HELM_DATA_HOME: join(home, "data"),
  };
  for (const dir of Object.values(homes)) await mkdir(dir, { recursive: true });
  return { ...env, ...homes };
}
