export { ADMIN_ROLE, type TeamRole } from "./config.ts";
export { getAuth } from "./instance.ts";
export { getServerSession, getSession, type SessionUser, type TurgonSession } from "./session.ts";
