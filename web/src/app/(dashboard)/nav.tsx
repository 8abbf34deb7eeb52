"use client";

import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { type ComponentType, type SVGProps, useState } from "react";
import {
  CubeIcon,
  PolicyIcon,
  ServerIcon,
  ShieldIcon,
  SignOutIcon,
  TeamIcon,
  UserIcon,
} from "~/components/icons";
import { authClient } from "~/lib/auth-client";

interface NavItem {
  href: string;
  label: string;
  icon: ComponentType<SVGProps<SVGSVGElement>>;
  adminOnly?: boolean;
}

const ITEMS: NavItem[] = [
  { href: "/sandboxes", label: "Sandboxes", icon: CubeIcon },
  { href: "/nodes", label: "Nodes", icon: ServerIcon },
  { href: "/policies", label: "Policies", icon: PolicyIcon },
  { href: "/policies/requests", label: "Requests", icon: ShieldIcon },
  { href: "/audit", label: "Audit", icon: ShieldIcon },
  { href: "/teams", label: "Teams", icon: TeamIcon, adminOnly: true },
  { href: "/profile", label: "Profile", icon: UserIcon },
];

export function NavLinks({ isAdmin }: { isAdmin: boolean }) {
  const pathname = usePathname();
  return (
    <ul className="space-y-1">
      {ITEMS.filter((item) => isAdmin || !item.adminOnly).map(({ href, label, icon: Icon }) => {
        const current = isCurrent(pathname, href);
        return (
          <li key={href}>
            <Link
              href={href}
              aria-current={current ? "page" : undefined}
              className={`group flex items-center gap-3 rounded-md px-3 py-2 text-sm font-medium ${
                current
                  ? "bg-white/10 text-white"
                  : "text-slate-400 hover:bg-white/5 hover:text-white"
              }`}
            >
              <Icon
                className={`size-5 shrink-0 ${current ? "text-indigo-300" : "text-slate-500 group-hover:text-slate-300"}`}
              />
              {label}
            </Link>
          </li>
        );
      })}
    </ul>
  );
}

export function SignOutButton() {
  const router = useRouter();
  const [pending, setPending] = useState(false);
  return (
    <button
      type="button"
      disabled={pending}
      onClick={async () => {
        setPending(true);
        await authClient.signOut();
        router.replace("/signin");
        router.refresh();
      }}
      className="mt-3 flex w-full items-center gap-3 rounded-md px-3 py-2 text-sm font-medium text-slate-400 hover:bg-white/5 hover:text-white disabled:opacity-60"
    >
      <SignOutIcon className="size-5 shrink-0 text-slate-500" />
      {pending ? "Signing out…" : "Sign out"}
    </button>
  );
}

/** The item whose href is the longest prefix of the path is the current one (Requests under Policies). */
function isCurrent(pathname: string, href: string): boolean {
  const within = (h: string) => pathname === h || pathname.startsWith(`${h}/`);
  return (
    within(href) && !ITEMS.some((other) => other.href.length > href.length && within(other.href))
  );
}
