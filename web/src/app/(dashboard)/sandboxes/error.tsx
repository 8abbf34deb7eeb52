"use client";

import { AlertIcon } from "~/components/icons";
import { Card } from "~/components/page";

/** When the sandbox pages cannot load (the API server is unreachable): say so, offer a retry. */
export default function SandboxesError({
  error,
  reset,
}: {
  error: Error & { digest?: string };
  reset: () => void;
}) {
  return (
    <Card>
      <div className="flex flex-col items-center px-6 py-16 text-center">
        <div className="flex size-12 items-center justify-center rounded-full bg-red-50 text-red-600">
          <AlertIcon className="size-6" />
        </div>
        <h2 className="mt-4 text-base font-semibold text-slate-900">
          Sandboxes could not be loaded
        </h2>
        <p className="mt-1 max-w-md text-sm text-slate-500" role="alert">
          {error.message || "The dashboard could not reach the Kubernetes API server."}
        </p>
        <button
          type="button"
          onClick={reset}
          className="mt-4 rounded-md bg-white px-3 py-2 text-sm font-semibold text-slate-900 shadow-xs ring-1 ring-slate-300 ring-inset hover:bg-slate-50"
        >
          Try again
        </button>
      </div>
    </Card>
  );
}
