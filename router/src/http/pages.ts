import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

export interface Refusal {
  status: number;
  reason: string;
  message: string;
  retryAfter?: number;
}

const TITLES: Record<number, string> = {
  400: "Bad request",
  401: "Sign-in required",
  403: "Forbidden",
  404: "Not found",
  409: "Conflict",
  502: "Bad gateway",
  503: "Unavailable",
  504: "Gateway timeout",
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A small page or JSON, by the request's Accept, that names the problem. */
export function refuse(req: IncomingMessage, res: ServerResponse, refusal: Refusal): void {
  const headers: Record<string, string> = { "cache-control": "no-store" };
  if (refusal.retryAfter) headers["retry-after"] = String(refusal.retryAfter);
  const title = TITLES[refusal.status] ?? "Error";
  if ((req.headers.accept ?? "").includes("text/html")) {
    res
      .writeHead(refusal.status, { ...headers, "content-type": "text/html; charset=utf-8" })
      .end(
        `<!doctype html><title>${refusal.status} ${title}</title><h1>${refusal.status} ${title}</h1><p>${escapeHtml(refusal.message)}</p><p><small>Turgon router · ${escapeHtml(refusal.reason)}</small></p>\n`,
      );
    return;
  }
  res
    .writeHead(refusal.status, { ...headers, "content-type": "application/json" })
    .end(`${JSON.stringify({ error: refusal.reason, message: refusal.message })}\n`);
}

/** The same refusal on an upgrade's raw socket (no ServerResponse there): status, reason, JSON. */
export function refuseUpgrade(client: Socket, refusal: Refusal): void {
  const body = `${JSON.stringify({ error: refusal.reason, message: refusal.message })}\n`;
  const retry = refusal.retryAfter ? `retry-after: ${refusal.retryAfter}\r\n` : "";
  client.end(
    `HTTP/1.1 ${refusal.status} ${refusal.reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${retry}cache-control: no-store\r\nconnection: close\r\n\r\n${body}`,
  );
}
