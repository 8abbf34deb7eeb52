import { constants } from "node:os";

/**
 * The code a process ended with as a shell reports it: its exit code, or
 * 128 + the signal's number when a signal ended it (SIGKILL: 137), so the
 * keeper's own exit says what ended the agent.
 */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal ? constants.signals[signal] : undefined;
  return number === undefined ? 1 : 128 + number;
}
