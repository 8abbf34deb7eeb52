#!/usr/bin/env node
/**
 * `turgon-web`: the web image's entrypoint. It starts the dashboard's
 * Next.js standalone server (web/server.js beside it in the image), which
 * takes its settings from the environment (PORT, HOSTNAME, DATABASE_URL,
 * ...; see charts/turgon/templates/web/deployment.yaml), not from flags.
 * Standalone on purpose: the image holds Next's traced tree, not the
 * toolkit, so this file imports only Node's own modules.
 */
import { readFileSync } from "node:fs";

const APP = new URL("../../../", import.meta.url);

function version(): string {
  try {
    return (
      (
        JSON.parse(readFileSync(new URL("charts/package.json", APP), "utf8")) as {
          version?: string;
        }
      ).version ?? "unknown"
    );
  } catch {
    return "unknown";
  }
}

const USAGE = `turgon-web

  The Turgon dashboard (Next.js standalone server). Configured by environment:
  PORT, HOSTNAME            where it listens (the chart: web.port on 0.0.0.0)
  DATABASE_URL, REDIS_URL   PostgreSQL and Redis
  BETTER_AUTH_URL, BETTER_AUTH_SECRET, TURGON_ROUTER_URL, TURGON_EDGE_CONFIG,
  TURGON_INGRESS_TOKEN_SECRET, TURGON_SSH_USERS_SECRET, TURGON_TRUSTED_PROXIES`;

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  process.stdout.write(`${USAGE}\n\nturgon-web ${version()}\n`);
  process.exit(0);
}
if (args.includes("--version")) {
  process.stdout.write(`turgon-web ${version()}\n`);
  process.exit(0);
}
if (args.length > 0) {
  process.stderr.write(`turgon-web: takes no arguments (got ${args.join(" ")}); see --help\n`);
  process.exit(2);
}
// Next's standalone server reads its configuration relative to its own directory.
process.chdir(new URL("web/", APP).pathname);
await import(new URL("web/server.js", APP).href);
