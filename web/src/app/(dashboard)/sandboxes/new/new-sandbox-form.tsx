"use client";

import { useMutation, useQuery, useSuspenseQuery } from "@tanstack/react-query";
import { API_VERSION, Sandbox } from "@turgon/api/crd";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { type FormEvent, type ReactNode, useState } from "react";
import { PlusIcon, XMarkIcon } from "~/components/action-icons";
import { AlertIcon } from "~/components/icons";
import { Card, Code } from "~/components/page";
import { useTRPC } from "~/trpc/react";

const inputClass =
  "block w-full rounded-md bg-white px-3 py-1.5 text-sm text-slate-900 outline-1 -outline-offset-1 outline-slate-300 placeholder:text-slate-400 focus:outline-2 focus:-outline-offset-2 focus:outline-indigo-600 aria-invalid:outline-red-400 aria-invalid:focus:outline-red-600";

interface Route {
  prefix: string;
  port: string;
  stripPrefix: boolean;
}
interface Pair {
  key: string;
  value: string;
}

interface FormState {
  namespace: string;
  name: string;
  source: "template" | "image";
  template: string;
  image: string;
  cpus: string;
  memory: string;
  command: string;
  env: Pair[];
  ingress: boolean;
  access: "private" | "authenticated" | "public";
  routes: Route[];
  ssh: boolean;
  policy: string;
  labels: Pair[];
}

/** Errors by field path, as the API server names fields: `spec.ingress.routes[0].prefix`. */
type FieldErrors = Record<string, string[]>;

function pathKey(path: readonly PropertyKey[]): string {
  let key = "";
  for (const segment of path)
    key += typeof segment === "number" ? `[${segment}]` : `${key ? "." : ""}${String(segment)}`;
  return key;
}

/** Text numbers as numbers; anything else stays as typed, for the schema to name. */
const numberOrText = (text: string) =>
  text.trim() === "" ? undefined : /^\d+$/.test(text.trim()) ? Number(text) : text;

/** The Sandbox this form describes, as the API server will receive it. */
function toSandbox(state: FormState) {
  const spec: Record<string, unknown> = {};
  if (state.source === "template") spec.templateRef = { name: state.template };
  else if (state.image.trim()) spec.image = state.image.trim();
  const cpus = numberOrText(state.cpus);
  const memory = state.memory.trim();
  if (cpus !== undefined || memory)
    spec.resources = { ...(cpus !== undefined ? { cpus } : {}), ...(memory ? { memory } : {}) };
  if (state.command.trim()) spec.command = ["/bin/sh", "-c", state.command];
  const env = state.env.filter((e) => e.key || e.value);
  if (env.length) spec.env = env.map((e) => ({ name: e.key, value: e.value }));
  if (state.ingress)
    spec.ingress = {
      enabled: true,
      access: state.access,
      ...(state.routes.length
        ? {
            routes: state.routes.map((r) => ({
              prefix: r.prefix,
              port: numberOrText(r.port),
              ...(r.stripPrefix ? {} : { stripPrefix: false }),
            })),
          }
        : {}),
    };
  if (state.ssh) spec.ssh = { enabled: true };
  if (state.policy) spec.network = { policyRef: { name: state.policy } };
  const labels = state.labels.filter((l) => l.key || l.value);
  return {
    namespace: state.namespace,
    metadata: {
      name: state.name.trim(),
      ...(labels.length ? { labels: Object.fromEntries(labels.map((l) => [l.key, l.value])) } : {}),
    },
    spec,
  };
}

/** Checks the form with the CRD's own zod schema, as the API server will with its OpenAPI copy. */
function validate(state: FormState): FieldErrors {
  const errors: FieldErrors = {};
  const add = (key: string, message: string) => {
    errors[key] = [...(errors[key] ?? []), message];
  };
  if (!state.namespace) add("namespace", "Choose a namespace.");
  const input = toSandbox(state);
  const parsed = Sandbox.safeParse({
    apiVersion: API_VERSION,
    kind: "Sandbox",
    metadata: { ...input.metadata, namespace: input.namespace },
    spec: input.spec,
  });
  if (!parsed.success)
    for (const issue of parsed.error.issues) {
      const key = pathKey(issue.path);
      const missing =
        (issue.code === "invalid_type" && issue.input === undefined) ||
        (issue.code === "too_small" && issue.origin === "string" && issue.minimum === 1);
      add(
        key,
        missing
          ? "Required."
          : issue.code === "invalid_type"
            ? `Must be a ${issue.expected === "int" ? "whole number" : issue.expected}.`
            : issue.message,
      );
    }
  if (!state.name.trim()) errors["metadata.name"] = ["Required."];
  else if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(state.name.trim()) || state.name.length > 63)
    add(
      "metadata.name",
      "Must be a DNS-1123 label: lower-case letters, digits and '-', at most 63.",
    );
  return errors;
}

/** The fields this form shows an error next to; anything else goes to the summary. */
const PLACED = [
  /^namespace$/,
  /^metadata\.name$/,
  /^metadata\.labels/,
  /^spec\.image$/,
  /^spec\.templateRef(\.name)?$/,
  /^spec\.resources(\.(cpus|memory))?$/,
  /^spec\.command/,
  /^spec\.env(\[\d+\](\.(name|value))?)?$/,
  /^spec\.ingress\.access$/,
  /^spec\.ingress\.routes(\[\d+\](\.(prefix|port|stripPrefix))?)?$/,
  /^spec\.network\.policyRef(\.name)?$/,
];
const isPlaced = (key: string) => PLACED.some((pattern) => pattern.test(key));
const fieldId = (key: string) => `field-${key.replace(/[^a-zA-Z0-9]+/g, "-")}`;

const EMPTY: Omit<FormState, "namespace"> = {
  name: "",
  source: "image",
  template: "",
  image: "",
  cpus: "",
  memory: "",
  command: "",
  env: [],
  ingress: true,
  access: "private",
  routes: [{ prefix: "/", port: "8000", stripPrefix: true }],
  ssh: false,
  policy: "",
  labels: [],
};

export function NewSandboxForm({ initialNamespace }: { initialNamespace: string | undefined }) {
  const trpc = useTRPC();
  const router = useRouter();
  const { data: base } = useSuspenseQuery(trpc.sandboxes.formOptions.queryOptions({}));
  const [state, setState] = useState<FormState>(() => ({
    ...EMPTY,
    namespace:
      initialNamespace && base.namespaces.includes(initialNamespace)
        ? initialNamespace
        : (base.namespaces[0] ?? ""),
  }));
  const [errors, setErrors] = useState<FieldErrors>({});
  // What went wrong, above the form; when it is only about fields, it goes once they are all edited.
  const [summary, setSummary] = useState<{ message: string; aboutFields: boolean } | null>(null);
  const options = useQuery(
    trpc.sandboxes.formOptions.queryOptions(
      { namespace: state.namespace },
      { enabled: Boolean(state.namespace) },
    ),
  );
  const templates = options.data?.templates ?? [];
  const policies = options.data?.policies ?? [];
  const create = useMutation(trpc.sandboxes.create.mutationOptions());

  /** Changes some fields and forgets the errors about them. */
  const set = (patch: Partial<FormState>, ...keys: string[]) => {
    setState((current) => ({ ...current, ...patch }));
    if (keys.length)
      setErrors((current) => {
        const next = { ...current };
        for (const key of Object.keys(next))
          if (keys.some((k) => key === k || key.startsWith(`${k}.`) || key.startsWith(`${k}[`)))
            delete next[key];
        return next;
      });
  };
  const errorOf = (key: string) => errors[key];

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    setSummary(null);
    const found = validate(state);
    setErrors(found);
    if (Object.keys(found).length) {
      setSummary({ message: "Some fields need attention.", aboutFields: true });
      focusFirst(found);
      return;
    }
    try {
      const created = await create.mutateAsync(toSandbox(state));
      router.push(`/sandboxes/${created.namespace}/${created.name}`);
    } catch (error) {
      const data = (error as { data?: { zodError?: { fieldErrors?: FieldErrors } | null } }).data;
      const fromServer = data?.zodError?.fieldErrors ?? {};
      setErrors(fromServer);
      setSummary({
        message: (error as Error).message,
        aboutFields: Object.keys(fromServer).length > 0,
      });
      focusFirst(fromServer);
    }
  }

  const unplaced = Object.entries(errors).filter(([key]) => !isPlaced(key));
  const pending = create.isPending || create.isSuccess;

  if (base.namespaces.length === 0)
    return (
      <Card>
        <div className="px-6 py-12 text-center text-sm text-slate-600">
          You have no namespace to create sandboxes in: a platform admin binds namespaces to teams,
          and adds you to one.
        </div>
      </Card>
    );

  return (
    <form onSubmit={onSubmit} noValidate className="space-y-6" aria-label="New sandbox">
      {summary && (!summary.aboutFields || Object.keys(errors).length > 0) ? (
        <div role="alert" className="flex gap-3 rounded-md bg-red-50 p-4 text-sm text-red-800">
          <AlertIcon className="size-5 shrink-0 text-red-500" />
          <div className="min-w-0">
            <p className="font-medium" data-testid="form-summary">
              {summary.message}
            </p>
            {unplaced.length ? (
              <ul className="mt-2 list-disc space-y-1 pl-5">
                {unplaced.map(([key, messages]) => (
                  <li key={key} data-testid="field-error" data-field={key}>
                    {key ? <Code>{key}</Code> : null} {messages.join(" ")}
                  </li>
                ))}
              </ul>
            ) : null}
          </div>
        </div>
      ) : null}

      <FormSection title="Sandbox" description="Where it lives and what it boots.">
        <div className="grid gap-5 sm:grid-cols-2">
          <FormField label="Namespace" fieldKey="namespace" errors={errorOf("namespace")}>
            {(props) => (
              <select
                {...props}
                value={state.namespace}
                onChange={(e) =>
                  set({ namespace: e.target.value, template: "", policy: "" }, "namespace")
                }
                className={inputClass}
              >
                {base.namespaces.map((ns) => (
                  <option key={ns} value={ns}>
                    {ns}
                  </option>
                ))}
              </select>
            )}
          </FormField>
          <FormField
            label="Name"
            fieldKey="metadata.name"
            errors={errorOf("metadata.name")}
            hint="Lower-case letters, digits and '-'; also the first part of its URL."
          >
            {(props) => (
              <input
                {...props}
                value={state.name}
                autoComplete="off"
                placeholder="my-app"
                onChange={(e) => set({ name: e.target.value }, "metadata.name")}
                className={inputClass}
              />
            )}
          </FormField>
        </div>

        <fieldset className="mt-6">
          <legend className="text-sm font-medium text-slate-900">Boot from</legend>
          <div className="mt-2 flex gap-6">
            {(
              [
                ["template", "A template"],
                ["image", "An image"],
              ] as const
            ).map(([value, label]) => (
              <label key={value} className="flex items-center gap-2 text-sm text-slate-700">
                <input
                  type="radio"
                  name="source"
                  value={value}
                  checked={state.source === value}
                  onChange={() =>
                    set({ source: value }, "spec.image", "spec.templateRef", "spec.ingress")
                  }
                  className="size-4 accent-indigo-600"
                />
                {label}
              </label>
            ))}
          </div>
        </fieldset>
        <div className="mt-4 grid gap-5 sm:grid-cols-2">
          {state.source === "template" ? (
            <FormField
              label="Template"
              fieldKey="spec.templateRef.name"
              errors={[
                ...(errorOf("spec.templateRef") ?? []),
                ...(errorOf("spec.templateRef.name") ?? []),
                ...(errorOf("spec.image") ?? []),
              ]}
              hint={
                templates.length
                  ? "Its image, routes, command and policy apply unless set below."
                  : `No SandboxTemplates in ${state.namespace || "this namespace"}.`
              }
            >
              {(props) => (
                <select
                  {...props}
                  value={state.template}
                  onChange={(e) =>
                    set({ template: e.target.value }, "spec.templateRef", "spec.image")
                  }
                  className={inputClass}
                >
                  <option value="">Choose a template…</option>
                  {templates.map((t) => (
                    <option key={t.name} value={t.name}>
                      {t.name} ({t.image})
                    </option>
                  ))}
                </select>
              )}
            </FormField>
          ) : (
            <FormField
              label="Image"
              fieldKey="spec.image"
              errors={errorOf("spec.image")}
              hint="name:tag in the nodes' image store."
            >
              {(props) => (
                <input
                  {...props}
                  value={state.image}
                  placeholder="debian-python:latest"
                  onChange={(e) => set({ image: e.target.value }, "spec.image")}
                  className={inputClass}
                />
              )}
            </FormField>
          )}
          <div className="grid grid-cols-2 gap-3">
            <FormField
              label="vCPUs"
              fieldKey="spec.resources.cpus"
              errors={errorOf("spec.resources.cpus")}
            >
              {(props) => (
                <input
                  {...props}
                  inputMode="numeric"
                  value={state.cpus}
                  placeholder="1"
                  onChange={(e) => set({ cpus: e.target.value }, "spec.resources")}
                  className={inputClass}
                />
              )}
            </FormField>
            <FormField
              label="Memory"
              fieldKey="spec.resources.memory"
              errors={errorOf("spec.resources.memory")}
            >
              {(props) => (
                <input
                  {...props}
                  value={state.memory}
                  placeholder="512Mi"
                  onChange={(e) => set({ memory: e.target.value }, "spec.resources")}
                  className={inputClass}
                />
              )}
            </FormField>
          </div>
        </div>
        <div className="mt-5">
          <FormField
            label="Command"
            fieldKey="spec.command"
            errors={errorOf("spec.command")}
            hint={
              <>
                Started detached after boot with <Code>/bin/sh -c</Code>; leave empty for the
                template's or none.
              </>
            }
          >
            {(props) => (
              <textarea
                {...props}
                rows={2}
                value={state.command}
                placeholder="python3 -m http.server 8000 --bind 127.0.0.1"
                onChange={(e) => set({ command: e.target.value }, "spec.command")}
                className={`${inputClass} font-mono`}
              />
            )}
          </FormField>
        </div>
      </FormSection>

      <FormSection
        title="Environment"
        description="Plain variables for the guest. Secrets are never set here: a policy injects them by name."
      >
        <Pairs
          pairs={state.env}
          prefix="spec.env"
          keyLabel="Name"
          valueLabel="Value"
          keyPlaceholder="LOG_LEVEL"
          valuePlaceholder="debug"
          keyField="name"
          errors={errors}
          addLabel="Add variable"
          onChange={(env, changed) => set({ env }, changed)}
        />
      </FormSection>

      <FormSection
        title="Ingress"
        description="Serve the guest's web app at a routed URL; the longest matching prefix wins."
      >
        <label className="flex items-center gap-2 text-sm text-slate-700">
          <input
            type="checkbox"
            checked={state.ingress}
            onChange={(e) => set({ ingress: e.target.checked }, "spec.ingress")}
            className="size-4 accent-indigo-600"
          />
          Serve at a routed URL
        </label>
        {state.ingress ? (
          <div className="mt-4 space-y-4">
            <FormField
              label="Access"
              fieldKey="spec.ingress.access"
              errors={errorOf("spec.ingress.access")}
            >
              {(props) => (
                <select
                  {...props}
                  value={state.access}
                  onChange={(e) =>
                    set({ access: e.target.value as FormState["access"] }, "spec.ingress.access")
                  }
                  className={`${inputClass} sm:max-w-md`}
                >
                  <option value="private">Private: the team and admins</option>
                  <option value="authenticated">Authenticated: any signed-in user</option>
                  <option value="public">Public: anyone with the URL</option>
                </select>
              )}
            </FormField>
            <Routes
              routes={state.routes}
              errors={errors}
              onChange={(routes, changed) => set({ routes }, changed)}
            />
          </div>
        ) : null}
      </FormSection>

      <FormSection
        title="Access and policy"
        description="SSH through the gateway, and the egress policy."
      >
        <div className="grid gap-5 sm:grid-cols-2">
          <FormField
            label="Egress policy"
            fieldKey="spec.network.policyRef.name"
            errors={errorOf("spec.network.policyRef.name") ?? errorOf("spec.network.policyRef")}
            hint={
              policies.length
                ? "A SandboxPolicy of this namespace."
                : "No SandboxPolicies here: default-deny (or the template's)."
            }
          >
            {(props) => (
              <select
                {...props}
                value={state.policy}
                onChange={(e) => set({ policy: e.target.value }, "spec.network")}
                className={inputClass}
              >
                <option value="">None</option>
                {policies.map((p) => (
                  <option key={p.name} value={p.name}>
                    {p.name} ({p.mode})
                  </option>
                ))}
              </select>
            )}
          </FormField>
          <div className="sm:pt-7">
            <label className="flex items-center gap-2 text-sm text-slate-700">
              <input
                type="checkbox"
                checked={state.ssh}
                onChange={(e) => set({ ssh: e.target.checked }, "spec.ssh")}
                className="size-4 accent-indigo-600"
              />
              Enable SSH
            </label>
          </div>
        </div>
        {options.data?.error ? (
          <p className="mt-3 text-xs text-amber-700">{options.data.error}</p>
        ) : null}
      </FormSection>

      <FormSection
        title="Labels"
        description="Kubernetes labels on the Sandbox (selectors, ownership)."
      >
        <Pairs
          pairs={state.labels}
          prefix="metadata.labels"
          keyLabel="Key"
          valueLabel="Label value"
          keyPlaceholder="app.kubernetes.io/name"
          valuePlaceholder="my-app"
          keyField={null}
          errors={errors}
          addLabel="Add label"
          onChange={(labels, changed) => set({ labels }, changed)}
        />
      </FormSection>

      <div className="flex items-center justify-end gap-3 border-t border-slate-200 pt-5">
        <Link
          href="/sandboxes"
          className="rounded-md px-3 py-2 text-sm font-semibold text-slate-700 hover:bg-slate-100"
        >
          Cancel
        </Link>
        <button
          type="submit"
          disabled={pending}
          className="rounded-md bg-indigo-600 px-4 py-2 text-sm font-semibold text-white shadow-xs hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 disabled:opacity-60"
        >
          {pending ? "Creating…" : "Create sandbox"}
        </button>
      </div>
    </form>
  );
}

function focusFirst(errors: FieldErrors): void {
  for (const key of Object.keys(errors)) {
    const element = document.getElementById(fieldId(key));
    if (element) {
      element.focus();
      return;
    }
  }
}

function FormSection({
  title,
  description,
  children,
}: {
  title: string;
  description: string;
  children: ReactNode;
}) {
  return (
    <Card>
      <div className="grid gap-6 px-6 py-6 lg:grid-cols-3">
        <div>
          <h2 className="text-sm font-semibold text-slate-900">{title}</h2>
          <p className="mt-1 text-sm text-slate-500">{description}</p>
        </div>
        <div className="lg:col-span-2">{children}</div>
      </div>
    </Card>
  );
}

interface ControlProps {
  id: string;
  "aria-invalid"?: true;
  "aria-describedby"?: string;
}

/** A labelled control with its hint and its errors right below it. */
function FormField({
  label,
  fieldKey,
  errors,
  hint,
  children,
  srOnlyLabel = false,
}: {
  label: string;
  fieldKey: string;
  errors: string[] | undefined;
  hint?: ReactNode;
  children: (props: ControlProps) => ReactNode;
  srOnlyLabel?: boolean;
}) {
  const id = fieldId(fieldKey);
  const invalid = Boolean(errors?.length);
  return (
    <div>
      <label
        htmlFor={id}
        className={srOnlyLabel ? "sr-only" : "block text-sm font-medium text-slate-900"}
      >
        {label}
      </label>
      <div className={srOnlyLabel ? "" : "mt-1.5"}>
        {children({
          id,
          ...(invalid ? { "aria-invalid": true, "aria-describedby": `${id}-error` } : {}),
        })}
      </div>
      <FieldError id={`${id}-error`} fieldKey={fieldKey} errors={errors} />
      {hint && !invalid ? <p className="mt-1 text-xs text-slate-500">{hint}</p> : null}
    </div>
  );
}

function FieldError({
  id,
  fieldKey,
  errors,
}: {
  id?: string;
  fieldKey: string;
  errors: string[] | undefined;
}) {
  if (!errors?.length) return null;
  return (
    <p
      id={id}
      className="mt-1 text-xs text-red-700"
      data-testid="field-error"
      data-field={fieldKey}
    >
      {errors.join(" ")}
    </p>
  );
}

function Routes({
  routes,
  errors,
  onChange,
}: {
  routes: Route[];
  errors: FieldErrors;
  onChange: (routes: Route[], changed: string) => void;
}) {
  const replace = (index: number, patch: Partial<Route>, field: string) =>
    onChange(
      routes.map((route, i) => (i === index ? { ...route, ...patch } : route)),
      `spec.ingress.routes[${index}].${field}`,
    );
  return (
    <div>
      <p className="text-sm font-medium text-slate-900">Routes</p>
      <FieldError fieldKey="spec.ingress.routes" errors={errors["spec.ingress.routes"]} />
      <div className="mt-2 space-y-3">
        {routes.map((route, index) => {
          const key = `spec.ingress.routes[${index}]`;
          return (
            // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity beyond their place
            <div key={index} className="rounded-md bg-slate-50 p-3 ring-1 ring-slate-200">
              <div className="grid grid-cols-[1fr_7rem_auto_auto] items-start gap-3">
                <FormField
                  label={`Route ${index + 1} prefix`}
                  fieldKey={`${key}.prefix`}
                  errors={errors[`${key}.prefix`]}
                >
                  {(props) => (
                    <input
                      {...props}
                      value={route.prefix}
                      placeholder="/api"
                      onChange={(e) => replace(index, { prefix: e.target.value }, "prefix")}
                      className={`${inputClass} font-mono`}
                    />
                  )}
                </FormField>
                <FormField
                  label="Guest port"
                  fieldKey={`${key}.port`}
                  errors={errors[`${key}.port`]}
                >
                  {(props) => (
                    <input
                      {...props}
                      inputMode="numeric"
                      value={route.port}
                      placeholder="8000"
                      onChange={(e) => replace(index, { port: e.target.value }, "port")}
                      className={inputClass}
                    />
                  )}
                </FormField>
                <label className="mt-8 flex items-center gap-2 text-sm whitespace-nowrap text-slate-700">
                  <input
                    type="checkbox"
                    checked={route.stripPrefix}
                    onChange={(e) =>
                      replace(index, { stripPrefix: e.target.checked }, "stripPrefix")
                    }
                    className="size-4 accent-indigo-600"
                  />
                  Strip prefix
                </label>
                <button
                  type="button"
                  aria-label={`Remove route ${index + 1}`}
                  onClick={() =>
                    onChange(
                      routes.filter((_, i) => i !== index),
                      "spec.ingress.routes",
                    )
                  }
                  className="mt-7 rounded-md p-1.5 text-slate-400 hover:bg-white hover:text-slate-600"
                >
                  <XMarkIcon className="size-4" />
                </button>
              </div>
              <FieldError fieldKey={key} errors={errors[key]} />
            </div>
          );
        })}
      </div>
      <button
        type="button"
        onClick={() =>
          onChange([...routes, { prefix: "", port: "", stripPrefix: true }], "spec.ingress.routes")
        }
        className="mt-3 inline-flex items-center gap-1 text-sm font-medium text-indigo-600 hover:text-indigo-500"
      >
        <PlusIcon className="size-4" />
        Add route
      </button>
    </div>
  );
}

/** Key/value rows: environment variables (`name`/`value`) or labels (a map). */
function Pairs({
  pairs,
  prefix,
  keyLabel,
  valueLabel,
  keyPlaceholder,
  valuePlaceholder,
  keyField,
  errors,
  addLabel,
  onChange,
}: {
  pairs: Pair[];
  prefix: string;
  keyLabel: string;
  valueLabel: string;
  keyPlaceholder: string;
  valuePlaceholder: string;
  /** The item's key field in a list (`name` for env); null for a map (labels). */
  keyField: string | null;
  errors: FieldErrors;
  addLabel: string;
  onChange: (pairs: Pair[], changed: string) => void;
}) {
  const groupErrors = Object.entries(errors)
    .filter(([key]) => (keyField ? key === prefix : key.startsWith(prefix)))
    .flatMap(([, messages]) => messages);
  return (
    <div>
      {pairs.length === 0 ? <p className="text-sm text-slate-500">None.</p> : null}
      <div className="space-y-2">
        {pairs.map((pair, index) => {
          const itemKey = keyField ? `${prefix}[${index}]` : `${prefix}.${index}`;
          const keyKey = keyField ? `${itemKey}.${keyField}` : `${itemKey}.key`;
          const valueKey = keyField ? `${itemKey}.value` : `${itemKey}.value`;
          const replace = (patch: Partial<Pair>) =>
            onChange(
              pairs.map((p, i) => (i === index ? { ...p, ...patch } : p)),
              keyField ? itemKey : prefix,
            );
          return (
            // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity beyond their place
            <div key={index}>
              <div className="grid grid-cols-[1fr_1fr_auto] items-start gap-3">
                <FormField
                  label={`${keyLabel} ${index + 1}`}
                  srOnlyLabel
                  fieldKey={keyKey}
                  errors={errors[keyKey]}
                >
                  {(props) => (
                    <input
                      {...props}
                      value={pair.key}
                      placeholder={keyPlaceholder}
                      onChange={(e) => replace({ key: e.target.value })}
                      className={`${inputClass} font-mono`}
                    />
                  )}
                </FormField>
                <FormField
                  label={`${valueLabel} ${index + 1}`}
                  srOnlyLabel
                  fieldKey={valueKey}
                  errors={errors[valueKey]}
                >
                  {(props) => (
                    <input
                      {...props}
                      value={pair.value}
                      placeholder={valuePlaceholder}
                      onChange={(e) => replace({ value: e.target.value })}
                      className={`${inputClass} font-mono`}
                    />
                  )}
                </FormField>
                <button
                  type="button"
                  aria-label={`Remove ${keyLabel.toLowerCase()} ${index + 1}`}
                  onClick={() =>
                    onChange(
                      pairs.filter((_, i) => i !== index),
                      prefix,
                    )
                  }
                  className="mt-1 rounded-md p-1.5 text-slate-400 hover:bg-slate-100 hover:text-slate-600"
                >
                  <XMarkIcon className="size-4" />
                </button>
              </div>
              {keyField ? <FieldError fieldKey={itemKey} errors={errors[itemKey]} /> : null}
            </div>
          );
        })}
      </div>
      {groupErrors.length ? (
        <p className="mt-2 text-xs text-red-700" data-testid="field-error" data-field={prefix}>
          {groupErrors.join(" ")}
        </p>
      ) : null}
      <button
        type="button"
        onClick={() => onChange([...pairs, { key: "", value: "" }], prefix)}
        className="mt-3 inline-flex items-center gap-1 text-sm font-medium text-indigo-600 hover:text-indigo-500"
      >
        <PlusIcon className="size-4" />
        {addLabel}
      </button>
    </div>
  );
}
