import { getAuth } from "~/server/auth";

/** better-auth's endpoints (sign-in, sign-out, session, teams, admin) under /api/auth. */
const handler = (request: Request) => getAuth().handler(request);

export { handler as GET, handler as POST };
