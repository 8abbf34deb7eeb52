import { createServer, type Server } from "node:http";

/** What `/metrics` renders: a prom-client Registry, or anything shaped like one. */
export interface MetricsSource {
  contentType: string;
  metrics(): Promise<string>;
}

/** Serves `/metrics` (Prometheus) and `/healthz` (JSON) on their own port. */
export async function serveMetrics(
  host: string,
  port: number,
  registry: MetricsSource,
  health: () => Record<string, unknown>,
): Promise<Server> {
  const server = createServer((request, response) => {
    const send = (code: number, type: string, body: string) =>
      response.writeHead(code, { "content-type": type }).end(body);
    if (request.url === "/metrics") {
      registry.metrics().then(
        (body) => send(200, registry.contentType, body),
        (error: Error) => send(500, "text/plain", error.message),
      );
    } else if (request.url === "/healthz")
      send(200, "application/json", JSON.stringify({ status: "ok", ...health() }));
    else send(404, "text/plain", "not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
