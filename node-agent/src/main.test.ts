import { fileURLToPath } from "node:url";
import { describeDaemonCli, tokenFile } from "@turgon/toolkit/daemon/testing";

/** An --insecure agent: the fewest files to get as far as the kubeconfig. */
const insecure = async (dir: string) => [
  "--insecure",
  "true",
  "--token-file",
  await tokenFile(dir),
];

describeDaemonCli({
  name: "node-agent",
  entry: fileURLToPath(new URL("./main.ts", import.meta.url)),
  validFlags: async (dir) => ["--node-name", "n1", ...(await insecure(dir))],
  missing: {
    // The node name defaults to the host's; the token is what an --insecure agent cannot do without.
    flags: async () => ["--node-name", "n1", "--insecure", "true"],
    message:
      /^turgon-node-agent: invalid configuration:\n {2}--token-file \(TURGON_AGENT_TOKEN_FILE\): an --insecure agent needs the control plane's bearer token\n$/,
  },
  numberFlag: "cpus",
});
