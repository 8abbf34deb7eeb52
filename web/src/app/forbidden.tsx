import Link from "next/link";
import { LogoMark } from "~/components/logo";

export default function Forbidden() {
  return (
    <main className="flex min-h-full flex-col items-center justify-center px-6 py-24 text-center">
      <LogoMark className="size-10" />
      <p className="mt-6 text-sm font-semibold text-indigo-600">403</p>
      <h1 className="mt-2 text-2xl font-semibold tracking-tight">Not for your account</h1>
      <p className="mt-2 text-sm text-slate-500">This page is for platform administrators.</p>
      <Link
        href="/sandboxes"
        className="mt-6 text-sm font-semibold text-indigo-600 hover:text-indigo-500"
      >
        Back to sandboxes →
      </Link>
    </main>
  );
}
