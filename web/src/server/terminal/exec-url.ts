import { EXEC_PATH } from "@turgon/api/routing";

/**
 * The router's exec WebSocket URL for a token: EXEC_PATH on the router's
 * own origin (TURGON_ROUTER_URL), ws: for http: and wss: for https:. The
 * browser adds `cols` and `rows` for the terminal's first size.
 */
export function execSocketUrl(routerUrl: string, token: string): string {
  const url = new URL(EXEC_PATH, routerUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("token", token);
  return url.href;
}
