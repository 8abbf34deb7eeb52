/**
 * The five images, one per process the chart runs
 * (`<registry>/turgon-<component>:<appVersion>`). Each container is given
 * only args by the chart, so each image's entrypoint is its component.
 */
import type { DebianBaseSpec } from "@turgon/images/debian-base";

export const COMPONENTS = ["operator", "router", "node-agent", "web", "worker"] as const;
export type Component = (typeof COMPONENTS)[number];

/** Where the checkout's files go in every image: the checkout's layout, under one directory. */
export const APP_DIR = "/opt/turgon";
/** The pinned Node 24 (the `node` devDependency), copied from this checkout. */
export const NODE_PATH = "/usr/local/bin/node";

/** The non-root user and group every image runs as: the chart's podSecurity.runAsUser/runAsGroup. */
export const USER = { name: "turgon", uid: 10001, gid: 10001 } as const;

/**
 * Every image's HOME: /tmp, the emptyDir each of the chart's pods mounts
 * (their root filesystems are read-only). Gondolin keeps its TLS
 * interception CA and session records under $HOME/.cache, and the agent
 * its accelerator probe; nothing there needs to outlive the pod.
 */
export const COMMON_ENV = { HOME: "/tmp" } as const;

/** The node agent's host directories (the chart's hostPath mount points), owned by USER in the image. */
export const AGENT_DIRS = [
  "/var/lib/turgon/agent",
  "/var/lib/turgon/audit-spool",
  "/var/lib/turgon/images",
] as const;

/** Debian bookworm minbase with CA certificates: what every Node process here needs of Debian. */
const NODE_BASE: DebianBaseSpec = {
  suite: "bookworm",
  variant: "minbase",
  packages: ["ca-certificates"],
};

/**
 * The agent's base adds QEMU (its VMs), qemu-img (copy-on-write root disks),
 * e2fsprogs (Gondolin's mke2fs/debugfs) and tini: the agent is the
 * container's pid 1 otherwise, and supervisors it outlives would stay as
 * zombies with nobody to reap them.
 */
const AGENT_BASE: DebianBaseSpec = {
  suite: "bookworm",
  variant: "minbase",
  packages: ["ca-certificates", "e2fsprogs", "qemu-system-x86", "qemu-utils", "tini"],
};

export interface ComponentImage {
  component: Component;
  /** What the image says it is (org.opencontainers.image.description). */
  description: string;
  debian: DebianBaseSpec;
  /** Checkout-relative modules traced for the app tree (none for web: its tree is Next's standalone build). */
  entries: string[];
  /** The process: argv before the chart's args. */
  entrypoint: string[];
  /**
   * Ships the supervisor bundle (`@turgon/node-agent/supervisor-bundle`),
   * built at image build time: the image's root is read-only, so the agent
   * there cannot write it; it builds the same bytes in memory and finds it.
   */
  supervisorBundle?: true;
  /** Directories the user owns in the image. */
  ownedDirs: readonly string[];
  env: Record<string, string>;
}

const node = (entry: string) => [NODE_PATH, `${APP_DIR}/${entry}`];

export const IMAGES: Record<Component, ComponentImage> = {
  operator: {
    component: "operator",
    description: "Turgon operator: reconciles Sandbox resources onto node agents.",
    debian: NODE_BASE,
    entries: ["operator/src/main.ts"],
    entrypoint: node("operator/src/main.ts"),
    ownedDirs: [],
    env: {},
  },
  router: {
    component: "router",
    description:
      "Turgon router: sandbox URLs, access control, exec WebSockets and the SSH gateway.",
    debian: NODE_BASE,
    entries: ["router/src/main.ts"],
    entrypoint: node("router/src/main.ts"),
    ownedDirs: [],
    env: {},
  },
  "node-agent": {
    component: "node-agent",
    description:
      "Turgon node agent: Gondolin micro-VMs under QEMU, ingress, egress policy and audit.",
    debian: AGENT_BASE,
    // The keeper starts the agent, and the agent its supervisors, as `node <main.ts>`: none is imported.
    // (supervisor/main.ts: the supervisors' fallback when their bundle cannot be had.)
    entries: [
      "node-agent/src/keeper/main.ts",
      "node-agent/src/main.ts",
      "node-agent/src/supervisor/main.ts",
    ],
    // The keeper restarts an agent that crashed, so the container (and every VM in it) stays.
    entrypoint: ["/usr/bin/tini", "--", ...node("node-agent/src/keeper/main.ts")],
    supervisorBundle: true,
    ownedDirs: AGENT_DIRS,
    // The chart mounts the image store here; the flag says so too.
    env: { GONDOLIN_IMAGE_STORE: "/var/lib/turgon/images" },
  },
  web: {
    component: "web",
    description: "Turgon dashboard: the Next.js standalone server (PORT, HOSTNAME).",
    debian: NODE_BASE,
    entries: [],
    entrypoint: node("containers/src/entrypoints/web.ts"),
    ownedDirs: [],
    env: { NODE_ENV: "production", NEXT_TELEMETRY_DISABLED: "1" },
  },
  worker: {
    component: "worker",
    description: "Turgon audit worker: egress and exec audit events from Redis into PostgreSQL.",
    debian: NODE_BASE,
    entries: ["web/src/worker/main.ts"],
    entrypoint: node("web/src/worker/main.ts"),
    ownedDirs: [],
    env: {},
  },
};

/** The repository name of a component's image: `turgon-<component>`. */
export function repository(component: Component): string {
  return `turgon-${component}`;
}
