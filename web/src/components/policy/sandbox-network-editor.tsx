"use client";
/**
 * A sandbox's own network rules (spec.network) in its Network tab: which
 * SandboxPolicy of the namespace it references, and its inline rules on top,
 * in the shared rules editor. Saves write spec.network alone; a concurrent
 * edit of it (not the operator's status writes) is a conflict showing the
 * other person's change. After a save the effective view refreshes.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, Select } from "~/components/form";
import { retryUnlessRefused, type Spec } from "~/lib/policy-form";
import { useTRPC } from "~/trpc/react";
import { NETWORK_PREFIX, networkClientIssues } from "./network-issues";
import { type LoadedRules, RulesEditor, type RulesEditorActions } from "./rules-editor";
import { FieldError, Section } from "./rules-form";

export function SandboxNetworkEditor({ namespace, name }: { namespace: string; name: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const getOptions = trpc.sandboxNetwork.get.queryOptions({ namespace, name });
  const current = useQuery({ ...getOptions, retry: retryUnlessRefused });
  const secrets = useQuery({
    ...trpc.policies.injectableSecrets.queryOptions({ namespace }),
    enabled: current.data?.canEdit === true,
    retry: false,
  });
  const validate = useMutation(trpc.sandboxNetwork.validate.mutationOptions());
  const preview = useMutation(trpc.sandboxNetwork.preview.mutationOptions());
  const save = useMutation(trpc.sandboxNetwork.save.mutationOptions());

  if (current.isPending) return <p className="text-sm text-slate-500">Loading network rules…</p>;
  if (current.error)
    return (
      <Alert title="This sandbox's network rules cannot be read">
        <span data-testid="network-error">{current.error.message}</span>
      </Alert>
    );
  const policies = current.data.policies;
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.sandboxNetwork.pathKey() });

  const actions: RulesEditorActions = {
    validate: (network) => validate.mutateAsync({ namespace, name, network }),
    preview: (network, loaded) =>
      preview.mutateAsync({ namespace, name, network, loadedNetwork: loaded.spec }),
    save: async (network, loaded, reason) => {
      const result = await save.mutateAsync({
        namespace,
        name,
        network,
        loadedNetwork: loaded.spec,
        reason,
      });
      await refresh();
      return { version: String(result.generation), spec: result.network as Spec };
    },
    reload: async (): Promise<LoadedRules> => {
      const fresh = await queryClient.fetchQuery({ ...getOptions, staleTime: 0 });
      // Their version shows in the effective view and history too.
      await refresh();
      return { version: String(fresh.generation), spec: fresh.network as Spec };
    },
  };

  return (
    <RulesEditor
      initial={{ version: String(current.data.generation), spec: current.data.network as Spec }}
      prefix={NETWORK_PREFIX}
      canEdit={current.data.canEdit}
      clientIssues={networkClientIssues}
      actions={actions}
      secrets={{ available: secrets.data?.secrets ?? [], error: secrets.error?.message }}
      title="This sandbox's own rules"
      description="spec.network: a SandboxPolicy, and inline rules on top of it. A field set here replaces the policy's whole."
      testId="network-editor"
      texts={{
        subject: "this sandbox's network rules",
        it: "them",
        saved: () => (
          <>Saved. A running sandbox gets the change live; the effective policy shows it.</>
        ),
        readOnly: <>Kubernetes does not let you change this sandbox.</>,
        noReach: "",
      }}
      leading={({ spec, set, errors, disabled }) => {
        const ref = (spec.policyRef as { name?: string } | undefined)?.name ?? "";
        const chosen = policies.find((p) => p.name === ref);
        return (
          <Section
            title="SandboxPolicy"
            hint="The namespace's policy this sandbox starts from; its inline rules go on top."
          >
            <Select
              className="max-w-72"
              data-testid="policy-ref"
              value={ref}
              disabled={disabled}
              onChange={(e) =>
                set("policyRef", e.target.value ? { name: e.target.value } : undefined)
              }
            >
              <option value="">none (inline rules only)</option>
              {ref && !chosen ? <option value={ref}>{ref} (not found)</option> : null}
              {policies.map((p) => (
                <option key={p.name} value={p.name}>
                  {p.name}
                  {p.mode === "report" ? " (report)" : ""}
                </option>
              ))}
            </Select>
            {chosen ? (
              <p className="mt-1 text-xs text-slate-500" data-testid="policy-ref-overrides">
                {chosen.allowSandboxOverrides
                  ? "This policy lets sandboxes relax it with inline rules."
                  : "This policy allows no overrides: inline rules may only tighten it."}
              </p>
            ) : null}
            <FieldError field={`${NETWORK_PREFIX}.policyRef.name`} errors={errors} />
            <FieldError field={`${NETWORK_PREFIX}.policyRef`} errors={errors} />
          </Section>
        );
      }}
    />
  );
}
