/** Where a policy request and the denied event it came from are shown. */

export interface RequestOrigin {
  id: string;
  namespace: string;
  kind: string;
  name: string;
  host: string;
  eventId: string | null;
  eventTime: Date | null;
  /** The sandbox of the event (null once the event's day is past retention). */
  eventSandbox: string | null;
}

/** The request on the requests page (every status is listed there). */
export function requestHref(id: string): string {
  return `/policies/requests#request-${id}`;
}

/**
 * The audit list around a request's event: its sandbox's requests to its
 * host within a second of it (denied or would-deny alike).
 */
export function deniedEventHref(request: RequestOrigin): string {
  const params = new URLSearchParams({ namespace: request.namespace, host: request.host });
  const sandbox = request.eventSandbox ?? (request.kind === "Sandbox" ? request.name : null);
  if (sandbox) params.set("sandbox", sandbox);
  if (request.eventTime) {
    const at = request.eventTime.getTime();
    params.set("range", "custom");
    params.set("from", new Date(at - 1000).toISOString());
    params.set("to", new Date(at + 1000).toISOString());
  } else params.set("range", "30d");
  return `/audit?${params.toString()}`;
}
