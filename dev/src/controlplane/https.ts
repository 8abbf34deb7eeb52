import { request } from "node:https";

export interface TlsIdentity {
  ca: string;
  cert?: string;
  key?: string;
}

export interface HttpsResponse {
  status: number;
  body: string;
}

/** A GET over TLS with an explicit CA and optional client certificate. */
export function httpsGet(url: string, tls: TlsIdentity, timeoutMs = 5_000): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", ...tls, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}
