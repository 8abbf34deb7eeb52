"use client";

import { useSuspenseQuery } from "@tanstack/react-query";
import { Badge, Card } from "~/components/page";
import { useTRPC } from "~/trpc/react";

const dateFormat = new Intl.DateTimeFormat("en", { dateStyle: "medium" });

export function ProfileDetails() {
  const trpc = useTRPC();
  const { data: me } = useSuspenseQuery(trpc.me.get.queryOptions());
  const { data: teams } = useSuspenseQuery(trpc.me.teams.queryOptions());
  return (
    <div className="grid gap-6 lg:grid-cols-3">
      <Card className="lg:col-span-1">
        <div className="border-b border-slate-200 px-5 py-4">
          <h2 className="text-sm font-semibold text-slate-900">Account</h2>
        </div>
        <dl className="divide-y divide-slate-100 text-sm">
          <Row label="Name">{me.user.name || "—"}</Row>
          <Row label="Email">
            <span data-testid="profile-email">{me.user.email}</span>
          </Row>
          <Row label="Role">
            {me.isAdmin ? <Badge tone="indigo">Platform admin</Badge> : <Badge>User</Badge>}
          </Row>
        </dl>
      </Card>
      <Card className="lg:col-span-2">
        <div className="border-b border-slate-200 px-5 py-4">
          <h2 className="text-sm font-semibold text-slate-900">Teams</h2>
        </div>
        {teams.length === 0 ? (
          <p className="px-5 py-6 text-sm text-slate-500">
            You are not in any team yet; a platform admin can add you.
          </p>
        ) : (
          <table className="w-full text-left text-sm">
            <thead className="text-xs font-medium uppercase tracking-wide text-slate-500">
              <tr>
                <th className="px-5 py-3">Team</th>
                <th className="px-5 py-3">Role</th>
                <th className="px-5 py-3">Joined</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {teams.map((team) => (
                <tr key={team.slug} data-testid={`profile-team-${team.slug}`}>
                  <td className="px-5 py-3">
                    <span className="font-medium text-slate-900">{team.name}</span>
                    <span className="ml-2 font-mono text-xs text-slate-500">{team.slug}</span>
                  </td>
                  <td className="px-5 py-3">
                    <Badge tone={team.role === "owner" ? "green" : "slate"}>{team.role}</Badge>
                  </td>
                  <td className="px-5 py-3 text-slate-500">{dateFormat.format(team.joinedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}

function Row({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div className="flex items-center justify-between gap-4 px-5 py-3">
      <dt className="text-slate-500">{label}</dt>
      <dd className="truncate text-right font-medium text-slate-900">{children}</dd>
    </div>
  );
}
