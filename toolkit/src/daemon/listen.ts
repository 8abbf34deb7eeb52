import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

/** Binds a server and resolves with the port it got (useful with port 0); rejects on EADDRINUSE and the like. */
export function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}
