import { createServer } from "node:net";
import { DevError, PortInUseError } from "@turgon/toolkit/errors";

/** Resolves true when nothing listens on host:port (we could bind it). */
export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export async function assertPortFree(service: string, host: string, port: number, envVar?: string) {
  if (!(await isPortFree(host, port))) throw new PortInUseError(service, host, port, envVar);
}

/** Asks the kernel for an unused loopback port. */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ host, port: 0 }, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error("could not read the bound port"));
      });
    });
  });
}

/**
 * Ports from their environment variables over the defaults; a value that is
 * not a TCP port fails naming its variable.
 */
export function portsFromEnvironment<K extends string>(
  defaults: Record<K, number>,
  variables: Record<K, string>,
  env: NodeJS.ProcessEnv,
): Record<K, number> {
  const ports = { ...defaults };
  for (const key of Object.keys(variables) as K[]) {
    const raw = env[variables[key]];
    if (raw === undefined || raw === "") continue;
    const port = Number(raw);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new DevError(
        `${variables[key]}=${raw} is not a TCP port`,
        `Set ${variables[key]} to an integer from 1 to 65535, or unset it.`,
      );
    }
    ports[key] = port;
  }
  return ports;
}
