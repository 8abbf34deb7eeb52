"use client";

import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { AlertIcon } from "~/components/icons";
import { authClient } from "~/lib/auth-client";

const inputClass =
  "block w-full rounded-md bg-white px-3 py-2 text-sm text-slate-900 outline-1 -outline-offset-1 outline-slate-300 placeholder:text-slate-400 focus:outline-2 focus:-outline-offset-2 focus:outline-indigo-600";

/** Where to go after signing in, already checked by the page (server/ingress/return-url.ts). */
export type ReturnTo = { kind: "path"; path: string } | { kind: "sandbox"; url: string };

/**
 * Email and password; on success, on to the return path, or, for a routed
 * sandbox, back through /signin with the same return, where the server
 * checks access and hands over a token (a full page load, since that ends
 * on another origin).
 */
export function SignInForm({ returnTo }: { returnTo: ReturnTo }) {
  const router = useRouter();
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setPending(true);
    setError(undefined);
    const { error } = await authClient.signIn.email({
      email: String(form.get("email") ?? ""),
      password: String(form.get("password") ?? ""),
    });
    if (error) {
      setPending(false);
      setError(
        error.status === 401 || error.code === "INVALID_EMAIL_OR_PASSWORD"
          ? "Wrong email or password."
          : (error.message ?? "Sign-in failed; try again."),
      );
      return;
    }
    if (returnTo.kind === "sandbox") {
      window.location.assign(`/signin?return=${encodeURIComponent(returnTo.url)}`);
      return;
    }
    router.replace(returnTo.path);
    router.refresh();
  }

  return (
    // POST, so a submission before the page's script runs never puts the password in a URL.
    <form onSubmit={onSubmit} method="post" className="space-y-5">
      {error ? (
        <div role="alert" className="flex gap-2 rounded-md bg-red-50 p-3 text-sm text-red-800">
          <AlertIcon className="size-5 shrink-0 text-red-500" />
          <span>{error}</span>
        </div>
      ) : null}
      <div>
        <label htmlFor="email" className="block text-sm font-medium text-slate-900">
          Email address
        </label>
        <input
          id="email"
          name="email"
          type="email"
          autoComplete="username"
          required
          className={`mt-2 ${inputClass}`}
        />
      </div>
      <div>
        <label htmlFor="password" className="block text-sm font-medium text-slate-900">
          Password
        </label>
        <input
          id="password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          className={`mt-2 ${inputClass}`}
        />
      </div>
      <button
        type="submit"
        disabled={pending}
        className="flex w-full justify-center rounded-md bg-indigo-600 px-3 py-2 text-sm font-semibold text-white shadow-xs hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 disabled:opacity-60"
      >
        {pending ? "Signing in…" : "Sign in"}
      </button>
    </form>
  );
}
