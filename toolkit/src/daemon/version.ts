import { readFileSync } from "node:fs";

/**
 * The release's version: charts/package.json's, which is the chart's
 * version and appVersion (a chart test keeps them equal) and the tag of the
 * components' OCI images. Read from the checkout (or the image, whose
 * /opt/turgon mirrors the checkout's layout); "unknown" when it is absent.
 */
export const RELEASE_VERSION_FILE = new URL("../../../charts/package.json", import.meta.url);

export function releaseVersion(file: URL | string = RELEASE_VERSION_FILE): string {
  try {
    const { version } = JSON.parse(readFileSync(file, "utf8")) as { version?: unknown };
    return typeof version === "string" && version ? version : "unknown";
  } catch {
    return "unknown";
  }
}

/** `--version` anywhere on the command line. */
export function wantsVersion(argv: string[]): boolean {
  return argv.includes("--version");
}
