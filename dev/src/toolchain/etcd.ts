import { join } from "node:path";
import { step } from "../progress.ts";
import { cachedArtifact } from "./cache.ts";
import { buildGoBinaries, type GoBinary, type GoModuleSpec, recipeDigest } from "./go.ts";

/** The etcd server release backing the local kube-apiserver. */
export const ETCD_VERSION = "v3.6.16";

/** etcd's server module replaces its sibling modules with local paths. */
const SIBLING_MODULES = [
  "go.etcd.io/etcd/api/v3",
  "go.etcd.io/etcd/client/pkg/v3",
  "go.etcd.io/etcd/client/v3",
  "go.etcd.io/etcd/pkg/v3",
];

const MAIN_GO = `// Entry point of the etcd server, as in etcd's own server/main.go.
package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
`;

const SPEC: GoModuleSpec = {
  module: "turgon.dev/build/etcd",
  goVersion: "1.26",
  requires: [`go.etcd.io/etcd/server/v3@${ETCD_VERSION}`],
  replaces: SIBLING_MODULES.map((module) => `${module}=${module}@${ETCD_VERSION}`),
  files: { "main.go": MAIN_GO },
};
const BINARIES: GoBinary[] = [{ pkg: ".", name: "etcd" }];

/** Returns the etcd binary, building it once per version into the user cache. */
export async function ensureEtcdBinary(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const { dir } = await cachedArtifact(
    `etcd-${ETCD_VERSION}-linux-amd64-${recipeDigest(SPEC, BINARIES)}`,
    async (outDir) => {
      const progress = step(
        `building etcd ${ETCD_VERSION} from the Go module proxy (once; cached)`,
      );
      try {
        await buildGoBinaries(
          SPEC,
          BINARIES,
          join(outDir, "src"),
          join(outDir, "bin"),
          progress,
          env,
        );
        progress.done();
      } catch (error) {
        progress.fail();
        throw error;
      }
    },
    env,
  );
  return join(dir, "bin", "etcd");
}
