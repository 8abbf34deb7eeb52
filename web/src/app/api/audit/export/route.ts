/**
 * GET /api/audit/export?kind=egress|sessions&format=csv|ndjson&<filters>:
 * the filtered set, streamed as it is read (keyset batches; never the
 * whole set in memory), with the same filters as /audit's URL and the same
 * access rule as its list. Each export is recorded in audit_export.
 */
import {
  EXPORT_FORMATS,
  type ExportFormat,
  filterFromQuery,
  sessionFilterFromQuery,
} from "~/lib/audit.ts";
import {
  type ExportRequest,
  exportRows,
  finishExport,
  recordExport,
} from "~/server/audit/export.ts";
import { accessOf, auditPool } from "~/server/audit/index.ts";
import { getSession } from "~/server/auth/index.ts";
import { componentLogger } from "~/server/logger.ts";

export const dynamic = "force-dynamic";

const log = componentLogger("audit-export");

const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: "text/csv; charset=utf-8",
  ndjson: "application/x-ndjson; charset=utf-8",
};

function refuse(status: number, message: string, fields?: Record<string, string>): Response {
  return Response.json({ error: message, ...(fields ? { fields } : {}) }, { status });
}

export async function GET(request: Request): Promise<Response> {
  const session = await getSession(request.headers);
  if (!session) return refuse(401, "Sign in first.");
  const params = new URL(request.url).searchParams;
  const format = params.get("format") ?? "csv";
  if (!(EXPORT_FORMATS as readonly string[]).includes(format))
    return refuse(400, "bad export request", { format: "must be csv or ndjson" });
  const kind = params.get("kind") ?? "egress";
  if (kind !== "egress" && kind !== "sessions")
    return refuse(400, "bad export request", { kind: "must be egress or sessions" });
  // An export never guesses: a filter the page would drop and name is refused here.
  const parsed = kind === "egress" ? filterFromQuery(params) : sessionFilterFromQuery(params);
  if (Object.keys(parsed.errors).length) return refuse(400, "bad export request", parsed.errors);
  const what = { kind, filter: parsed.filter } as ExportRequest;

  const db = auditPool();
  const now = new Date();
  const exportId = await recordExport(db, {
    userId: session.user.id,
    userEmail: session.user.email,
    kind,
    format: format as ExportFormat,
    filter: { ...parsed.filter, at: now.toISOString() },
  });
  let rows = 0;
  const source = exportRows(db, what, {
    access: accessOf(session),
    now,
    format: format as ExportFormat,
    onRows: (total) => {
      rows = total;
    },
  });
  const encoder = new TextEncoder();
  let finished = false;
  const finish = async (outcome: string) => {
    if (finished) return;
    finished = true;
    await finishExport(db, exportId, rows).catch((error: unknown) =>
      log.error({ err: error, exportId }, "could not record the export's row count"),
    );
    log.info({ exportId, user: session.user.email, kind, format, rows, outcome }, "audit export");
  };
  // Pulled: the next batch is read only when the client has taken the last one.
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await source.next();
        if (next.done) {
          await finish("complete");
          controller.close();
        } else controller.enqueue(encoder.encode(next.value));
      } catch (error) {
        await finish("failed");
        log.error({ err: error, exportId }, "audit export failed");
        controller.error(error);
      }
    },
    async cancel() {
      await source.return(undefined);
      await finish("cancelled");
    },
  });
  const stamp = now.toISOString().replace(/[:.]/g, "-");
  return new Response(body, {
    headers: {
      "content-type": CONTENT_TYPES[format as ExportFormat],
      "content-disposition": `attachment; filename="turgon-${kind}-${stamp}.${format}"`,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    },
  });
}
