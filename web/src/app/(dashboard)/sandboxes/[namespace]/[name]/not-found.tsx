import Link from "next/link";
import { CubeIcon } from "~/components/icons";
import { Card, EmptyState } from "~/components/page";

export default function SandboxNotFound() {
  return (
    <Card>
      <EmptyState icon={<CubeIcon />} title="No such sandbox">
        <p>It may have been deleted, or the address is mistyped.</p>
        <Link
          href="/sandboxes"
          className="mt-4 inline-block text-sm font-semibold text-indigo-600 hover:text-indigo-500"
        >
          Back to sandboxes →
        </Link>
      </EmptyState>
    </Card>
  );
}
