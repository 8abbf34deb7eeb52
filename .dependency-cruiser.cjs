/**
 * Module boundaries, checked by `npm run lint` (dependency-cruiser), as
 * Gondolin does. Each workspace is used only through its package exports;
 * the router and the operator share code only through api/ and toolkit/;
 * the node agent's runtime does not pull image building; the dashboard
 * does not import the daemons. toolkit/src/lint/boundaries.test.ts shows
 * each rule failing on a planted violation.
 */
const TEST_OR_BENCH = ["\\.test\\.tsx?$", "^[^/]+/bench/", "^[^/]+/src/testing(\\.ts|/)"];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "A cycle makes modules that can only be understood, tested and loaded together.",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-unresolvable",
      severity: "error",
      comment:
        "An import that does not resolve (with package exports honoured): a typo, or a path into another workspace that its exports do not offer.",
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: "no-reach-into-workspace-src",
      severity: "error",
      comment:
        "Another workspace is used through its package name and exports (`@turgon/api/crd`), never by a relative path into its files.",
      from: { path: "^([^/]+)/" },
      to: { dependencyTypes: ["local"], path: "^[^/]+/", pathNot: "^$1/" },
    },
    {
      name: "router-not-operator",
      severity: "error",
      comment:
        "The router is its own process: what it shares with the operator lives in api/ or toolkit/. Its tests may start a stack with @turgon/operator/testing.",
      from: { path: "^router/", pathNot: TEST_OR_BENCH },
      to: { path: "^operator/" },
    },
    {
      name: "router-tests-only-operator-testing",
      severity: "error",
      comment: "The router's tests and benchmark use the operator only through its test harness.",
      from: { path: "^router/" },
      to: { path: "^operator/", pathNot: "^operator/src/testing\\.ts$" },
    },
    {
      name: "operator-not-router",
      severity: "error",
      comment: "The operator does not reach into the router (tests start it as a process).",
      from: { path: "^operator/" },
      to: { path: "^router/" },
    },
    {
      name: "node-agent-not-image-building",
      severity: "error",
      comment:
        "The node agent only reads the image store (@turgon/image-store); building images (@turgon/images, @turgon/guest) is the dev tooling's.",
      from: { path: "^node-agent/src/", pathNot: TEST_OR_BENCH },
      to: { path: ["^images/", "^guest/src/"], reachable: true },
    },
    {
      name: "web-not-daemons",
      severity: "error",
      comment:
        "The dashboard talks to the API server and Redis/Postgres, never to the operator, router or node agent code.",
      from: {
        path: "^web/",
        // A test helper despite its name: the synthetic agent of the worker's tests and benchmark.
        pathNot: [...TEST_OR_BENCH, "^web/src/worker/synthetic-producer\\.ts$"],
      },
      to: { path: "^(operator|router|node-agent)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: ["^web/\\.next/", "^prisma/generated/"] },
    // Type-only imports couple modules too.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "web/tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".tsx", ".js", ".mjs", ".cjs", ".json", ".d.ts"],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
