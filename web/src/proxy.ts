import { type NextRequest, NextResponse } from "next/server";
import { PATH_HEADER } from "~/lib/request-path";

/**
 * Tells the signed-in layout which page was asked for, so a visitor without
 * a session is sent to /signin?return=<that page>. The session itself is
 * checked in the layout, against the database.
 */
export function proxy(request: NextRequest): NextResponse {
  const headers = new Headers(request.headers);
  headers.set(PATH_HEADER, `${request.nextUrl.pathname}${request.nextUrl.search}`);
  return NextResponse.next({ request: { headers } });
}

export const config = {
  matcher: ["/((?!api/|_next/|favicon.ico|icon.svg).*)"],
};
