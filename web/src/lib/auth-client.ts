import { adminClient, organizationClient } from "better-auth/client/plugins";
import { createAuthClient } from "better-auth/react";

/** better-auth in the browser: sign-in, sign-out, teams and admin calls on /api/auth. */
export const authClient = createAuthClient({
  plugins: [organizationClient(), adminClient()],
});
