/**
 * Human-facing progress for long steps (Go builds, apt installs, boots).
 * Lines, not spinners, so CI logs stay readable.
 */
export interface Step {
  /** Replaces the detail shown by the next heartbeat line. */
  update(detail: string): void;
  done(summary?: string): void;
  fail(): void;
}

const HEARTBEAT_MS = 10_000;

export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
}

export function step(title: string, out: NodeJS.WritableStream = process.stderr): Step {
  const started = Date.now();
  let detail = "";
  out.write(`==> ${title}\n`);
  const timer = setInterval(() => {
    out.write(
      `    ... ${title}: ${formatDuration(Date.now() - started)}${detail ? `, ${detail}` : ""}\n`,
    );
  }, HEARTBEAT_MS);
  timer.unref();
  return {
    update(next) {
      detail = next;
    },
    done(summary) {
      clearInterval(timer);
      out.write(
        `    ok ${title} (${formatDuration(Date.now() - started)})${summary ? `: ${summary}` : ""}\n`,
      );
    },
    fail() {
      clearInterval(timer);
      out.write(`    FAILED ${title} after ${formatDuration(Date.now() - started)}\n`);
    },
  };
}

/** Runs `work` as a step, marking it done or failed. */
export async function withStep<T>(title: string, work: (s: Step) => Promise<T>): Promise<T> {
  const s = step(title);
  try {
    const result = await work(s);
    s.done();
    return result;
  } catch (error) {
    s.fail();
    throw error;
  }
}
