import { headers } from "next/headers";
import { redirect } from "next/navigation";
import type { ReactNode } from "react";
import { Logo } from "~/components/logo";
import { PATH_HEADER } from "~/lib/request-path";
import { getServerSession } from "~/server/auth";
import { NavLinks, SignOutButton } from "./nav";

/** Every signed-in page: the sidebar with navigation and the user, and the page beside it. */
export default async function DashboardLayout({ children }: { children: ReactNode }) {
  const session = await getServerSession();
  if (!session) {
    const path = (await headers()).get(PATH_HEADER);
    redirect(path ? `/signin?return=${encodeURIComponent(path)}` : "/signin");
  }
  const { user, isAdmin } = session;
  return (
    <div className="min-h-full">
      <aside className="flex flex-col bg-slate-900 lg:fixed lg:inset-y-0 lg:w-72">
        <div className="flex h-16 shrink-0 items-center px-6">
          <Logo inverted />
        </div>
        <nav aria-label="Main" className="flex flex-1 flex-col px-3 pb-4">
          <NavLinks isAdmin={isAdmin} />
          <div className="mt-auto border-t border-white/10 pt-4">
            <div className="flex items-center gap-3 px-3">
              <span className="flex size-8 shrink-0 items-center justify-center rounded-full bg-indigo-500/20 text-sm font-semibold text-indigo-200">
                {(user.name || user.email).slice(0, 1).toUpperCase()}
              </span>
              <div className="min-w-0 flex-1">
                <p className="truncate text-sm font-medium text-white">{user.name || user.email}</p>
                <p className="truncate text-xs text-slate-400" data-testid="user-email">
                  {user.email}
                </p>
              </div>
              {isAdmin ? (
                <span className="rounded bg-indigo-500/20 px-1.5 py-0.5 text-[0.6875rem] font-medium text-indigo-200">
                  admin
                </span>
              ) : null}
            </div>
            <SignOutButton />
          </div>
        </nav>
      </aside>
      <main className="lg:pl-72">
        <div className="mx-auto max-w-6xl px-6 py-8 lg:px-10">{children}</div>
      </main>
    </div>
  );
}
