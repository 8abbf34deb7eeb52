import Link from "next/link";
import type { ReactNode } from "react";
import { LogoMark } from "~/components/logo";

/**
 * A whole page that says why there is nothing to show here (403, 404, a
 * check that could not run): the logo, the code, a heading, what happened,
 * and the way back (`actions`, by default a link to the sandboxes).
 */
export function StatusPage({
  code,
  title,
  titleTestId,
  children,
  back = "Back to sandboxes",
  actions,
}: {
  code?: string;
  title: string;
  titleTestId?: string;
  children: ReactNode;
  back?: string;
  /** Shown before the way back, in one row with it. */
  actions?: ReactNode;
}) {
  const backLink = (
    <Link href="/sandboxes" className="text-sm font-semibold text-indigo-600 hover:text-indigo-500">
      {back} →
    </Link>
  );
  return (
    <main className="flex min-h-full flex-col items-center justify-center px-6 py-24 text-center">
      <LogoMark className="size-10" />
      {code ? <p className="mt-6 text-sm font-semibold text-indigo-600">{code}</p> : null}
      <h1
        className={`${code ? "mt-2" : "mt-6"} text-2xl font-semibold tracking-tight`}
        data-testid={titleTestId}
      >
        {title}
      </h1>
      {children}
      {actions ? (
        <div className="mt-8 flex items-center gap-4">
          {actions}
          {backLink}
        </div>
      ) : (
        <div className="mt-6">{backLink}</div>
      )}
    </main>
  );
}
