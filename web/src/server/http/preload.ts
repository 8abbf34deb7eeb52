/**
 * Loaded before the dashboard's Next.js server (`node --import
 * web/src/server/http/preload.ts server.js`); see forwarded-for.ts.
 */
import {
  installForwardedForGuard,
  parseTrustedProxies,
  TRUSTED_PROXIES_ENV,
} from "./forwarded-for.ts";

installForwardedForGuard(parseTrustedProxies(process.env[TRUSTED_PROXIES_ENV]));
