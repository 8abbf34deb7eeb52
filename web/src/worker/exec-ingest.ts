/** Pure logic of an exec or SSH session record from the router: the exec_session row, or why not. */
import { ExecAuditEvent } from "@turgon/api/audit";
import { type DeadLetter, describeIssues, redactRawLine } from "./egress-ingest.ts";
import type { ExecSessionRow } from "./store.ts";

/** The router names jobs "ssh" or "exec"; its SSH gateway's reasons start with "ssh-". */
export function sessionKind(jobName: string, event: ExecAuditEvent): "exec" | "ssh" {
  return jobName === "ssh" || event.reason.startsWith("ssh-") ? "ssh" : "exec";
}

export function parseExecJob(
  jobName: string,
  data: unknown,
  teamOf: (namespace: string) => string | null,
): { ok: true; row: ExecSessionRow } | { ok: false; letter: DeadLetter } {
  const parsed = ExecAuditEvent.safeParse(data);
  if (!parsed.success) {
    let payload: string;
    try {
      payload = JSON.stringify(data) ?? String(data);
    } catch {
      payload = String(data);
    }
    return {
      ok: false,
      letter: {
        payload: redactRawLine(payload),
        reason: `not an ExecAuditEvent: ${describeIssues(parsed.error)}`,
      },
    };
  }
  const event = parsed.data;
  return {
    ok: true,
    row: {
      id: event.id,
      kind: sessionKind(jobName, event),
      user: event.user,
      node: event.node,
      namespace: event.sandbox.namespace,
      sandbox: event.sandbox.name,
      sandboxUid: event.sandbox.uid,
      team: teamOf(event.sandbox.namespace),
      // An interactive shell is stored as no command at all.
      command: event.command ?? [],
      tty: event.tty,
      startedAt: event.startedAt,
      endedAt: event.endedAt,
      exitCode: event.exitCode,
      reason: event.reason,
    },
  };
}
