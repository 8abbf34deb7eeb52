import { StatusPage } from "~/components/status-page";

export default function Forbidden() {
  return (
    <StatusPage code="403" title="Not for your account">
      <p className="mt-2 text-sm text-slate-500">This page is for platform administrators.</p>
    </StatusPage>
  );
}
