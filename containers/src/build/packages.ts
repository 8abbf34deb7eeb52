import type { DebianPackage } from "@turgon/toolkit/apt";
import { commandExists } from "@turgon/toolkit/run";

const tool = (name: string, program: string): DebianPackage => ({
  name,
  isInstalled: () => commandExists(program),
});

/**
 * Host programs the OCI builder runs, from Debian: umoci writes the image
 * layouts, skopeo copies them to a registry, debootstrap makes the base.
 */
export const OCI_BUILDER_PACKAGES: DebianPackage[] = [
  tool("umoci", "umoci"),
  tool("skopeo", "skopeo"),
  tool("debootstrap", "debootstrap"),
];
