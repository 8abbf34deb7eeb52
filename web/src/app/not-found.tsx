import { StatusPage } from "~/components/status-page";

export default function NotFound() {
  return (
    <StatusPage code="404" title="Page not found">
      <p className="mt-2 text-sm text-slate-500">There is nothing at this address.</p>
    </StatusPage>
  );
}
