"use client";

import { useMutation, useQueryClient, useSuspenseQuery } from "@tanstack/react-query";
import type { inferRouterOutputs } from "@trpc/server";
import { type FormEvent, useState } from "react";
import { CopyIcon, FolderIcon, KeyIcon, ShieldIcon } from "~/components/account-icons";
import { PlusIcon } from "~/components/action-icons";
import { ConfirmButton } from "~/components/confirm-button";
import { Alert, Button, CardHeader, Field, Input, Select } from "~/components/form";
import { TeamIcon } from "~/components/icons";
import { Badge, Card, Code, EmptyState, PageHeader } from "~/components/page";
import { fieldMessage, formErrors } from "~/lib/form-errors";
import type { AppRouter } from "~/server/api/root";
import { useTRPC } from "~/trpc/react";

type Outputs = inferRouterOutputs<AppRouter>;
type Team = Outputs["teams"]["list"]["teams"][number];
type User = Outputs["users"]["list"][number];

const dateFormat = new Intl.DateTimeFormat("en", { dateStyle: "medium" });

/** A team's name as a slug: what the slug field suggests until it is edited by hand. */
function slugify(name: string): string {
  return name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
}

/** Refreshes what this page shows after a change. */
function useRefresh() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: trpc.teams.list.queryKey() }),
      queryClient.invalidateQueries({ queryKey: trpc.users.list.queryKey() }),
    ]);
}

export function TeamsManager({ currentUserId }: { currentUserId: string }) {
  const trpc = useTRPC();
  const { data } = useSuspenseQuery(trpc.teams.list.queryOptions());
  const { data: users } = useSuspenseQuery(trpc.users.list.queryOptions());
  const [creating, setCreating] = useState(false);
  const namespaces = data.teams.reduce((sum, team) => sum + team.namespaces.length, 0);
  return (
    <div className="space-y-8">
      <PageHeader
        title="Teams"
        description="Teams hold namespaces and their sandboxes. Members use them; platform admins manage them here."
        actions={
          creating ? null : (
            <Button onClick={() => setCreating(true)}>
              <PlusIcon className="size-4" />
              New team
            </Button>
          )
        }
      />
      <dl className="grid grid-cols-2 gap-4 lg:grid-cols-4">
        <Stat label="Teams" value={data.teams.length} />
        <Stat label="Bound namespaces" value={namespaces} />
        <Stat label="Users" value={users.length} />
        <Stat label="Platform admins" value={users.filter((u) => u.isAdmin).length} />
      </dl>
      {creating ? <CreateTeamCard onDone={() => setCreating(false)} /> : null}
      {data.namespacesError ? (
        <Alert title="The teams' namespaces could not be read">{data.namespacesError}</Alert>
      ) : null}
      {data.strayNamespaces.length > 0 ? (
        <Alert tone="warning" title="Namespaces labelled for teams the dashboard does not know">
          {data.strayNamespaces.map((s) => `${s.namespace} (team ${s.team})`).join(", ")}. Create a
          team with that slug, or remove the <Code>turgon.dev/team</Code> label.
        </Alert>
      ) : null}
      {data.teams.length === 0 ? (
        <Card>
          <EmptyState icon={<TeamIcon />} title="No teams yet">
            <p>
              Create a team, add its members and bind its namespaces: members may then use the
              sandboxes there.
            </p>
          </EmptyState>
        </Card>
      ) : (
        <div className="space-y-6">
          {data.teams.map((team) => (
            <TeamCard key={team.id} team={team} />
          ))}
        </div>
      )}
      <UsersCard users={users} currentUserId={currentUserId} />
    </div>
  );
}

function Stat({ label, value }: { label: string; value: number }) {
  return (
    <div className="rounded-xl bg-white px-5 py-4 shadow-sm ring-1 ring-slate-200">
      <dt className="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</dt>
      <dd className="mt-1 text-2xl font-semibold tracking-tight text-slate-900">{value}</dd>
    </div>
  );
}

function CreateTeamCard({ onDone }: { onDone: () => void }) {
  const trpc = useTRPC();
  const refresh = useRefresh();
  const [name, setName] = useState("");
  const [slug, setSlug] = useState("");
  const [slugEdited, setSlugEdited] = useState(false);
  const create = useMutation(
    trpc.teams.create.mutationOptions({
      onSuccess: async () => {
        await refresh();
        onDone();
      },
    }),
  );
  const errors = formErrors(create.error);
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({ name, slug });
  };
  return (
    <Card>
      <CardHeader
        title="New team"
        description="You become its first owner. The slug is its name in Kubernetes: the group turgon:team:<slug>, and the turgon.dev/team label of its namespaces."
      />
      <form onSubmit={onSubmit} className="space-y-5 px-5 py-5" aria-label="New team">
        {errors.message ? <Alert>{errors.message}</Alert> : null}
        <div className="grid gap-5 sm:grid-cols-2">
          <Field id="team-name" label="Name" error={fieldMessage("Name", errors.fields.name)}>
            <Input
              id="team-name"
              value={name}
              required
              maxLength={64}
              placeholder="Machine learning"
              aria-invalid={errors.fields.name ? true : undefined}
              onChange={(event) => {
                setName(event.target.value);
                if (!slugEdited) setSlug(slugify(event.target.value));
              }}
            />
          </Field>
          <Field
            id="team-slug"
            label="Slug"
            hint="Lower-case letters, digits and '-'; it cannot be changed later."
            error={fieldMessage("Slug", errors.fields.slug)}
          >
            <Input
              id="team-slug"
              value={slug}
              required
              maxLength={63}
              placeholder="ml"
              className="font-mono"
              aria-invalid={errors.fields.slug ? true : undefined}
              onChange={(event) => {
                setSlugEdited(true);
                setSlug(event.target.value);
              }}
            />
          </Field>
        </div>
        <div className="flex justify-end gap-2">
          <Button tone="secondary" onClick={onDone}>
            Cancel
          </Button>
          <Button type="submit" disabled={create.isPending}>
            {create.isPending ? "Creating…" : "Create team"}
          </Button>
        </div>
      </form>
    </Card>
  );
}

function TeamCard({ team }: { team: Team }) {
  const owners = team.members.filter((m) => m.role === "owner").length;
  return (
    <Card>
      <div
        className="flex flex-wrap items-center justify-between gap-3 border-b border-slate-200 px-5 py-4"
        data-testid={`team-${team.slug}`}
      >
        <div className="flex min-w-0 items-center gap-3">
          <span className="flex size-9 shrink-0 items-center justify-center rounded-lg bg-indigo-50 text-sm font-semibold text-indigo-700">
            {team.name.slice(0, 1).toUpperCase()}
          </span>
          <div className="min-w-0">
            <h2 className="truncate text-base font-semibold text-slate-900">{team.name}</h2>
            <p className="text-xs text-slate-500">
              <span className="font-mono">{team.slug}</span> · created{" "}
              {dateFormat.format(team.createdAt)}
            </p>
          </div>
        </div>
        <div className="flex items-center gap-2 text-xs text-slate-500">
          <Badge>
            {team.members.length} member{team.members.length === 1 ? "" : "s"}
          </Badge>
          <Badge>
            {team.namespaces.length} namespace{team.namespaces.length === 1 ? "" : "s"}
          </Badge>
          {owners === 0 ? <Badge tone="amber">no owner</Badge> : null}
        </div>
      </div>
      <div className="grid divide-y divide-slate-200 lg:grid-cols-5 lg:divide-x lg:divide-y-0">
        <section className="lg:col-span-3" aria-label={`Members of ${team.name}`}>
          <h3 className="px-5 pt-4 text-xs font-medium uppercase tracking-wide text-slate-500">
            Members
          </h3>
          <MembersTable team={team} />
          <AddMemberForm team={team} />
        </section>
        <section className="lg:col-span-2" aria-label={`Namespaces of ${team.name}`}>
          <h3 className="px-5 pt-4 text-xs font-medium uppercase tracking-wide text-slate-500">
            Namespaces
          </h3>
          <NamespacesList team={team} />
          <BindNamespaceForm team={team} />
        </section>
      </div>
    </Card>
  );
}

function MembersTable({ team }: { team: Team }) {
  const trpc = useTRPC();
  const refresh = useRefresh();
  const remove = useMutation(trpc.teams.removeMember.mutationOptions({ onSettled: refresh }));
  const removeError = formErrors(remove.error);
  if (team.members.length === 0)
    return <p className="px-5 py-4 text-sm text-slate-500">No members yet.</p>;
  return (
    <>
      {remove.error ? (
        <div className="px-5 pt-3">
          <Alert>{removeError.message ?? Object.values(removeError.fields)[0]}</Alert>
        </div>
      ) : null}
      <table className="mt-2 w-full text-left text-sm">
        <tbody className="divide-y divide-slate-100">
          {team.members.map((member) => (
            <tr key={member.memberId} data-testid={`member-${member.email}`}>
              <td className="py-2.5 pr-3 pl-5">
                <p className="font-medium text-slate-900">{member.name || member.email}</p>
                <p className="text-xs text-slate-500">{member.email}</p>
              </td>
              <td className="px-3 py-2.5">
                <span className="flex flex-wrap gap-1.5">
                  <Badge tone={member.role === "owner" ? "green" : "slate"}>{member.role}</Badge>
                  {member.isAdmin ? <Badge tone="indigo">admin</Badge> : null}
                </span>
              </td>
              <td className="py-2.5 pr-5 pl-3 text-right">
                <ConfirmButton
                  label={`Remove ${member.email} from ${team.name}`}
                  confirmLabel="Remove"
                  pending={remove.isPending && remove.variables?.memberId === member.memberId}
                  onConfirm={() => remove.mutate({ team: team.slug, memberId: member.memberId })}
                >
                  Remove
                </ConfirmButton>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function AddMemberForm({ team }: { team: Team }) {
  const trpc = useTRPC();
  const refresh = useRefresh();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<"member" | "owner">("member");
  const [created, setCreated] = useState<{ email: string; password: string }>();
  const add = useMutation(
    trpc.teams.addMember.mutationOptions({
      onSuccess: async (result) => {
        setEmail("");
        setRole("member");
        setCreated(
          result.password ? { email: result.user.email, password: result.password } : undefined,
        );
        await refresh();
      },
    }),
  );
  const errors = formErrors(add.error);
  const id = `member-email-${team.slug}`;
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    setCreated(undefined);
    add.mutate({ team: team.slug, email, role });
  };
  return (
    <div className="border-t border-slate-100 px-5 py-4">
      {created ? <NewPassword {...created} onDismiss={() => setCreated(undefined)} /> : null}
      {errors.message ? (
        <div className="mb-3">
          <Alert>{errors.message}</Alert>
        </div>
      ) : null}
      <form
        onSubmit={onSubmit}
        className="flex flex-wrap items-start gap-2"
        aria-label={`Add a member to ${team.name}`}
      >
        <Field
          id={id}
          label="Add a member by email"
          className="min-w-56 flex-1"
          hint="Without an account for this email, one is created with a generated password."
          error={fieldMessage("Email", errors.fields.email ?? errors.fields.team)}
        >
          <Input
            id={id}
            type="email"
            value={email}
            required
            placeholder="name@example.com"
            aria-invalid={errors.fields.email ? true : undefined}
            onChange={(event) => setEmail(event.target.value)}
          />
        </Field>
        <Field id={`member-role-${team.slug}`} label="Role" className="w-32">
          <Select
            id={`member-role-${team.slug}`}
            value={role}
            onChange={(event) => setRole(event.target.value as "member" | "owner")}
          >
            <option value="member">member</option>
            <option value="owner">owner</option>
          </Select>
        </Field>
        <Button type="submit" className="mt-7" disabled={add.isPending}>
          {add.isPending ? "Adding…" : "Add"}
        </Button>
      </form>
    </div>
  );
}

/** The one time a new account's password is shown: to the admin, to pass on. */
function NewPassword({
  email,
  password,
  onDismiss,
}: {
  email: string;
  password: string;
  onDismiss: () => void;
}) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="mb-4 rounded-lg bg-emerald-50 p-4 ring-1 ring-emerald-600/20" role="status">
      <div className="flex items-start gap-3">
        <KeyIcon className="mt-0.5 size-5 shrink-0 text-emerald-600" />
        <div className="min-w-0 flex-1 text-sm text-emerald-900">
          <p className="font-medium">Account created for {email}</p>
          <p className="mt-1">
            Give them this password; it is shown only now and cannot be read again.
          </p>
          <div className="mt-3 flex flex-wrap items-center gap-2">
            <code
              data-testid="new-password"
              className="rounded-md bg-white px-2.5 py-1.5 font-mono text-sm text-slate-900 ring-1 ring-emerald-600/20 select-all"
            >
              {password}
            </code>
            <Button
              tone="secondary"
              size="sm"
              onClick={async () => {
                await navigator.clipboard?.writeText(password).catch(() => undefined);
                setCopied(true);
              }}
            >
              <CopyIcon className="size-4" />
              {copied ? "Copied" : "Copy"}
            </Button>
            <Button tone="ghost" size="sm" onClick={onDismiss}>
              Done
            </Button>
          </div>
        </div>
      </div>
    </div>
  );
}

function NamespacesList({ team }: { team: Team }) {
  const trpc = useTRPC();
  const refresh = useRefresh();
  const unbind = useMutation(trpc.teams.unbindNamespace.mutationOptions({ onSettled: refresh }));
  const errors = formErrors(unbind.error);
  if (team.namespaces.length === 0)
    return (
      <p className="px-5 py-4 text-sm text-slate-500">
        No namespaces yet: bind one to let the team use its sandboxes.
      </p>
    );
  return (
    <>
      {unbind.error ? (
        <div className="px-5 pt-3">
          <Alert>{errors.message ?? Object.values(errors.fields)[0]}</Alert>
        </div>
      ) : null}
      <ul className="mt-2 divide-y divide-slate-100">
        {team.namespaces.map((namespace) => (
          <li
            key={namespace}
            className="flex items-center justify-between gap-3 py-2 pr-5 pl-5"
            data-testid={`namespace-${namespace}`}
          >
            <span className="flex min-w-0 items-center gap-2 text-sm">
              <FolderIcon className="size-4 shrink-0 text-slate-400" />
              <span className="truncate font-mono text-slate-900">{namespace}</span>
            </span>
            <ConfirmButton
              label={`Unbind ${namespace} from ${team.name}`}
              confirmLabel="Unbind"
              pending={unbind.isPending && unbind.variables?.namespace === namespace}
              onConfirm={() => unbind.mutate({ team: team.slug, namespace })}
            >
              Unbind
            </ConfirmButton>
          </li>
        ))}
      </ul>
    </>
  );
}

function BindNamespaceForm({ team }: { team: Team }) {
  const trpc = useTRPC();
  const refresh = useRefresh();
  const [namespace, setNamespace] = useState("");
  const bind = useMutation(
    trpc.teams.bindNamespace.mutationOptions({
      onSuccess: async () => {
        setNamespace("");
        await refresh();
      },
    }),
  );
  const errors = formErrors(bind.error);
  const id = `bind-namespace-${team.slug}`;
  return (
    <div className="border-t border-slate-100 px-5 py-4">
      {errors.message ? (
        <div className="mb-3">
          <Alert>{errors.message}</Alert>
        </div>
      ) : null}
      <form
        className="flex items-start gap-2"
        aria-label={`Bind a namespace to ${team.name}`}
        onSubmit={(event) => {
          event.preventDefault();
          bind.mutate({ team: team.slug, namespace });
        }}
      >
        <Field
          id={id}
          label="Bind a namespace"
          className="min-w-0 flex-1"
          hint="An existing namespace; its sandboxes become the team's."
          error={fieldMessage("Namespace", errors.fields.namespace ?? errors.fields.team)}
        >
          <Input
            id={id}
            value={namespace}
            required
            placeholder="ml-dev"
            className="font-mono"
            aria-invalid={errors.fields.namespace ? true : undefined}
            onChange={(event) => setNamespace(event.target.value)}
          />
        </Field>
        <Button type="submit" tone="secondary" className="mt-7" disabled={bind.isPending}>
          {bind.isPending ? "Binding…" : "Bind"}
        </Button>
      </form>
    </div>
  );
}

function UsersCard({ users, currentUserId }: { users: User[]; currentUserId: string }) {
  const trpc = useTRPC();
  const refresh = useRefresh();
  const setAdmin = useMutation(trpc.users.setAdmin.mutationOptions({ onSettled: refresh }));
  const errors = formErrors(setAdmin.error);
  return (
    <Card>
      <CardHeader
        title="Users"
        description="Platform admins manage teams and users, may use every sandbox, and act as turgon:admins in Kubernetes."
      />
      {setAdmin.error ? (
        <div className="px-5 pt-4">
          <Alert>{errors.message ?? Object.values(errors.fields)[0]}</Alert>
        </div>
      ) : null}
      <table className="w-full text-left text-sm">
        <thead className="text-xs font-medium whitespace-nowrap uppercase tracking-wide text-slate-500">
          <tr>
            <th className="px-5 py-3">User</th>
            <th className="px-5 py-3">Teams</th>
            <th className="px-5 py-3">SSH keys</th>
            <th className="px-5 py-3">Role</th>
            <th className="px-5 py-3">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {users.map((user) => (
            <tr key={user.id} data-testid={`user-${user.email}`}>
              <td className="px-5 py-3">
                <p className="font-medium text-slate-900">{user.name || user.email}</p>
                <p className="text-xs whitespace-nowrap text-slate-500">{user.email}</p>
              </td>
              <td className="px-5 py-3">
                {user.teams.length === 0 ? (
                  <span className="text-slate-400">—</span>
                ) : (
                  <span className="flex flex-wrap gap-1.5">
                    {user.teams.map((t) => (
                      <span
                        key={t.slug}
                        className="inline-flex items-center gap-1 rounded-md bg-slate-50 px-1.5 py-0.5 font-mono text-xs text-slate-700 ring-1 ring-inset ring-slate-200"
                      >
                        {t.slug}
                        {t.role === "owner" ? (
                          <span className="font-sans text-[0.6875rem] text-emerald-700">owner</span>
                        ) : null}
                      </span>
                    ))}
                  </span>
                )}
              </td>
              <td className="px-5 py-3 text-slate-600 tabular-nums">{user.sshKeys}</td>
              <td className="px-5 py-3 whitespace-nowrap">
                {user.isAdmin ? (
                  <Badge tone="indigo">
                    <ShieldIcon className="mr-1 size-3.5" />
                    Platform admin
                  </Badge>
                ) : (
                  <Badge>User</Badge>
                )}
                {user.banned ? (
                  <span className="ml-1.5">
                    <Badge tone="amber">banned</Badge>
                  </span>
                ) : null}
              </td>
              <td className="px-5 py-3 text-right">
                {user.id === currentUserId ? (
                  <span className="text-xs text-slate-400">you</span>
                ) : user.isAdmin ? (
                  <ConfirmButton
                    label={`Remove admin role from ${user.email}`}
                    confirmLabel="Remove admin"
                    pending={setAdmin.isPending && setAdmin.variables?.userId === user.id}
                    onConfirm={() => setAdmin.mutate({ userId: user.id, admin: false })}
                  >
                    Remove admin
                  </ConfirmButton>
                ) : (
                  <Button
                    tone="secondary"
                    size="sm"
                    aria-label={`Make ${user.email} a platform admin`}
                    disabled={setAdmin.isPending && setAdmin.variables?.userId === user.id}
                    onClick={() => setAdmin.mutate({ userId: user.id, admin: true })}
                  >
                    Make admin
                  </Button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}
