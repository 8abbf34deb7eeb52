import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { cachedArtifact } from "@turgon/toolkit/cache";
import { CommandFailedError } from "@turgon/toolkit/errors";
import { withStep } from "@turgon/toolkit/progress";
import { run } from "@turgon/toolkit/run";
import { ensureZig, ZIG_VERSION } from "../zig/toolchain.ts";

/** The daemons Gondolin's guest needs: sandboxd and sandboxfs always, the others for SSH and ingress. */
export const GUEST_DAEMONS = ["sandboxd", "sandboxfs", "sandboxssh", "sandboxingress"] as const;
export type GuestDaemon = (typeof GUEST_DAEMONS)[number];

const TARGET = "x86_64-linux-musl";

/** The installed gondolin package: its version and the Zig sources it ships in dist/guest. */
export async function gondolinGuestSources(): Promise<{ version: string; dir: string }> {
  const require = createRequire(import.meta.url);
  const packageJson = require.resolve("@earendil-works/gondolin/package.json");
  const { version } = JSON.parse(await readFile(packageJson, "utf8")) as { version: string };
  return { version, dir: join(dirname(packageJson), "dist", "guest") };
}

/**
 * Compiles the guest daemons from the installed gondolin package's Zig
 * sources (never a copy of them), statically for x86_64 musl, once per
 * gondolin and Zig version. Returns the directory holding the four binaries.
 */
export async function ensureGuestDaemons(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const sources = await gondolinGuestSources();
  const { dir } = await cachedArtifact(
    `guest-daemons-gondolin-${sources.version}-zig-${ZIG_VERSION}-${TARGET}`,
    async (outDir) => {
      const zig = await ensureZig(env);
      await withStep(
        `compiling Gondolin ${sources.version} guest daemons with Zig ${ZIG_VERSION} (once; cached)`,
        async () => {
          // Zig's caches go to a scratch directory so node_modules stays untouched.
          const scratch = await mkdtemp(join(tmpdir(), "turgon-zig-"));
          try {
            const args = [
              "build",
              "-Doptimize=ReleaseSmall",
              `-Dtarget=${TARGET}`,
              "--prefix",
              outDir,
              "--cache-dir",
              join(scratch, "cache"),
              "--global-cache-dir",
              join(scratch, "global-cache"),
            ];
            const result = await run(zig, args, { cwd: sources.dir, env });
            if (result.exitCode !== 0) {
              throw new CommandFailedError(
                "compiling the guest daemons",
                `zig ${args.join(" ")} (in ${sources.dir})`,
                result.exitCode,
                result.tail,
                `Gondolin ${sources.version}'s guest sources need Zig ${ZIG_VERSION}; check the compiler output above.`,
              );
            }
          } finally {
            await rm(scratch, { recursive: true, force: true });
          }
        },
      );
    },
    env,
  );
  return join(dir, "bin");
}

export function daemonPath(binDir: string, daemon: GuestDaemon): string {
  return join(binDir, daemon);
}
