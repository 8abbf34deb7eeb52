"use client";
/**
 * The egress rules' form, shared by the SandboxPolicy editor (fields under
 * `spec`) and a sandbox's own network editor (under `spec.network`): allowed
 * hosts, denied methods and CIDRs, DNS, WebSockets, mode and secrets (an
 * injectable Secret's name and key, and its hosts; never a value). Errors
 * show next to their field, keyed as the API server keys them
 * (`data-testid="error-<field path>"`).
 */
import type { ReactNode } from "react";
import { PlusIcon, XMarkIcon } from "~/components/action-icons";
import { Button, Input, Select } from "~/components/form";
import {
  type FieldErrors,
  METHODS,
  type SecretRow,
  type Spec,
  secretsOf,
  strings,
} from "~/lib/policy-form";

export function FieldError({ field, errors }: { field: string; errors: FieldErrors }) {
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
export function StringList({
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

export function Section({
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

export interface InjectableSecretNames {
  name: string;
  keys: string[];
}

/** Escapes a field prefix for a RegExp. */
const escaped = (prefix: string) => prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export function RulesForm({
  prefix,
  spec,
  set,
  errors,
  disabled,
  available,
  secretsError,
  leading,
}: {
  /** Where the rules sit in the object: "spec" (a policy) or "spec.network" (a sandbox). */
  prefix: string;
  spec: Spec;
  set: (field: string, value: unknown) => void;
  errors: FieldErrors;
  disabled: boolean;
  /** Injectable Secrets' names and key names for the picker. */
  available: readonly InjectableSecretNames[];
  secretsError?: string | undefined;
  /** Sections before the rules (a sandbox's policyRef picker). */
  leading?: ReactNode;
}) {
  const hosts = strings(spec.allowedHosts);
  const cidrs = strings(spec.deniedCIDRs);
  const methods = strings(spec.deniedMethods);
  const dnsMode = (spec.dns as { mode?: string } | undefined)?.mode ?? "";
  const secretRows = secretsOf(spec);
  const setSecrets = (rows: SecretRow[]) => set("secrets", rows);
  const p = escaped(prefix);
  const shown = [
    new RegExp(`^${p}\\.(allowedHosts|deniedCIDRs)\\[\\d+\\]$`),
    new RegExp(`^${p}\\.secrets\\[\\d+\\]\\.(name|hosts|secretKeyRef)`),
  ];
  const otherIssues = Object.entries(errors).filter(
    ([field]) =>
      !shown.some((re) => re.test(field)) && !(leading && field === `${prefix}.policyRef.name`),
  );
  return (
    <div className="divide-y divide-slate-100">
      {leading}
      <Section title="Allowed hosts" hint="Names, *.domain wildcards, or * for any.">
        <StringList
          field={`${prefix}.allowedHosts`}
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
        <FieldError field={`${prefix}.deniedMethods`} errors={errors} />
      </Section>
      <Section title="Denied CIDRs" hint="Address ranges refused after DNS, e.g. 10.0.0.0/8.">
        <StringList
          field={`${prefix}.deniedCIDRs`}
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
          <label htmlFor="dns-mode" className="flex items-center gap-2 text-sm text-slate-700">
            DNS
            <Select
              id="dns-mode"
              className="max-w-48"
              data-testid="dns-mode"
              value={dnsMode}
              disabled={disabled}
              onChange={(e) => set("dns", e.target.value ? { mode: e.target.value } : undefined)}
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
        <FieldError field={`${prefix}.dns.mode`} errors={errors} />
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
          onChange={(e) => set("mode", e.target.value === "enforce" ? undefined : e.target.value)}
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
                      aria-invalid={errors[`${prefix}.secrets[${i}].name`] ? true : undefined}
                      onChange={(e) => update({ name: e.target.value })}
                    />
                    <FieldError field={`${prefix}.secrets[${i}].name`} errors={errors} />
                  </div>
                  <div>
                    <Select
                      value={row.secretKeyRef.name}
                      data-testid={`secret-name-${i}`}
                      disabled={disabled}
                      onChange={(e) => update({ secretKeyRef: { name: e.target.value, key: "" } })}
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
                      field={`${prefix}.secrets[${i}].secretKeyRef.name`}
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
                      field={`${prefix}.secrets[${i}].secretKeyRef.key`}
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
                  .filter(([f]) => f.startsWith(`${prefix}.secrets[${i}].hosts`))
                  .map(([f, m]) => (
                    <p key={f} className="mt-1 text-sm text-red-600" data-testid={`error-${f}`}>
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
          {secretsError ? (
            <p className="text-xs text-slate-500">Secrets cannot be listed: {secretsError}</p>
          ) : null}
        </div>
      </Section>
      {otherIssues.length > 0 ? (
        <div className="px-5 py-3">
          <ul className="space-y-1 text-sm text-red-600">
            {otherIssues
              .filter(
                ([field]) => field !== `${prefix}.deniedMethods` && field !== `${prefix}.dns.mode`,
              )
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
  );
}
