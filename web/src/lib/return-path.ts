/** Where a signed-in user lands when no (usable) return path was given. */
export const DEFAULT_RETURN_PATH = "/sandboxes";

const BASE = "http://turgon.invalid";

/**
 * The `return` query parameter of /signin, reduced to a path on this
 * dashboard: anything else (another origin, `//host`, a backslash that
 * browsers read as a slash, control characters, /signin itself) becomes
 * the default, so the sign-in page cannot be used as an open redirect.
 * Routed sandbox URLs (the router's hand-off) are a later addition.
 */
export function safeReturnPath(value: string | readonly string[] | null | undefined): string {
  const raw = typeof value === "string" ? value : value?.[0];
  if (!raw || raw.length > 2048) return DEFAULT_RETURN_PATH;
  if (!raw.startsWith("/") || raw.startsWith("//")) return DEFAULT_RETURN_PATH;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\\\u0000-\u001f\u007f]/.test(raw)) return DEFAULT_RETURN_PATH;
  let url: URL;
  try {
    url = new URL(raw, BASE);
  } catch {
    return DEFAULT_RETURN_PATH;
  }
  if (url.origin !== BASE) return DEFAULT_RETURN_PATH;
  if (url.pathname === "/signin" || url.pathname.startsWith("/signin/")) return DEFAULT_RETURN_PATH;
  return `${url.pathname}${url.search}${url.hash}`;
}
