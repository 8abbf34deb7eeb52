"use client";

import { useMutation, useQueryClient, useSuspenseQuery } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { KeyIcon } from "~/components/account-icons";
import { ConfirmButton } from "~/components/confirm-button";
import { Alert, Button, CardHeader, Field, Input, Textarea } from "~/components/form";
import { Card, Code, EmptyState } from "~/components/page";
import { fieldMessage, formErrors } from "~/lib/form-errors";
import { useTRPC } from "~/trpc/react";

const dateFormat = new Intl.DateTimeFormat("en", { dateStyle: "medium" });

/** The user's SSH public keys: what the router's SSH gateway lets them in with. */
export function SshKeys() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { data: keys } = useSuspenseQuery(trpc.sshKeys.list.queryOptions());
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.sshKeys.list.queryKey() });
  const remove = useMutation(trpc.sshKeys.remove.mutationOptions({ onSettled: refresh }));
  const removeErrors = formErrors(remove.error);
  return (
    <Card>
      <CardHeader
        title="SSH keys"
        description={
          <>
            The SSH gateway lets you into your teams' sandboxes with these keys:{" "}
            <Code>ssh &lt;sandbox&gt;.&lt;namespace&gt;@&lt;gateway&gt;</Code>.
          </>
        }
      />
      {remove.error ? (
        <div className="px-5 pt-4">
          <Alert>{removeErrors.message ?? Object.values(removeErrors.fields)[0]}</Alert>
        </div>
      ) : null}
      {keys.length === 0 ? (
        <EmptyState icon={<KeyIcon />} title="No SSH keys yet">
          <p>Add the public key of each machine you connect from.</p>
        </EmptyState>
      ) : (
        <ul className="divide-y divide-slate-100" aria-label="Your SSH keys">
          {keys.map((key) => (
            <li
              key={key.id}
              className="flex flex-wrap items-center gap-x-4 gap-y-2 px-5 py-3.5"
              data-testid={`ssh-key-${key.name}`}
            >
              <span className="flex size-9 shrink-0 items-center justify-center rounded-lg bg-slate-100 text-slate-500">
                <KeyIcon className="size-5" />
              </span>
              <div className="min-w-0 flex-1">
                <p className="flex flex-wrap items-center gap-2 text-sm font-medium text-slate-900">
                  {key.name}
                  <span className="rounded bg-slate-100 px-1.5 py-0.5 text-[0.6875rem] font-medium text-slate-600">
                    {key.algorithm} · {key.bits}
                  </span>
                </p>
                <p
                  className="mt-0.5 truncate font-mono text-xs text-slate-500"
                  data-testid="ssh-key-fingerprint"
                >
                  {key.fingerprint}
                </p>
              </div>
              <div className="text-right text-xs text-slate-500">
                <p>Added {dateFormat.format(key.createdAt)}</p>
                {key.comment ? <p className="truncate">{key.comment}</p> : null}
              </div>
              <ConfirmButton
                label={`Delete the key ${key.name}`}
                confirmLabel="Delete key"
                pending={remove.isPending && remove.variables?.id === key.id}
                onConfirm={() => remove.mutate({ id: key.id })}
              >
                Delete
              </ConfirmButton>
            </li>
          ))}
        </ul>
      )}
      <AddKeyForm onAdded={refresh} />
    </Card>
  );
}

function AddKeyForm({ onAdded }: { onAdded: () => Promise<unknown> }) {
  const trpc = useTRPC();
  const [name, setName] = useState("");
  const [publicKey, setPublicKey] = useState("");
  const add = useMutation(
    trpc.sshKeys.add.mutationOptions({
      onSuccess: async () => {
        setName("");
        setPublicKey("");
        await onAdded();
      },
    }),
  );
  const errors = formErrors(add.error);
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    add.mutate({ name, publicKey });
  };
  return (
    <form
      onSubmit={onSubmit}
      className="space-y-4 border-t border-slate-200 bg-slate-50/60 px-5 py-5"
      aria-label="Add an SSH key"
    >
      <h3 className="text-sm font-semibold text-slate-900">Add a key</h3>
      {errors.message ? <Alert>{errors.message}</Alert> : null}
      <Field
        id="ssh-key-name"
        label="Name"
        hint="Where the key lives, such as “laptop”."
        error={fieldMessage("Name", errors.fields.name)}
      >
        <Input
          id="ssh-key-name"
          value={name}
          required
          maxLength={64}
          placeholder="laptop"
          className="max-w-sm"
          aria-invalid={errors.fields.name ? true : undefined}
          onChange={(event) => setName(event.target.value)}
        />
      </Field>
      <Field
        id="ssh-key-public"
        label="Public key"
        hint={
          <>
            One line, such as the contents of <Code>~/.ssh/id_ed25519.pub</Code>. ed25519, ECDSA and
            RSA (2048 bits or more) keys.
          </>
        }
        error={fieldMessage("Public key", errors.fields.publicKey)}
      >
        <Textarea
          id="ssh-key-public"
          value={publicKey}
          required
          rows={3}
          spellCheck={false}
          placeholder="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… you@laptop"
          className="font-mono text-xs"
          aria-invalid={errors.fields.publicKey ? true : undefined}
          onChange={(event) => setPublicKey(event.target.value)}
        />
      </Field>
      <div className="flex justify-end">
        <Button type="submit" disabled={add.isPending}>
          {add.isPending ? "Adding…" : "Add key"}
        </Button>
      </div>
    </form>
  );
}
