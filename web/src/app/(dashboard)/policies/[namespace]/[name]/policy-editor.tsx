"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useEffect, useMemo, useState } from "react";
import { PlusIcon, XMarkIcon } from "~/components/action-icons";
import { Alert, Button, CardHeader, Input, Select, Textarea } from "~/components/form";
import { Badge, Card, PageHeader } from "~/components/page";
import { DiffView } from "~/components/policy/diff-view";
import {
  clientIssues,
  type FieldErrors,
  fromYaml,
  METHODS,
  retryUnlessRefused,
  type SecretRow,
  type Spec,
  secretsOf,
  strings,
  toYaml,
  withField,
} from "~/lib/policy-form";
import { useTRPC } from "~/trpc/react";

interface ConflictData {
  resourceVersion: string;
  spec: Spec;
  yaml: string;
  theirDiff: string;
  by: { email: string; at: string; reason: string | null } | null;
}

interface ServerIssue {
  field: string;
  message: string;
  source: "schema" | "apiserver";
}

function errorData(error: unknown): {
  fieldErrors: FieldErrors;
  conflict: ConflictData | null;
  code?: string;
} {
  const data = (
    error as {
      data?: {
        code?: string;
        zodError?: { fieldErrors?: FieldErrors } | null;
        conflict?: ConflictData | null;
      };
    }
  ).data;
  return {
    fieldErrors: data?.zodError?.fieldErrors ?? {},
    conflict: data?.conflict ?? null,
    ...(data?.code ? { code: data.code } : {}),
  };
}

function FieldError({ field, errors }: { field: string; errors: FieldErrors }) {
  const messages = errors[field];
  if (!messages?.length) return null;
  return (
    <p
      className="mt-1 text-sm text-red-600"
      data-testid={`error-${field}`}
      data-field-error={field}
    >
      {messages.join("; ")}
    </p>
  );
}

/** A list of strings edited row by row (hosts, CIDRs). */
function StringList({
  field,
  values,
  onChange,
  errors,
  placeholder,
  testId,
  disabled,
}: {
  field: string;
  values: string[];
  onChange: (next: string[]) => void;
  errors: FieldErrors;
  placeholder: string;
  testId: string;
  disabled: boolean;
}) {
  return (
    <div className="space-y-2">
      {values.map((value, i) => {
        const key = `${field}[${i}]`;
        return (
          // biome-ignore lint/suspicious/noArrayIndexKey: rows are positional, as the API server's field paths are
          <div key={i}>
            <div className="flex gap-2">
              <Input
                value={value}
                placeholder={placeholder}
                aria-invalid={errors[key] ? true : undefined}
                data-testid={`${testId}-${i}`}
                disabled={disabled}
                onChange={(e) => onChange(values.map((v, j) => (j === i ? e.target.value : v)))}
              />
              <Button
                tone="ghost"
                aria-label="Remove"
                data-testid={`remove-${testId}-${i}`}
                disabled={disabled}
                onClick={() => onChange(values.filter((_, j) => j !== i))}
              >
                <XMarkIcon className="size-4" />
              </Button>
            </div>
            <FieldError field={key} errors={errors} />
          </div>
        );
      })}
      <Button
        tone="secondary"
        size="sm"
        data-testid={`add-${testId}`}
        disabled={disabled}
        onClick={() => onChange([...values, ""])}
      >
        <PlusIcon className="mr-1 size-3.5" /> Add
      </Button>
      <FieldError field={field} errors={errors} />
    </div>
  );
}

function Section({
  title,
  hint,
  children,
}: {
  title: string;
  hint?: string;
  children: React.ReactNode;
}) {
  return (
    <div className="grid gap-3 px-5 py-4 sm:grid-cols-3">
      <div>
        <h3 className="text-sm font-medium text-slate-900">{title}</h3>
        {hint ? <p className="mt-0.5 text-xs text-slate-500">{hint}</p> : null}
      </div>
      <div className="sm:col-span-2">{children}</div>
    </div>
  );
}

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

  const [spec, setSpec] = useState<Spec | null>(null);
  const [loaded, setLoaded] = useState<{ resourceVersion: string; spec: Spec } | null>(null);
  const [view, setView] = useState<"form" | "yaml">("form");
  const [yamlText, setYamlText] = useState("");
  const [yamlError, setYamlError] = useState<string | null>(null);
  const [serverIssues, setServerIssues] = useState<ServerIssue[] | null>(null);
  const [serverErrors, setServerErrors] = useState<FieldErrors>({});
  const [reason, setReason] = useState("");
  const [conflict, setConflict] = useState<ConflictData | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  // The loaded version becomes the editor's starting point (again after a reload).
  useEffect(() => {
    if (
      current.data &&
      (!loaded || loaded.resourceVersion !== current.data.resourceVersion) &&
      !spec
    ) {
      const s = current.data.spec as Spec;
      setSpec(s);
      setLoaded({ resourceVersion: current.data.resourceVersion, spec: s });
      setYamlText(toYaml(s));
    }
  }, [current.data, loaded, spec]);

  const validate = useMutation(trpc.policies.validate.mutationOptions());
  const preview = useMutation(trpc.policies.preview.mutationOptions());
  const save = useMutation(trpc.policies.save.mutationOptions());

  const local = useMemo(() => (spec ? clientIssues(spec) : {}), [spec]);
  const errors: FieldErrors = useMemo(() => {
    const merged: FieldErrors = { ...serverErrors };
    for (const [k, v] of Object.entries(local))
      merged[k] = [...new Set([...(merged[k] ?? []), ...v])];
    return merged;
  }, [local, serverErrors]);

  if (current.isPending) return <p className="text-sm text-slate-500">Loading policy…</p>;
  if (current.error)
    return (
      <Alert title="This policy cannot be read">
        <span data-testid="policy-error">{current.error.message}</span>
      </Alert>
    );
  if (!spec || !loaded) return null;
  const canEdit = current.data.canEdit;
  const disabled = !canEdit;

  const edit = (next: Spec) => {
    setSpec(next);
    setServerIssues(null);
    setServerErrors({});
    setSaved(null);
    preview.reset();
  };
  const set = (field: string, value: unknown) => edit(withField(spec, field, value));

  const switchTo = (next: "form" | "yaml") => {
    if (next === view) return;
    if (next === "yaml") {
      setYamlText(toYaml(spec));
      setYamlError(null);
      setView("yaml");
      return;
    }
    const parsed = fromYaml(yamlText);
    if ("error" in parsed) {
      setYamlError(parsed.error);
      return;
    }
    edit(parsed.spec);
    setYamlError(null);
    setView("form");
  };
  /** The rules being edited, from the YAML text when that view is open; null (and the error shown) if it does not parse. */
  const currentSpec = (): Spec | null => {
    if (view === "form") return spec;
    const parsed = fromYaml(yamlText);
    if ("error" in parsed) {
      setYamlError(parsed.error);
      return null;
    }
    setYamlError(null);
    edit(parsed.spec);
    return parsed.spec;
  };

  const onCheck = async () => {
    const s = currentSpec();
    if (!s) return;
    setFailure(null);
    try {
      const result = await validate.mutateAsync({ namespace, name, spec: s });
      setServerIssues(result.issues);
      const byField: FieldErrors = {};
      for (const issue of result.issues)
        byField[issue.field] = [
          ...(byField[issue.field] ?? []),
          issue.source === "apiserver" ? `${issue.message} (API server)` : issue.message,
        ];
      setServerErrors(byField);
    } catch (error) {
      setFailure((error as Error).message);
    }
  };

  const onReview = async () => {
    const s = currentSpec();
    if (!s) return;
    setFailure(null);
    if (Object.keys(clientIssues(s)).length > 0) {
      setFailure("Fix the fields marked in red first.");
      return;
    }
    try {
      await preview.mutateAsync({
        namespace,
        name,
        spec: s,
        resourceVersion: loaded.resourceVersion,
      });
    } catch (error) {
      setFailure((error as Error).message);
    }
  };

  const onSave = async () => {
    const s = currentSpec();
    if (!s) return;
    setFailure(null);
    setConflict(null);
    try {
      const result = await save.mutateAsync({
        namespace,
        name,
        spec: s,
        resourceVersion: loaded.resourceVersion,
        loadedSpec: loaded.spec,
        reason: reason.trim() || null,
      });
      setLoaded({ resourceVersion: result.resourceVersion, spec: s });
      setSaved(result.resourceVersion);
      setReason("");
      preview.reset();
      await queryClient.invalidateQueries({ queryKey: trpc.policies.pathKey() });
    } catch (error) {
      const data = errorData(error);
      if (data.conflict) setConflict(data.conflict);
      else if (Object.keys(data.fieldErrors).length > 0) {
        setServerErrors(data.fieldErrors);
        setFailure((error as Error).message);
      } else setFailure((error as Error).message);
    }
  };

  const onReload = async () => {
    const fresh = await queryClient
      .fetchQuery({ ...getOptions, staleTime: 0 })
      .catch((error: unknown) => {
        setFailure((error as Error).message);
        return undefined;
      });
    if (!fresh) return;
    // The conflict notice goes only once their version is in the editor.
    setConflict(null);
    setSaved(null);
    preview.reset();
    const s = fresh.spec as Spec;
    setLoaded({ resourceVersion: fresh.resourceVersion, spec: s });
    setSpec(s);
    setYamlText(toYaml(s));
    setServerErrors({});
    setServerIssues(null);
  };

  const hosts = strings(spec.allowedHosts);
  const cidrs = strings(spec.deniedCIDRs);
  const methods = strings(spec.deniedMethods);
  const dnsMode = (spec.dns as { mode?: string } | undefined)?.mode ?? "";
  const secretRows = secretsOf(spec);
  const setSecrets = (rows: SecretRow[]) => set("secrets", rows);
  const available = secrets.data?.secrets ?? [];
  const otherIssues = Object.entries(errors).filter(
    ([field]) =>
      !/^spec\.(allowedHosts|deniedCIDRs)\[\d+\]$/.test(field) &&
      !/^spec\.secrets\[\d+\]\.(name|hosts|secretKeyRef)/.test(field),
  );

  return (
    <div
      className="space-y-6"
      data-testid="policy-editor"
      data-resource-version={loaded.resourceVersion}
    >
      <PageHeader
        title={name}
        description={
          <>
            SandboxPolicy in <span className="font-medium">{namespace}</span> · version{" "}
            {loaded.resourceVersion} · used by {current.data.reaches.length} sandbox
            {current.data.reaches.length === 1 ? "" : "es"}
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
      {!canEdit ? (
        <Alert tone="warning" title="Read-only">
          <span data-testid="readonly-notice">
            Only the team's owners and platform admins may change this policy. You can still check
            rules here.
          </span>
        </Alert>
      ) : null}
      {saved ? (
        <div className="rounded-md bg-emerald-50 p-3 text-sm text-emerald-800" data-testid="saved">
          Saved as version {saved}. Running sandboxes that use it get the change live.
        </div>
      ) : null}
      {conflict ? (
        <div
          data-testid="conflict"
          className="space-y-3 rounded-md bg-amber-50 p-4 text-sm text-amber-900"
        >
          <p className="font-medium">
            {conflict.by
              ? `${conflict.by.email} saved this policy after you loaded it${conflict.by.reason ? ` (“${conflict.by.reason}”)` : ""}.`
              : "This policy changed after you loaded it."}{" "}
            Nothing was overwritten. Their change:
          </p>
          <DiffView diff={conflict.theirDiff} testId="conflict-diff" />
          <div className="flex gap-2">
            <Button data-testid="reload" onClick={onReload}>
              Reload their version
            </Button>
          </div>
        </div>
      ) : null}
      {failure ? (
        <Alert title="Not saved">
          <span data-testid="failure">{failure}</span>
        </Alert>
      ) : null}

      <Card>
        <CardHeader
          title="Rules"
          description="Default-deny: only the hosts listed here are reachable."
          actions={
            <div className="inline-flex rounded-md ring-1 ring-slate-300" role="tablist">
              {(["form", "yaml"] as const).map((v) => (
                <button
                  key={v}
                  type="button"
                  role="tab"
                  aria-selected={view === v}
                  data-testid={`view-${v}`}
                  onClick={() => switchTo(v)}
                  className={`px-3 py-1 text-xs font-medium ${view === v ? "bg-indigo-600 text-white" : "bg-white text-slate-700 hover:bg-slate-50"} first:rounded-l-md last:rounded-r-md`}
                >
                  {v === "form" ? "Form" : "YAML"}
                </button>
              ))}
            </div>
          }
        />
        {view === "yaml" ? (
          <div className="space-y-2 px-5 py-4">
            <Textarea
              rows={18}
              spellCheck={false}
              className="font-mono text-xs"
              data-testid="yaml-editor"
              aria-invalid={yamlError ? true : undefined}
              value={yamlText}
              disabled={disabled}
              onChange={(e) => {
                setYamlText(e.target.value);
                setYamlError(null);
              }}
            />
            {yamlError ? (
              <p className="text-sm text-red-600" data-testid="yaml-error">
                {yamlError}
              </p>
            ) : null}
            {Object.keys(errors).length > 0 ? (
              <ul className="space-y-1 text-sm text-red-600" data-testid="yaml-issues">
                {Object.entries(errors).map(([field, messages]) => (
                  <li key={field} data-testid={`error-${field}`}>
                    <code className="font-mono text-xs">{field}</code>: {messages.join("; ")}
                  </li>
                ))}
              </ul>
            ) : null}
          </div>
        ) : (
          <div className="divide-y divide-slate-100">
            <Section title="Allowed hosts" hint="Names, *.domain wildcards, or * for any.">
              <StringList
                field="spec.allowedHosts"
                values={hosts}
                onChange={(v) => set("allowedHosts", v)}
                errors={errors}
                placeholder="api.example.com or *.example.com"
                testId="host"
                disabled={disabled}
              />
            </Section>
            <Section title="Denied methods" hint="HTTP methods refused even to allowed hosts.">
              <div className="flex flex-wrap gap-3">
                {METHODS.map((m) => (
                  <label key={m} className="flex items-center gap-1.5 text-sm text-slate-700">
                    <input
                      type="checkbox"
                      data-testid={`method-${m}`}
                      checked={methods.includes(m)}
                      disabled={disabled}
                      onChange={(e) =>
                        set(
                          "deniedMethods",
                          e.target.checked
                            ? METHODS.filter((x) => x === m || methods.includes(x))
                            : methods.filter((x) => x !== m),
                        )
                      }
                    />
                    {m}
                  </label>
                ))}
              </div>
              <FieldError field="spec.deniedMethods" errors={errors} />
            </Section>
            <Section title="Denied CIDRs" hint="Address ranges refused after DNS, e.g. 10.0.0.0/8.">
              <StringList
                field="spec.deniedCIDRs"
                values={cidrs}
                onChange={(v) => set("deniedCIDRs", v)}
                errors={errors}
                placeholder="10.0.0.0/8"
                testId="cidr"
                disabled={disabled}
              />
            </Section>
            <Section title="DNS and WebSockets">
              <div className="flex flex-wrap items-center gap-6">
                <label
                  htmlFor="dns-mode"
                  className="flex items-center gap-2 text-sm text-slate-700"
                >
                  DNS
                  <Select
                    id="dns-mode"
                    className="max-w-48"
                    data-testid="dns-mode"
                    value={dnsMode}
                    disabled={disabled}
                    onChange={(e) =>
                      set("dns", e.target.value ? { mode: e.target.value } : undefined)
                    }
                  >
                    <option value="">default (synthetic)</option>
                    <option value="synthetic">synthetic</option>
                    <option value="trusted">trusted</option>
                  </Select>
                </label>
                <label className="flex items-center gap-2 text-sm text-slate-700">
                  <input
                    type="checkbox"
                    data-testid="websockets"
                    checked={spec.websockets === true}
                    disabled={disabled}
                    onChange={(e) => set("websockets", e.target.checked ? true : undefined)}
                  />
                  Allow WebSockets
                </label>
              </div>
              <FieldError field="spec.dns.mode" errors={errors} />
            </Section>
            <Section
              title="Mode"
              hint="Report lets hosts off the list through and audits them as would-deny."
            >
              <Select
                className="max-w-48"
                data-testid="mode"
                value={(spec.mode as string | undefined) ?? "enforce"}
                disabled={disabled}
                onChange={(e) =>
                  set("mode", e.target.value === "enforce" ? undefined : e.target.value)
                }
              >
                <option value="enforce">enforce</option>
                <option value="report">report</option>
              </Select>
            </Section>
            <Section
              title="Secrets"
              hint="Injectable Secrets only. The guest sees a placeholder; the value goes only to the listed hosts and never to your browser."
            >
              <div className="space-y-3">
                {secretRows.map((row, i) => {
                  const keys = available.find((s) => s.name === row.secretKeyRef.name)?.keys ?? [];
                  const update = (next: Partial<SecretRow>) =>
                    setSecrets(secretRows.map((r, j) => (j === i ? { ...r, ...next } : r)));
                  return (
                    <div
                      // biome-ignore lint/suspicious/noArrayIndexKey: rows are positional
                      key={i}
                      className="rounded-md p-3 ring-1 ring-slate-200"
                      data-testid={`secret-row-${i}`}
                    >
                      <div className="grid gap-2 sm:grid-cols-3">
                        <div>
                          <Input
                            placeholder="ENV_NAME"
                            value={row.name}
                            data-testid={`secret-env-${i}`}
                            disabled={disabled}
                            aria-invalid={errors[`spec.secrets[${i}].name`] ? true : undefined}
                            onChange={(e) => update({ name: e.target.value })}
                          />
                          <FieldError field={`spec.secrets[${i}].name`} errors={errors} />
                        </div>
                        <div>
                          <Select
                            value={row.secretKeyRef.name}
                            data-testid={`secret-name-${i}`}
                            disabled={disabled}
                            onChange={(e) =>
                              update({ secretKeyRef: { name: e.target.value, key: "" } })
                            }
                          >
                            <option value="">Secret…</option>
                            {row.secretKeyRef.name &&
                            !available.some((s) => s.name === row.secretKeyRef.name) ? (
                              <option value={row.secretKeyRef.name}>{row.secretKeyRef.name}</option>
                            ) : null}
                            {available.map((s) => (
                              <option key={s.name} value={s.name}>
                                {s.name}
                              </option>
                            ))}
                          </Select>
                          <FieldError
                            field={`spec.secrets[${i}].secretKeyRef.name`}
                            errors={errors}
                          />
                        </div>
                        <div>
                          <Select
                            value={row.secretKeyRef.key}
                            data-testid={`secret-key-${i}`}
                            disabled={disabled}
                            onChange={(e) =>
                              update({ secretKeyRef: { ...row.secretKeyRef, key: e.target.value } })
                            }
                          >
                            <option value="">Key…</option>
                            {row.secretKeyRef.key && !keys.includes(row.secretKeyRef.key) ? (
                              <option value={row.secretKeyRef.key}>{row.secretKeyRef.key}</option>
                            ) : null}
                            {keys.map((k) => (
                              <option key={k} value={k}>
                                {k}
                              </option>
                            ))}
                          </Select>
                          <FieldError
                            field={`spec.secrets[${i}].secretKeyRef.key`}
                            errors={errors}
                          />
                        </div>
                      </div>
                      <div className="mt-2 flex gap-2">
                        <Input
                          placeholder="hosts it may go to, comma-separated"
                          value={row.hosts.join(", ")}
                          data-testid={`secret-hosts-${i}`}
                          disabled={disabled}
                          onChange={(e) =>
                            update({
                              hosts: e.target.value
                                .split(",")
                                .map((h) => h.trim())
                                .filter((h, k, all) => h !== "" || k === all.length - 1),
                            })
                          }
                        />
                        <Button
                          tone="ghost"
                          aria-label="Remove secret"
                          data-testid={`remove-secret-${i}`}
                          disabled={disabled}
                          onClick={() => setSecrets(secretRows.filter((_, j) => j !== i))}
                        >
                          <XMarkIcon className="size-4" />
                        </Button>
                      </div>
                      {Object.entries(errors)
                        .filter(([f]) => f.startsWith(`spec.secrets[${i}].hosts`))
                        .map(([f, m]) => (
                          <p
                            key={f}
                            className="mt-1 text-sm text-red-600"
                            data-testid={`error-${f}`}
                          >
                            {m.join("; ")}
                          </p>
                        ))}
                    </div>
                  );
                })}
                <Button
                  tone="secondary"
                  size="sm"
                  data-testid="add-secret"
                  disabled={disabled}
                  onClick={() =>
                    setSecrets([
                      ...secretRows,
                      { name: "", hosts: [], secretKeyRef: { name: "", key: "" } },
                    ])
                  }
                >
                  <PlusIcon className="mr-1 size-3.5" /> Add secret
                </Button>
                {secrets.error ? (
                  <p className="text-xs text-slate-500">
                    Secrets cannot be listed: {secrets.error.message}
                  </p>
                ) : null}
              </div>
            </Section>
            {otherIssues.length > 0 ? (
              <div className="px-5 py-3">
                <ul className="space-y-1 text-sm text-red-600">
                  {otherIssues
                    .filter(([field]) => !/^spec\.(deniedMethods|dns\.mode)$/.test(field))
                    .map(([field, messages]) => (
                      <li key={field} data-testid={`error-${field}`}>
                        <code className="font-mono text-xs">{field || "spec"}</code>:{" "}
                        {messages.join("; ")}
                      </li>
                    ))}
                </ul>
              </div>
            ) : null}
          </div>
        )}
        <div className="flex flex-wrap items-center gap-2 border-t border-slate-200 px-5 py-3">
          <Button
            tone="secondary"
            data-testid="check"
            onClick={onCheck}
            disabled={validate.isPending}
          >
            {validate.isPending ? "Checking…" : "Check with the API server"}
          </Button>
          <Button data-testid="review" onClick={onReview} disabled={disabled || preview.isPending}>
            Review changes
          </Button>
          {serverIssues ? (
            <span className="text-sm" data-testid="check-result">
              {serverIssues.length === 0 ? (
                <Badge tone="green">The API server accepts these rules</Badge>
              ) : (
                <Badge tone="amber">
                  {serverIssues.length} issue{serverIssues.length === 1 ? "" : "s"}
                </Badge>
              )}
            </span>
          ) : null}
        </div>
      </Card>

      {preview.data && !conflict ? (
        <Card>
          <CardHeader
            title="Review"
            description={
              preview.data.stale
                ? "The policy changed on the server since you loaded it: saving will be refused."
                : "Against the current version."
            }
          />
          <div className="space-y-4 px-5 py-4">
            <DiffView diff={preview.data.diff} testId="preview-diff" />
            <div data-testid="preview-reaches">
              <h3 className="text-sm font-medium text-slate-900">Sandboxes this reaches</h3>
              {preview.data.reaches.length === 0 ? (
                <p className="mt-1 text-sm text-slate-500">No sandbox uses this policy.</p>
              ) : (
                <ul className="mt-1 space-y-1 text-sm text-slate-700">
                  {preview.data.reaches.map((r) => (
                    <li key={r.name} data-testid={`reach-${r.name}`}>
                      <span className="font-medium">{r.name}</span>{" "}
                      <Badge tone={r.phase === "Running" ? "green" : "slate"}>{r.phase}</Badge>{" "}
                      <span className="text-slate-500">
                        {r.phase === "Running" ? "gets it live" : "on its next start"}
                        {r.via === "template" ? " (through its template)" : ""}
                      </span>
                    </li>
                  ))}
                </ul>
              )}
            </div>
            <div className="flex flex-wrap items-end gap-2">
              <div className="min-w-64 flex-1">
                <label htmlFor="reason" className="block text-sm font-medium text-slate-900">
                  Reason (optional)
                </label>
                <Input
                  id="reason"
                  className="mt-1.5"
                  data-testid="reason"
                  value={reason}
                  onChange={(e) => setReason(e.target.value)}
                  placeholder="Why this change"
                />
              </div>
              <Button data-testid="save" onClick={onSave} disabled={disabled || save.isPending}>
                {save.isPending ? "Saving…" : "Save"}
              </Button>
            </div>
          </div>
        </Card>
      ) : null}
    </div>
  );
}
