"use client";

import { useState } from "react";
import { Button } from "~/components/form";
import { authClient } from "~/lib/auth-client";

/** Signs out, then back to sign-in with the same sandbox to return to. */
export function SignInAsSomeoneElse({ returnUrl }: { returnUrl: string }) {
  const [pending, setPending] = useState(false);
  return (
    <Button
      tone="secondary"
      disabled={pending}
      onClick={async () => {
        setPending(true);
        await authClient.signOut();
        window.location.assign(`/signin?return=${encodeURIComponent(returnUrl)}`);
      }}
    >
      {pending ? "Signing out…" : "Sign in as someone else"}
    </Button>
  );
}
