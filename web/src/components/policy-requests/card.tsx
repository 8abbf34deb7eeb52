import type { ReactNode } from "react";

/** ~/components/page's Card, with a test id. */
export function Card({ children, testId }: { children: ReactNode; testId?: string }) {
  return (
    <section data-testid={testId} className="rounded-xl bg-white shadow-sm ring-1 ring-slate-200">
      {children}
    </section>
  );
}
