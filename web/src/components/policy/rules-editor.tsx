"use client";
/**
 * The egress rules editor shared by the SandboxPolicy page and a sandbox's
 * Network tab: a form view and a YAML view of the same rules, errors next to
 * their field (the zod schema's at once; the API server's dry-run and the
 * operator's rules on "Check"), a review (diff, and the sandboxes the change
 * reaches live) and save, and a save over someone else's newer change shown
 * as a conflict with their change. What it edits and how it is saved comes
 * from the page: `prefix` says where the rules sit (`spec`, `spec.network`),
 * and the `actions` talk to the server.
 */
import { useEffect, useMemo, useState } from "react";
import { Alert, Button, CardHeader, Input, Textarea } from "~/components/form";
import { Badge, Card } from "~/components/page";
import { DiffView } from "~/components/policy/diff-view";
import { type FieldErrors, fromYaml, type Spec, toYaml, withField } from "~/lib/policy-form";
import { type InjectableSecretNames, RulesForm } from "./rules-form";

export interface ConflictData {
  resourceVersion: string;
  spec: Spec;
  yaml: string;
  theirDiff: string;
  by: { email: string; at: string; reason: string | null } | null;
}

export interface ServerIssue {
  field: string;
  message: string;
  source: "schema" | "apiserver" | "policy";
}

export interface ReachedSandbox {
  name: string;
  phase: string;
  via: "sandbox" | "template";
}

export interface PreviewData {
  stale: boolean;
  diff: string;
  reaches: ReachedSandbox[];
}

/** What the editor starts from and saves over: the version's label and its rules. */
export interface LoadedRules {
  version: string;
  spec: Spec;
}

export interface RulesEditorActions {
  validate: (spec: Spec) => Promise<{ issues: ServerIssue[] }>;
  preview: (spec: Spec, loaded: LoadedRules) => Promise<PreviewData>;
  /** Saves over `loaded`; resolves to the new version (as the server stored it). */
  save: (spec: Spec, loaded: LoadedRules, reason: string | null) => Promise<LoadedRules>;
  /** The current version from the server, or undefined (the error shown) when it cannot be read. */
  reload: () => Promise<LoadedRules>;
}

export function errorData(error: unknown): {
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

/** Issues by field, the API server's and the operator's marked as theirs. */
export function issuesByField(issues: readonly ServerIssue[]): FieldErrors {
  const byField: FieldErrors = {};
  for (const issue of issues)
    byField[issue.field] = [
      ...(byField[issue.field] ?? []),
      issue.source === "apiserver"
        ? `${issue.message} (API server)`
        : issue.source === "policy"
          ? `${issue.message} (operator)`
          : issue.message,
    ];
  return byField;
}

const capitalized = (text: string) => `${text.slice(0, 1).toUpperCase()}${text.slice(1)}`;

export function RulesEditor({
  initial,
  prefix,
  canEdit,
  clientIssues,
  actions,
  secrets,
  leading,
  title,
  description,
  testId,
  texts,
}: {
  initial: LoadedRules;
  prefix: string;
  canEdit: boolean;
  clientIssues: (spec: Spec) => FieldErrors;
  actions: RulesEditorActions;
  secrets: { available: readonly InjectableSecretNames[]; error?: string | undefined };
  /** Form sections before the rules (a sandbox's policyRef picker). */
  leading?: (props: {
    spec: Spec;
    set: (field: string, value: unknown) => void;
    errors: FieldErrors;
    disabled: boolean;
  }) => React.ReactNode;
  title: string;
  description: string;
  /** The root's data-testid; it carries data-resource-version, the loaded version. */
  testId: string;
  texts: {
    /** "this policy", "this sandbox's network rules" */
    subject: string;
    /** The pronoun for the subject: "it" (default), "them". */
    it?: string;
    saved: (version: string) => React.ReactNode;
    readOnly?: React.ReactNode;
    noReach: string;
    /** Shown under the page header: the loaded version. */
    header?: (loaded: LoadedRules) => React.ReactNode;
  };
}) {
  const [spec, setSpec] = useState<Spec>(initial.spec);
  const [loaded, setLoaded] = useState<LoadedRules>(initial);
  const [view, setView] = useState<"form" | "yaml">("form");
  const [yamlText, setYamlText] = useState(() => toYaml(initial.spec));
  const [yamlError, setYamlError] = useState<string | null>(null);
  const [serverIssues, setServerIssues] = useState<ServerIssue[] | null>(null);
  const [serverErrors, setServerErrors] = useState<FieldErrors>({});
  const [reason, setReason] = useState("");
  const [conflict, setConflict] = useState<ConflictData | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);
  const [previewing, setPreviewing] = useState(false);
  const [saving, setSaving] = useState(false);
  const [preview, setPreview] = useState<PreviewData | null>(null);

  // A newer version from the server (a restore from history, a reload elsewhere on the page)
  // replaces the draft, unless the user has edited it: their edits are never dropped.
  const initialYaml = toYaml(initial.spec);
  const dirty = toYaml(spec) !== toYaml(loaded.spec);
  // biome-ignore lint/correctness/useExhaustiveDependencies: keyed on the server's version and rules
  useEffect(() => {
    if (dirty || view !== "form") return;
    if (initial.version === loaded.version && initialYaml === toYaml(loaded.spec)) return;
    setLoaded(initial);
    setSpec(initial.spec);
    setYamlText(initialYaml);
    setServerErrors({});
    setServerIssues(null);
    setPreview(null);
  }, [initial.version, initialYaml]);

  const local = useMemo(() => clientIssues(spec), [spec, clientIssues]);
  const errors: FieldErrors = useMemo(() => {
    const merged: FieldErrors = { ...serverErrors };
    for (const [k, v] of Object.entries(local))
      merged[k] = [...new Set([...(merged[k] ?? []), ...v])];
    return merged;
  }, [local, serverErrors]);
  const disabled = !canEdit;

  const edit = (next: Spec) => {
    setSpec(next);
    setServerIssues(null);
    setServerErrors({});
    setSaved(null);
    setPreview(null);
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
    setChecking(true);
    try {
      const result = await actions.validate(s);
      setServerIssues(result.issues);
      setServerErrors(issuesByField(result.issues));
    } catch (error) {
      setFailure((error as Error).message);
    } finally {
      setChecking(false);
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
    setPreviewing(true);
    try {
      setPreview(await actions.preview(s, loaded));
    } catch (error) {
      setFailure((error as Error).message);
    } finally {
      setPreviewing(false);
    }
  };

  const onSave = async () => {
    const s = currentSpec();
    if (!s) return;
    setFailure(null);
    setConflict(null);
    setSaving(true);
    try {
      const next = await actions.save(s, loaded, reason.trim() || null);
      setLoaded(next);
      setSaved(next.version);
      setReason("");
      setPreview(null);
    } catch (error) {
      const data = errorData(error);
      if (data.conflict) setConflict(data.conflict);
      else if (Object.keys(data.fieldErrors).length > 0) {
        setServerErrors(data.fieldErrors);
        setFailure((error as Error).message);
      } else setFailure((error as Error).message);
    } finally {
      setSaving(false);
    }
  };

  const onReload = async () => {
    let fresh: LoadedRules;
    try {
      fresh = await actions.reload();
    } catch (error) {
      setFailure((error as Error).message);
      return;
    }
    // The conflict notice goes only once their version is in the editor.
    setConflict(null);
    setSaved(null);
    setPreview(null);
    setLoaded(fresh);
    setSpec(fresh.spec);
    setYamlText(toYaml(fresh.spec));
    setServerErrors({});
    setServerIssues(null);
  };

  return (
    <div className="space-y-6" data-testid={testId} data-resource-version={loaded.version}>
      {texts.header?.(loaded)}
      {!canEdit && texts.readOnly ? (
        <Alert tone="warning" title="Read-only">
          <span data-testid="readonly-notice">{texts.readOnly}</span>
        </Alert>
      ) : null}
      {saved ? (
        <div className="rounded-md bg-emerald-50 p-3 text-sm text-emerald-800" data-testid="saved">
          {texts.saved(saved)}
        </div>
      ) : null}
      {conflict ? (
        <div
          data-testid="conflict"
          className="space-y-3 rounded-md bg-amber-50 p-4 text-sm text-amber-900"
        >
          <p className="font-medium">
            {conflict.by
              ? `${conflict.by.email} saved ${texts.subject} after you loaded ${texts.it ?? "it"}${conflict.by.reason ? ` (“${conflict.by.reason}”)` : ""}.`
              : `${capitalized(texts.subject)} changed after you loaded ${texts.it ?? "it"}.`}{" "}
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
          title={title}
          description={description}
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
          <RulesForm
            prefix={prefix}
            spec={spec}
            set={set}
            errors={errors}
            disabled={disabled}
            available={secrets.available}
            secretsError={secrets.error}
            leading={leading?.({ spec, set, errors, disabled })}
          />
        )}
        <div className="flex flex-wrap items-center gap-2 border-t border-slate-200 px-5 py-3">
          <Button tone="secondary" data-testid="check" onClick={onCheck} disabled={checking}>
            {checking ? "Checking…" : "Check with the API server"}
          </Button>
          <Button data-testid="review" onClick={onReview} disabled={disabled || previewing}>
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

      {preview && !conflict ? (
        <Card>
          <CardHeader
            title="Review"
            description={
              preview.stale
                ? `${capitalized(texts.subject)} changed on the server since you loaded ${texts.it ?? "it"}: saving will be refused.`
                : "Against the current version."
            }
          />
          <div className="space-y-4 px-5 py-4">
            <DiffView diff={preview.diff} testId="preview-diff" />
            <div data-testid="preview-reaches">
              <h3 className="text-sm font-medium text-slate-900">Sandboxes this reaches</h3>
              {preview.reaches.length === 0 ? (
                <p className="mt-1 text-sm text-slate-500">{texts.noReach}</p>
              ) : (
                <ul className="mt-1 space-y-1 text-sm text-slate-700">
                  {preview.reaches.map((r) => (
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
                <label
                  htmlFor={`${testId}-reason`}
                  className="block text-sm font-medium text-slate-900"
                >
                  Reason (optional)
                </label>
                <Input
                  id={`${testId}-reason`}
                  className="mt-1.5"
                  data-testid="reason"
                  value={reason}
                  onChange={(e) => setReason(e.target.value)}
                  placeholder="Why this change"
                />
              </div>
              <Button data-testid="save" onClick={onSave} disabled={disabled || saving}>
                {saving ? "Saving…" : "Save"}
              </Button>
            </div>
          </div>
        </Card>
      ) : null}
    </div>
  );
}
