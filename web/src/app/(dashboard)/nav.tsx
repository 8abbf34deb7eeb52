"use client";

import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { type ComponentType, type SVGProps, useState } from "react";
import {
  CubeIcon,
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
  { href: "/audit", label: "Audit", icon: ShieldIcon },
  { href: "/policies/requests", label: "Requests", icon: ShieldIcon },
  { href: "/teams", label: "Teams", icon: TeamIcon, adminOnly: true },
  { href: "/profile", label: "Profile", icon: UserIcon },
];

export function NavLinks({ isAdmin }: { isAdmin: boolean }) {
  const pathname = usePathname();
  return (
    <ul className="space-y-1">
      {ITEMS.filter((item) => isAdmin || !item.adminOnly).map(({ href, label, icon: Icon }) => {
        const current = pathname === href || pathname.startsWith(`${href}/`);
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
