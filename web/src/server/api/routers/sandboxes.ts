/**
 * Sandboxes: the list and its live updates come from the dashboard's own
 * informers (KubeCache), filtered to the namespaces of the user's teams
 * (all for admins). Every read of one object and every write is made as
 * the user through impersonation, so Kubernetes RBAC decides; what the API
 * server answers comes back with its own message (see ~/server/kube-errors).
 */
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { TRPCError, tracked } from "@trpc/server";
import {
  API_VERSION,
  GROUP,
  type Sandbox,
  type SandboxPolicy,
  type SandboxTemplate,
  VERSION,
} from "@turgon/api/crd";
import { z } from "zod";
import {
  matchesFilters,
  rowOf,
  SandboxFilters,
  type SandboxListEvent,
  type SandboxRow,
} from "~/lib/sandboxes.ts";
import type { TurgonSession } from "~/server/auth/index.ts";
import {
  type Filter,
  filterFor,
  impersonatedApis,
  type KubeCache,
  type Principal,
  type StreamEvent,
} from "~/server/kube/index.ts";
import { getKubeCache, getKubeConfig, whyNotSynced } from "~/server/kube-cache.ts";
import { asTRPC, toTRPCError } from "~/server/kube-errors.ts";
import { namespaceName, ObjectRef } from "../object-ref.ts";
import { createTRPCRouter, protectedProcedure } from "../trpc.ts";

const SANDBOXES = { group: GROUP, version: VERSION, plural: "sandboxes" } as const;
const TEMPLATES = { group: GROUP, version: VERSION, plural: "sandboxtemplates" } as const;
const POLICIES = { group: GROUP, version: VERSION, plural: "sandboxpolicies" } as const;
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export function principalOf(session: TurgonSession): Principal {
  return {
    email: session.user.email,
    teams: session.teams,
    owns: session.owns,
    admin: session.isAdmin,
  };
}

/** The user's API clients: every request is made as them (Impersonate-User/-Group). */
export function apisFor(session: TurgonSession) {
  try {
    return impersonatedApis(getKubeConfig(), principalOf(session));
  } catch (error) {
    throw toTRPCError(error);
  }
}

/** How long a request waits for the informers to sync before it says why they have not. */
const CACHE_WAIT_MS = 5_000;

/**
 * The synced KubeCache, or SERVICE_UNAVAILABLE saying why not (CRDs
 * missing, RBAC, API server unreachable) instead of a page that hangs
 * while the informers keep trying in the background.
 */
export async function kubeCache(): Promise<KubeCache> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = await Promise.race([
    getKubeCache().then(
      (cache) => ({ cache }),
      (error: unknown) => ({ error }),
    ),
    new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), CACHE_WAIT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  if (waited !== "timeout" && "cache" in waited) return waited.cache;
  throw new TRPCError({
    code: "SERVICE_UNAVAILABLE",
    message: `Sandboxes cannot be listed: ${await whyNotSynced()}.`,
    ...(waited !== "timeout" ? { cause: waited.error } : {}),
  });
}

const SandboxRef = ObjectRef;
/** metadata.uid: goes into a field selector and a delete precondition, so nothing but a UID. */
const uid = z
  .string()
  .max(64)
  .regex(/^[0-9a-fA-F-]+$/, "must be an object's UID");

/**
 * Subscription ids are the change log's cursor plus who it was filtered
 * for: resuming with another scope (the user joined or left a team while
 * disconnected) must start from a snapshot, or the objects that came into
 * view would never be sent.
 */
function scopeOf(filter: Filter): string {
  if (filter === "all") return "all";
  const values = "teams" in filter ? [...filter.teams] : [...filter.namespaces];
  let hash = 0x811c9dc5;
  for (const char of `${"teams" in filter ? "t" : "n"}:${values.sort().join(",")}`) {
    hash ^= char.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16);
}
export function trackedId(cursor: string, filter: Filter): string {
  return `${cursor}.${scopeOf(filter)}`;
}
/** The change log cursor in an id this filter made, else undefined (a snapshot follows). */
export function cursorOf(id: string | null | undefined, filter: Filter): string | undefined {
  if (!id) return undefined;
  const dot = id.lastIndexOf(".");
  if (dot < 0 || id.slice(dot + 1) !== scopeOf(filter)) return undefined;
  return id.slice(0, dot);
}

function rowsOf(cache: KubeCache, sandboxes: Sandbox[]): SandboxRow[] {
  return sandboxes.map((s) => rowOf(s, cache.teamOf(s.metadata.namespace as string)));
}

/** A change of the cache as the list's event, or nothing when the list does not show it. */
function listEvent(cache: KubeCache, event: StreamEvent): SandboxListEvent | undefined {
  if (event.type === "snapshot")
    return { type: "snapshot", cursor: event.id, rows: rowsOf(cache, event.sandboxes) };
  if (event.kind === "Sandbox") {
    const row = rowOf(event.object, event.team ?? event.namespace ?? "");
    return event.type === "deleted" ? { type: "remove", key: row.key } : { type: "upsert", row };
  }
  if (event.kind === "Namespace" && event.type !== "deleted")
    return { type: "namespace", name: event.name, team: event.team ?? event.name };
  return undefined;
}

/** Without managedFields: noise to the browser (the cache trims them too). */
const strip = (sandbox: Sandbox): Sandbox => {
  delete (sandbox.metadata as { managedFields?: unknown }).managedFields;
  return sandbox;
};

/** Secrets a policy injects, by name and hosts only: values never leave the cluster's nodes. */
const secretNames = (secrets: { name: string; hosts: string[] }[] | undefined) =>
  (secrets ?? []).map(({ name, hosts }) => ({ name, hosts }));

/** What a sandbox spec may carry when it is created here; the API server checks the rest. */
const CreateSandbox = z.object({
  namespace: namespaceName,
  metadata: z.object({
    name: z.string().min(1, "must not be empty").max(253),
    labels: z.record(z.string().max(317), z.string().max(63)).optional(),
  }),
  // Deliberately only an object: the CRD's OpenAPI schema and CEL rules at
  // the API server are the one authority, and their field errors come back as they are.
  spec: z.record(z.string(), z.unknown()),
});

export const sandboxesRouter = createTRPCRouter({
  /**
   * Every sandbox the user may see (filtered when filters are given), with
   * the cursor to subscribe from: `watch({ lastEventId: cursor })` sends
   * exactly the changes after this picture.
   */
  list: protectedProcedure.input(SandboxFilters.optional()).query(async ({ ctx, input }) => {
    const cache = await kubeCache();
    const filter = filterFor(principalOf(ctx.session));
    const snapshot = cache.snapshot(filter);
    const rows = rowsOf(cache, snapshot.sandboxes);
    return {
      cursor: trackedId(snapshot.id, filter),
      rows: input ? rows.filter((row) => matchesFilters(row, input)) : rows,
      namespaces: snapshot.namespaces.map((ns) => ({
        name: ns.metadata?.name as string,
        team: cache.teamOf(ns.metadata?.name as string),
      })),
    };
  }),

  /**
   * Live changes of the list over SSE. Each event is tracked by the change
   * log's cursor: a reconnect (the browser's Last-Event-ID, or
   * `lastEventId`) resumes right after the last event received, without
   * losing or repeating one; when that is impossible (the dashboard
   * restarted, the log moved on, a namespace changed teams) the first
   * event is a snapshot that replaces the table.
   */
  watch: protectedProcedure
    .input(z.object({ lastEventId: z.string().max(128).nullish() }).optional())
    .subscription(async function* ({ ctx, input, signal }) {
      const cache = await kubeCache();
      const filter = filterFor(principalOf(ctx.session));
      const from = cursorOf(input?.lastEventId, filter);
      for await (const event of cache.stream(from, filter, signal ? { signal } : {})) {
        const out = listEvent(cache, event);
        if (out?.type === "snapshot") out.cursor = trackedId(out.cursor, filter);
        if (out) yield tracked(trackedId(event.id, filter), out);
      }
    }),

  /**
   * One sandbox, read as the user (RBAC decides: FORBIDDEN or NOT_FOUND
   * with the API server's message), with its template and the policy in
   * force by name (never a secret value).
   */
  get: protectedProcedure.input(SandboxRef).query(async ({ ctx, input }) => {
    const apis = apisFor(ctx.session);
    const sandbox = strip(
      (await asTRPC(() =>
        apis.customObjects.getNamespacedCustomObject({ ...SANDBOXES, ...input }),
      )) as Sandbox,
    );
    // The team is the cache's to tell; a page that could read the sandbox need not wait for it.
    const cache = await kubeCache().catch(() => undefined);
    const readOther = async <T>(plural: typeof TEMPLATES | typeof POLICIES, name: string) => {
      try {
        return {
          name,
          object: (await apis.customObjects.getNamespacedCustomObject({
            ...plural,
            namespace: input.namespace,
            name,
          })) as T,
        };
      } catch (error) {
        const mapped = toTRPCError(error);
        return { name, error: mapped instanceof Error ? mapped.message : String(mapped) };
      }
    };
    const templateName = sandbox.spec.templateRef?.name;
    const template = templateName
      ? await readOther<SandboxTemplate>(TEMPLATES, templateName)
      : undefined;
    const templatePolicy =
      template && "object" in template ? template.object?.spec.network?.policyRef?.name : undefined;
    const policyName = sandbox.spec.network?.policyRef?.name ?? templatePolicy;
    const policy = policyName ? await readOther<SandboxPolicy>(POLICIES, policyName) : undefined;
    return {
      sandbox,
      team: cache?.teamOf(input.namespace) ?? input.namespace,
      template: template
        ? "object" in template && template.object
          ? {
              name: template.name,
              image: template.object.spec.image,
              command: template.object.spec.command ?? null,
              error: null,
            }
          : { name: template.name, image: null, command: null, error: template.error ?? null }
        : null,
      policy: policy
        ? {
            name: policy.name,
            from: sandbox.spec.network?.policyRef ? ("sandbox" as const) : ("template" as const),
            ...("object" in policy && policy.object
              ? {
                  mode: policy.object.spec.mode ?? "enforce",
                  allowedHosts: policy.object.spec.allowedHosts ?? [],
                  secrets: secretNames(policy.object.spec.secrets),
                  allowSandboxOverrides: policy.object.spec.allowSandboxOverrides ?? false,
                  error: null,
                }
              : {
                  mode: null,
                  allowedHosts: null,
                  secrets: null,
                  allowSandboxOverrides: null,
                  error: policy.error ?? null,
                }),
          }
        : null,
    };
  }),

  /**
   * Live changes of one sandbox: RBAC is asked first (an impersonated get),
   * then changes follow from the cache, tracked like the list's. Sends the
   * sandbox as it is now, or null once it is gone.
   */
  watchOne: protectedProcedure
    .input(SandboxRef.extend({ lastEventId: z.string().max(128).nullish() }))
    .subscription(async function* ({ ctx, input, signal }) {
      const apis = apisFor(ctx.session);
      await asTRPC(() =>
        apis.customObjects.getNamespacedCustomObject({
          ...SANDBOXES,
          namespace: input.namespace,
          name: input.name,
        }),
      );
      const cache = await kubeCache();
      const principal = principalOf(ctx.session);
      const filter: Filter = principal.admin
        ? { namespaces: [input.namespace] }
        : filterFor(principal);
      const from = cursorOf(input.lastEventId, filter);
      for await (const event of cache.stream(from, filter, signal ? { signal } : {})) {
        const id = trackedId(event.id, filter);
        if (event.type === "snapshot") {
          const sandbox = event.sandboxes.find(
            (s) => s.metadata.namespace === input.namespace && s.metadata.name === input.name,
          );
          yield tracked(id, { sandbox: sandbox ?? null, team: cache.teamOf(input.namespace) });
        } else if (
          event.kind === "Sandbox" &&
          event.namespace === input.namespace &&
          event.name === input.name
        ) {
          yield tracked(id, {
            sandbox: event.type === "deleted" ? null : event.object,
            team: event.team ?? input.namespace,
          });
        }
      }
    }),

  /** The sandbox's core/v1 Events, newest first, listed as the user. */
  events: protectedProcedure
    .input(SandboxRef.extend({ uid: uid.optional() }))
    .query(async ({ ctx, input }) => {
      const apis = apisFor(ctx.session);
      const fieldSelector = [
        "involvedObject.kind=Sandbox",
        `involvedObject.name=${input.name}`,
        ...(input.uid ? [`involvedObject.uid=${input.uid}`] : []),
      ].join(",");
      const list = await asTRPC(() =>
        apis.core.listNamespacedEvent({ namespace: input.namespace, fieldSelector, limit: 500 }),
      );
      const iso = (value: Date | string | undefined | null) =>
        value ? new Date(value).toISOString() : null;
      return list.items
        .map((event) => ({
          name: event.metadata?.name ?? "",
          type: event.type ?? "Normal",
          reason: event.reason ?? "",
          message: event.message ?? "",
          count: event.count ?? 1,
          first: iso(event.firstTimestamp ?? event.eventTime ?? event.metadata?.creationTimestamp),
          last: iso(
            event.lastTimestamp ??
              event.series?.lastObservedTime ??
              event.eventTime ??
              event.metadata?.creationTimestamp,
          ),
          source: event.reportingComponent || event.source?.component || "",
        }))
        .sort((a, b) => (b.last ?? "").localeCompare(a.last ?? ""))
        .slice(0, 100);
    }),

  /**
   * Namespaces the user may create sandboxes in, and for one of them the
   * templates and policies they may use (listed as the user).
   */
  formOptions: protectedProcedure
    .input(z.object({ namespace: namespaceName.optional() }))
    .query(async ({ ctx, input }) => {
      const cache = await kubeCache();
      const principal = principalOf(ctx.session);
      const namespaces = principal.admin
        ? cache
            .snapshot("all")
            .namespaces.map((ns) => ns.metadata?.name as string)
            .filter((ns) => !/^kube-/.test(ns))
        : cache.namespacesOf(principal.teams);
      if (!input.namespace) return { namespaces, templates: [], policies: [], error: null };
      const apis = apisFor(ctx.session);
      const list = async <T>(plural: typeof TEMPLATES | typeof POLICIES) =>
        (
          (await apis.customObjects.listNamespacedCustomObject({
            ...plural,
            namespace: input.namespace as string,
          })) as { items: T[] }
        ).items;
      try {
        const [templates, policies] = await Promise.all([
          list<SandboxTemplate>(TEMPLATES),
          list<SandboxPolicy>(POLICIES),
        ]);
        return {
          namespaces,
          templates: templates.map((t) => ({
            name: t.metadata.name as string,
            image: t.spec.image,
            routes: t.spec.ingress?.routes?.length ?? 0,
          })),
          policies: policies.map((p) => ({
            name: p.metadata.name as string,
            mode: p.spec.mode ?? "enforce",
          })),
          error: null,
        };
      } catch (error) {
        const mapped = toTRPCError(error);
        return {
          namespaces,
          templates: [],
          policies: [],
          error: mapped instanceof Error ? mapped.message : String(mapped),
        };
      }
    }),

  /**
   * Creates a Sandbox as the user. Only its shape is checked here: the API
   * server validates it (CRD schema and CEL rules), and its field errors
   * come back as BAD_REQUEST with `data.zodError.fieldErrors` keyed by the
   * API server's field path, e.g. `spec.ingress.routes[0].prefix`.
   */
  create: protectedProcedure.input(CreateSandbox).mutation(async ({ ctx, input }) => {
    const apis = apisFor(ctx.session);
    const body = {
      apiVersion: API_VERSION,
      kind: "Sandbox",
      metadata: {
        name: input.metadata.name,
        namespace: input.namespace,
        ...(input.metadata.labels ? { labels: input.metadata.labels } : {}),
      },
      spec: input.spec,
    };
    const created = (await asTRPC(
      () =>
        apis.customObjects.createNamespacedCustomObject({
          ...SANDBOXES,
          namespace: input.namespace,
          body,
        }),
      { conflictField: "metadata.name" },
    )) as Sandbox;
    return {
      namespace: input.namespace,
      name: created.metadata.name as string,
      uid: created.metadata.uid as string,
    };
  }),

  /** Suspends or resumes: spec.operatingMode, patched as the user. */
  setOperatingMode: protectedProcedure
    .input(SandboxRef.extend({ operatingMode: z.enum(["Running", "Suspended"]) }))
    .mutation(async ({ ctx, input }) => {
      const apis = apisFor(ctx.session);
      const patched = (await asTRPC(() =>
        apis.customObjects.patchNamespacedCustomObject(
          {
            ...SANDBOXES,
            namespace: input.namespace,
            name: input.name,
            body: { spec: { operatingMode: input.operatingMode } },
          },
          mergePatch,
        ),
      )) as Sandbox;
      return { operatingMode: patched.spec.operatingMode ?? "Running" };
    }),

  /**
   * Deletes a sandbox as the user. With `uid`, only that very object: a
   * sandbox made again under the same name since the page loaded is left alone.
   */
  delete: protectedProcedure
    .input(SandboxRef.extend({ uid: uid.optional() }))
    .mutation(async ({ ctx, input }) => {
      const apis = apisFor(ctx.session);
      await asTRPC(() =>
        apis.customObjects.deleteNamespacedCustomObject({
          ...SANDBOXES,
          namespace: input.namespace,
          name: input.name,
          ...(input.uid ? { body: { preconditions: { uid: input.uid } } } : {}),
        }),
      );
      return { deleted: true };
    }),
});
