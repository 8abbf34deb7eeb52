import { fileURLToPath } from "node:url";
import { describeDaemonCli } from "@turgon/toolkit/daemon/testing";

// Addresses where nothing listens: every case is refused before the worker connects anywhere.
const VALID = [
  "--database-url",
  "postgresql://audit@127.0.0.1:1/audit",
  "--redis-url",
  "redis://127.0.0.1:1",
];

describeDaemonCli({
  name: "audit-worker",
  entry: fileURLToPath(new URL("./main.ts", import.meta.url)),
  validFlags: async () => VALID,
  missing: {
    flags: async () => ["--redis-url", "redis://127.0.0.1:1"],
    message:
      /^turgon-audit-worker: invalid configuration:\n {2}--database-url \(DATABASE_URL\) is required\n$/,
  },
  numberFlag: "concurrency",
});
