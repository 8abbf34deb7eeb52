import { CommandFailedError } from "@turgon/toolkit/errors";
import { type RunOptions, run } from "@turgon/toolkit/run";

/** Runs a build command, failing with its output and a hint when it exits non-zero. */
export async function mustRun(
  what: string,
  command: string,
  args: string[],
  options: RunOptions & { hint?: string } = {},
): Promise<string> {
  const result = await run(command, args, options);
  if (result.exitCode !== 0) {
    throw new CommandFailedError(
      what,
      `${command} ${args.join(" ")}`,
      result.exitCode,
      result.tail,
      options.hint ??
        "See the output above; the image build leaves nothing in the cache when a step fails.",
    );
  }
  return result.stdout;
}
