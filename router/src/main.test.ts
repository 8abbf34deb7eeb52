import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describeDaemonCli } from "@turgon/toolkit/daemon/testing";

const token = async (dir: string) => {
  await writeFile(join(dir, "token"), "a-token-of-sixteen-characters-or-more");
  return ["--agent-token-file", join(dir, "token")];
};

describeDaemonCli({
  name: "router",
  entry: fileURLToPath(new URL("./main.ts", import.meta.url)),
  validFlags: token,
  missing: {
    // How it reaches agents is the router's one required setting.
    flags: async () => ["--agent-ca-file", "/pki/ca.crt"],
    message:
      /^turgon-router: invalid configuration:\n {2}--agent-client-cert-file \(TURGON_AGENT_CLIENT_CERT_FILE\): agents are reached with a client certificate: set/,
  },
  numberFlag: "port",
});
