import { Agent, request } from "undici";

export interface LoadResult {
  requests: number;
  errors: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/**
 * Closed-loop HTTP load for benchmarks: `concurrency` keep-alive workers
 * for `seconds`, bounded by `maxRequests` too. Non-200 answers and
 * failures count as errors; latencies are of successful requests (ms).
 */
export async function loadTest(options: {
  url: string;
  headers?: Record<string, string>;
  seconds: number;
  concurrency: number;
  maxRequests?: number;
  /** TLS options for https URLs: a CA to trust, a client certificate and key. */
  tls?: { ca?: string; cert?: string; key?: string; servername?: string };
}): Promise<LoadResult> {
  const { url, headers = {}, seconds, concurrency, maxRequests = 200_000 } = options;
  const dispatcher = new Agent({
    connections: concurrency,
    keepAliveTimeout: 10_000,
    ...(options.tls ? { connect: options.tls } : {}),
  });
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline && latencies.length + errors < maxRequests) {
      const t0 = performance.now();
      try {
        const response = await request(url, { headers, dispatcher });
        await response.body.arrayBuffer();
        if (response.statusCode === 200) latencies.push(performance.now() - t0);
        else errors++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - started) / 1000;
  await dispatcher.close();
  latencies.sort((a, b) => a - b);
  const at = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ??
    Number.NaN;
  return {
    requests: latencies.length,
    errors,
    perSecond: latencies.length / elapsed,
    p50: at(50),
    p99: at(99),
  };
}
