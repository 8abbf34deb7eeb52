import Link from "next/link";
import { Fragment } from "react";
import { ChevronRightIcon } from "./action-icons";

/** One step of a breadcrumb: a link when it has an href, plain text when not. */
export interface Crumb {
  label: string;
  href?: string;
}

/**
 * The trail above a page's title (Policies › namespace › name › History).
 * The last crumb is the page itself: emphasised, never a link, and marked
 * aria-current so screen readers say where they are.
 */
export function Breadcrumb({ trail }: { trail: readonly Crumb[] }) {
  return (
    <nav aria-label="Breadcrumb" className="flex items-center gap-1.5 text-sm text-slate-500">
      {trail.map((crumb, index) => {
        const last = index === trail.length - 1;
        // Labels may repeat (a namespace named like its policy); the path to a crumb does not.
        const path = trail
          .slice(0, index + 1)
          .map((c) => c.label)
          .join("\u0000");
        return (
          <Fragment key={path}>
            {index > 0 ? <ChevronRightIcon className="size-3.5 text-slate-400" /> : null}
            {last ? (
              <span aria-current="page" className="font-medium text-slate-700">
                {crumb.label}
              </span>
            ) : crumb.href ? (
              <Link href={crumb.href} className="hover:text-slate-700">
                {crumb.label}
              </Link>
            ) : (
              <span>{crumb.label}</span>
            )}
          </Fragment>
        );
      })}
    </nav>
  );
}
