import Link from "next/link";
import { LogoMark } from "~/components/logo";

export default function NotFound() {
  return (
    <main className="flex min-h-full flex-col items-center justify-center px-6 py-24 text-center">
      <LogoMark className="size-10" />
      <p className="mt-6 text-sm font-semibold text-indigo-600">404</p>
      <h1 className="mt-2 text-2xl font-semibold tracking-tight">Page not found</h1>
      <p className="mt-2 text-sm text-slate-500">There is nothing at this address.</p>
      <Link
        href="/sandboxes"
        className="mt-6 text-sm font-semibold text-indigo-600 hover:text-indigo-500"
      >
        Back to sandboxes →
      </Link>
    </main>
  );
}
