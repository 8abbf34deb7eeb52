import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import type { NextConfig } from "next";

/** The repository root: workspace packages (api, prisma, toolkit) live beside web/. */
const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));

const config: NextConfig = {
  // A self-contained server (server.js plus the traced node_modules) that runs
  // from the build cache outside the checkout; see dev/src/dashboard/build.ts.
  output: "standalone",
  outputFileTracingRoot: repoRoot,
  turbopack: {
    root: repoRoot,
    // The CRD schemas (@turgon/api/crd) import node:net to check CIDRs; the
    // new sandbox form validates with them in the browser too.
    resolveAlias: { "node:net": { browser: "./src/lib/node-net-browser.ts" } },
  },
  // Workspace packages ship TypeScript sources (with .ts import extensions).
  transpilePackages: ["@turgon/api", "@turgon/toolkit"],
  // ssh2 (SSH key parsing) loads optional native add-ons at run time; bundling would break them.
  serverExternalPackages: ["ssh2"],
  // `npm run typecheck` checks web/ with its own tsconfig; checking again in
  // every `next build` would add a minute on two cores.
  typescript: { ignoreBuildErrors: true },
  poweredByHeader: false,
  reactStrictMode: true,
  // forbidden() answers 403 for admin-only pages.
  experimental: { authInterrupts: true },
};

export default config;
