"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { Alert } from "~/components/form";
import { PageHeader } from "~/components/page";
import {
  type LoadedRules,
  RulesEditor,
  type RulesEditorActions,
} from "~/components/policy/rules-editor";
import { clientIssues, retryUnlessRefused, type Spec } from "~/lib/policy-form";
import { useTRPC } from "~/trpc/react";

/** A SandboxPolicy's editor: the shared rules editor over `spec`, saved with the loaded resourceVersion. */
export function PolicyEditor({ namespace, name }: { namespace: string; name: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const getOptions = trpc.policies.get.queryOptions({ namespace, name });
  const current = useQuery({ ...getOptions, retry: retryUnlessRefused });
  const secrets = useQuery({
    ...trpc.policies.injectableSecrets.queryOptions({ namespace }),
    enabled: current.data?.canEdit === true,
    retry: false,
  });
  const validate = useMutation(trpc.policies.validate.mutationOptions());
  const preview = useMutation(trpc.policies.preview.mutationOptions());
  const save = useMutation(trpc.policies.save.mutationOptions());

  if (current.isPending) return <p className="text-sm text-slate-500">Loading policy…</p>;
  if (current.error)
    return (
      <Alert title="This policy cannot be read">
        <span data-testid="policy-error">{current.error.message}</span>
      </Alert>
    );
  const reaches = current.data.reaches.length;

  const actions: RulesEditorActions = {
    validate: (spec) => validate.mutateAsync({ namespace, name, spec }),
    preview: (spec, loaded) =>
      preview.mutateAsync({ namespace, name, spec, resourceVersion: loaded.version }),
    save: async (spec, loaded, reason) => {
      const result = await save.mutateAsync({
        namespace,
        name,
        spec,
        resourceVersion: loaded.version,
        loadedSpec: loaded.spec,
        reason,
      });
      await queryClient.invalidateQueries({ queryKey: trpc.policies.pathKey() });
      return { version: result.resourceVersion, spec };
    },
    reload: async (): Promise<LoadedRules> => {
      const fresh = await queryClient.fetchQuery({ ...getOptions, staleTime: 0 });
      return { version: fresh.resourceVersion, spec: fresh.spec as Spec };
    },
  };

  return (
    <RulesEditor
      initial={{ version: current.data.resourceVersion, spec: current.data.spec as Spec }}
      prefix="spec"
      canEdit={current.data.canEdit}
      clientIssues={clientIssues}
      actions={actions}
      secrets={{ available: secrets.data?.secrets ?? [], error: secrets.error?.message }}
      title="Rules"
      description="Default-deny: only the hosts listed here are reachable."
      testId="policy-editor"
      texts={{
        subject: "this policy",
        saved: (version) => (
          <>Saved as version {version}. Running sandboxes that use it get the change live.</>
        ),
        readOnly: (
          <>
            Only the team's owners and platform admins may change this policy. You can still check
            rules here.
          </>
        ),
        noReach: "No sandbox uses this policy.",
        header: (loaded) => (
          <PageHeader
            title={name}
            description={
              <>
                SandboxPolicy in <span className="font-medium">{namespace}</span> · version{" "}
                {loaded.version} · used by {reaches} sandbox{reaches === 1 ? "" : "es"}
              </>
            }
            actions={
              <Link
                href={`/policies/${namespace}/${name}/history`}
                data-testid="history-link"
                className="text-sm font-medium text-indigo-600 hover:text-indigo-500"
              >
                History
              </Link>
            }
          />
        ),
      }}
    />
  );
}
