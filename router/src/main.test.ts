import { fileURLToPath } from "node:url";
import { agentClientFlags, toArgs } from "@turgon/dev/stack";
import { describeDaemonCli, tokenFile } from "@turgon/toolkit/daemon/testing";

describeDaemonCli({
  name: "router",
  entry: fileURLToPath(new URL("./main.ts", import.meta.url)),
  validFlags: async (dir) =>
    toArgs(agentClientFlags({ tokenFile: await tokenFile(dir) }, "router")),
  missing: {
    // How it reaches agents is the router's one required setting.
    flags: async () => ["--agent-ca-file", "/pki/ca.crt"],
    message:
      /^turgon-router: invalid configuration:\n {2}--agent-client-cert-file \(TURGON_AGENT_CLIENT_CERT_FILE\): agents are reached with a client certificate: set/,
  },
  numberFlag: "port",
});
