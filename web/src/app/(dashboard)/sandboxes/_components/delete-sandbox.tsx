"use client";

import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { TrashIcon } from "~/components/action-icons";
import { ConfirmDialog } from "~/components/dialog";
import { useTRPC } from "~/trpc/react";

export interface DeleteTarget {
  namespace: string;
  name: string;
  uid: string;
}

/**
 * The confirmation before a delete. The delete is made as the user
 * (Kubernetes RBAC decides) and only of that very object (its uid); the
 * list and the page follow the deletion live, so nothing is removed here.
 */
export function DeleteSandboxDialog({
  target,
  onClose,
  onDeleted,
}: {
  target: DeleteTarget | null;
  onClose: () => void;
  onDeleted?: () => void;
}) {
  const trpc = useTRPC();
  const remove = useMutation(
    trpc.sandboxes.delete.mutationOptions({
      onSuccess: () => {
        onClose();
        onDeleted?.();
      },
    }),
  );
  return (
    <ConfirmDialog
      open={target !== null}
      title={`Delete sandbox ${target?.name ?? ""}?`}
      confirmLabel="Delete sandbox"
      pendingLabel="Deleting…"
      pending={remove.isPending}
      error={remove.error?.message ?? null}
      onCancel={() => {
        onClose();
        remove.reset();
      }}
      onConfirm={() => {
        if (target)
          remove.mutate({
            namespace: target.namespace,
            name: target.name,
            ...(target.uid ? { uid: target.uid } : {}),
          });
      }}
    >
      <p>
        The VM of <span className="font-medium text-slate-900">{target?.name}</span> in namespace{" "}
        <span className="font-medium text-slate-900">{target?.namespace}</span> is stopped and its
        disk is discarded; its routed URL stops answering. This cannot be undone.
      </p>
    </ConfirmDialog>
  );
}

/** The detail page's Delete button with its confirmation. */
export function DeleteSandboxButton({
  target,
  onDeleted,
  disabled,
}: {
  target: DeleteTarget;
  onDeleted?: () => void;
  disabled?: boolean;
}) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button
        type="button"
        disabled={disabled}
        onClick={() => setOpen(true)}
        className="inline-flex items-center gap-1.5 rounded-md bg-white px-3 py-2 text-sm font-semibold text-red-600 shadow-xs ring-1 ring-slate-300 ring-inset hover:bg-red-50 disabled:cursor-not-allowed disabled:opacity-50"
      >
        <TrashIcon className="size-4" />
        Delete
      </button>
      <DeleteSandboxDialog
        target={open ? target : null}
        onClose={() => setOpen(false)}
        {...(onDeleted ? { onDeleted } : {})}
      />
    </>
  );
}
