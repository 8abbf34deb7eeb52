import { join } from "node:path";
import { cachedGoBinaries, type GoBinary, type GoModuleSpec } from "./go.ts";

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
  const bin = await cachedGoBinaries(
    {
      name: `etcd-${ETCD_VERSION}`,
      title: `building etcd ${ETCD_VERSION} from the Go module proxy (once; cached)`,
      spec: SPEC,
      binaries: BINARIES,
    },
    env,
  );
  return join(bin, "etcd");
}
