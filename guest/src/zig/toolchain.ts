import { join } from "node:path";
import { cachedArtifact } from "@turgon/toolkit/cache";
import { CommandFailedError, ToolMissingError } from "@turgon/toolkit/errors";
import { withStep } from "@turgon/toolkit/progress";
import { commandExists, run } from "@turgon/toolkit/run";

/** Gondolin 0.12's guest sources declare `minimum_zig_version = "0.16.0"`. */
export const ZIG_VERSION = "0.16.0";

/**
 * Returns the path of a Zig compiler from PyPI's `ziglang` wheel, installed
 * once into the user cache (the only Zig distribution these machines reach).
 */
export async function ensureZig(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const { dir } = await cachedArtifact(
    `ziglang-${ZIG_VERSION}`,
    (outDir) =>
      withStep(`installing Zig ${ZIG_VERSION} from PyPI (once; cached)`, async (progress) => {
        if (!(await commandExists("python3", env))) {
          throw new ToolMissingError(
            "python3",
            "Install Python 3 with pip (Debian: apt-get install python3-pip).",
          );
        }
        const args = [
          "-m",
          "pip",
          "install",
          "--no-deps",
          "--disable-pip-version-check",
          "--target",
          outDir,
          `ziglang==${ZIG_VERSION}`,
        ];
        const result = await run("python3", args, {
          env,
          onLine: (line) => progress.update(line.trim().slice(0, 100)),
        });
        if (result.exitCode !== 0) {
          throw new CommandFailedError(
            "installing Zig",
            `python3 ${args.join(" ")}`,
            result.exitCode,
            result.tail,
            "Check that PyPI is reachable (pip config list) and that python3 -m pip works.",
          );
        }
      }),
    env,
  );
  return join(dir, "ziglang", "zig");
}
