import { isDeepStrictEqual } from "node:util";
import type { ObservedSandbox } from "@turgon/api/agent";

/**
 * The last state each agent reported of each sandbox, from a PUT's reply
 * or its event stream. The stream echoes every change, including those the
 * operator just asked for and read in the reply: an event that repeats the
 * last report brings nothing a reconcile has not seen, so it need not
 * reconcile again. A report that differs in anything does.
 */
export class AgentReports {
  private readonly last = new Map<string, ObservedSandbox>();

  /** Records a report; whether it says anything the last one of this sandbox did not. */
  record(observed: ObservedSandbox): boolean {
    const before = this.last.get(observed.uid);
    this.last.set(observed.uid, observed);
    return before === undefined || !isDeepStrictEqual(before, observed);
  }

  forget(uid: string): void {
    this.last.delete(uid);
  }
}
