import Link from "next/link";
import { AlertIcon } from "~/components/icons";
import { Card } from "~/components/page";

/** In place of a table the dashboard cannot fill: what is wrong, in words an operator can act on. */
export function Unavailable({
  title,
  message,
  retry,
}: {
  title: string;
  message: string;
  retry: string;
}) {
  return (
    <Card>
      <div className="flex flex-col items-center px-6 py-16 text-center" data-testid="unavailable">
        <div className="flex size-12 items-center justify-center rounded-full bg-amber-50 text-amber-600">
          <AlertIcon className="size-6" />
        </div>
        <h2 className="mt-4 text-base font-semibold text-slate-900">{title}</h2>
        <p className="mt-1 max-w-lg text-sm text-slate-600" role="alert">
          {message}
        </p>
        <Link
          href={retry}
          prefetch={false}
          className="mt-4 rounded-md bg-white px-3 py-2 text-sm font-semibold text-slate-900 shadow-xs ring-1 ring-slate-300 ring-inset hover:bg-slate-50"
        >
          Try again
        </Link>
      </div>
    </Card>
  );
}
