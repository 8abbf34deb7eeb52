import Link from "next/link";
import { deniedEventHref, type RequestOrigin, requestHref } from "./links";

/**
 * A saved version's request, for "who allowed this host, and when": who
 * asked, why, and links to the request and the denied event it came from.
 */
export function RequestProvenance({
  request,
}: {
  request: RequestOrigin & { requestedByEmail: string; reason: string | null };
}) {
  return (
    <p className="text-xs text-slate-600" data-testid="version-request">
      Approved{" "}
      <Link
        className="text-indigo-700 underline"
        href={requestHref(request.id)}
        data-testid="version-request-link"
      >
        request {request.id}
      </Link>{" "}
      of{" "}
      <span className="font-medium text-slate-900" data-testid="version-requester">
        {request.requestedByEmail}
      </span>
      {request.reason ? <> (“{request.reason}”)</> : null}
      {request.eventId ? (
        <>
          {" · "}
          <Link
            className="text-indigo-700 underline"
            href={deniedEventHref(request)}
            data-testid="version-event-link"
          >
            the denied event
          </Link>
        </>
      ) : null}
    </p>
  );
}
